"""Peers side of the `redis-peers` interface: each unit's address, port and cluster node id.

charms.reactive's Endpoint gives the flags `endpoint.<name>.joined`,
`.changed`, `.changed.<field>` and `.departed`; this class adds publishing and
reading of what each unit tells the others. A unit publishes its node id once
its Redis runs in cluster mode: that is what "ready" means for the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

from charms.reactive import Endpoint


@dataclass(frozen=True)
class PeerUnit:
    """What another unit published: where its Redis listens and its cluster node id ("" if none yet)."""

    unit: str
    address: str
    port: int
    node_id: str
    # Its node speaks TLS on the cluster bus and at `port` (the cluster formed, or will form, with TLS).
    tls: bool


class RedisPeers(Endpoint):
    """The peer endpoint of the Redis charm."""

    def publish_address(self, address: str) -> None:
        """Tell every peer this unit's address."""
        for relation in self.relations:
            relation.to_publish_raw["address"] = address

    def publish_node(self, address: str, port: int, node_id: str, tls: bool = False) -> None:
        """Tell every peer where this unit's cluster node listens, its id, and whether it speaks TLS there."""
        for relation in self.relations:
            relation.to_publish_raw.update({"address": address, "port": str(port), "node-id": node_id})
            if tls or "tls" in relation.to_publish_raw:
                relation.to_publish_raw["tls"] = str(tls).lower()

    def peer_addresses(self) -> dict[str, str]:
        """The address each other unit published, by unit name."""
        return {peer.unit: peer.address for peer in self.peer_units()}

    def peer_units(self) -> list[PeerUnit]:
        """Every other unit that published an address."""
        found = []
        for relation in self.relations:
            for unit in relation.joined_units:
                data = unit.received_raw
                address, port = data.get("address"), data.get("port", "")
                if address:
                    number = int(port) if port.isdigit() else 0
                    tls = data.get("tls") == "true"
                    found.append(PeerUnit(unit.unit_name, address, number, data.get("node-id", ""), tls))
        return found
