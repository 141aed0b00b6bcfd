"""Peers side of the `redis-peers` interface: each unit's address, known to the others.

charms.reactive's Endpoint gives the flags `endpoint.<name>.joined`,
`.changed`, `.changed.address` and `.departed`; this class adds publishing and
reading of the addresses. The charm does not call them yet: in this revision
every unit runs a standalone Redis and the peer relation carries no data. They
are here for Redis Cluster mode, which will need each unit's address.
"""

from __future__ import annotations

from charms.reactive import Endpoint


class RedisPeers(Endpoint):
    """The peer endpoint of the Redis charm."""

    def publish_address(self, address: str) -> None:
        """Tell every peer this unit's address."""
        for relation in self.relations:
            relation.to_publish_raw["address"] = address

    def peer_addresses(self) -> dict[str, str]:
        """The address each other unit published, by unit name."""
        addresses = {}
        for relation in self.relations:
            for unit in relation.joined_units:
                address = unit.received_raw.get("address")
                if address:
                    addresses[unit.unit_name] = address
        return addresses
