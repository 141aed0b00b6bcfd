"""CLUSTER NODES and CLUSTER INFO output, parsed into typed records.

A line reads `<id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent>
<pong-recv> <config-epoch> <link-state> <slot> ...`, where a slot is `n`,
`a-b`, and, on the `myself` line only, `[n->-<id>]` (migrating to) or
`[n-<-<id>]` (importing from). So open slots are seen only by asking each node
about itself; CLUSTER SHARDS does not show them at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SLOTS = 16384
KNOWN_FLAGS = frozenset({"myself", "master", "slave", "fail?", "fail", "handshake", "noaddr", "nofailover", "noflags"})
OPEN_SLOT = re.compile(r"^\[(\d+)-([<>])-([0-9a-f]{40})\]$")
RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


class ClusterNodesError(ValueError):
    """CLUSTER NODES output that does not read as Redis writes it."""


@dataclass(frozen=True)
class SlotRange:
    """Slots start..end, both included."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end < SLOTS:
            raise ClusterNodesError(f"slot range {self.start}-{self.end} is not ascending within 0-{SLOTS - 1}")

    def __len__(self) -> int:
        return self.end - self.start + 1

    def slots(self) -> range:
        return range(self.start, self.end + 1)


@dataclass(frozen=True)
class ClusterNode:
    """One line of CLUSTER NODES: a node as seen by the node that was asked."""

    node_id: str
    host: str
    port: int
    bus_port: int
    hostname: str
    flags: frozenset[str]
    master_id: str
    config_epoch: int
    link_state: str
    slots: tuple[SlotRange, ...] = ()
    migrating: tuple[tuple[int, str], ...] = ()
    importing: tuple[tuple[int, str], ...] = ()

    @property
    def is_myself(self) -> bool:
        return "myself" in self.flags

    @property
    def is_master(self) -> bool:
        return "master" in self.flags

    @property
    def is_replica(self) -> bool:
        return "slave" in self.flags

    @property
    def is_healthy(self) -> bool:
        """Reachable and agreed on: no failure, no handshake, an address, a connected link."""
        troubled = self.flags & {"fail", "fail?", "handshake", "noaddr"}
        return not troubled and (self.is_myself or self.link_state == "connected")

    @property
    def is_settling(self) -> bool:
        """In a state Redis itself ends within about the node timeout, one way or the other.

        A link dropped because the node's announced address or port changed (Redis
        frees the link and connects again on its next cron, 100 ms later), a failure
        only suspected (`fail?`: the other masters confirm it as `fail` or it clears),
        a handshake under way. A node marked `fail` has settled: it is down.
        """
        if "fail" in self.flags or "noaddr" in self.flags:
            return False
        link_down = not self.is_myself and self.link_state != "connected"
        return link_down or bool(self.flags & {"fail?", "handshake"})

    @property
    def slot_count(self) -> int:
        return sum(len(slot_range) for slot_range in self.slots)

    def slot_set(self) -> set[int]:
        return {slot for slot_range in self.slots for slot in slot_range.slots()}


def parse_cluster_nodes(text: str) -> tuple[ClusterNode, ...]:
    """Every node in CLUSTER NODES output; raises ClusterNodesError naming the line that does not read."""
    return tuple(_parse_line(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip())


def _parse_line(number: int, line: str) -> ClusterNode:
    parts = line.split()
    if len(parts) < 8:
        raise ClusterNodesError(f"CLUSTER NODES line {number} has {len(parts)} fields, at least 8 expected")
    node_id, address, flags, master, _ping, _pong, epoch, link, *slot_fields = parts
    if not re.fullmatch(r"[0-9a-f]{40}", node_id):
        raise ClusterNodesError(f"CLUSTER NODES line {number}: {node_id[:12]!r} is not a node id")
    host, port, bus_port, hostname = _parse_address(number, address)
    flag_set = frozenset(flags.split(","))
    if not flag_set <= KNOWN_FLAGS:
        raise ClusterNodesError(f"CLUSTER NODES line {number}: unknown flags {sorted(flag_set - KNOWN_FLAGS)}")
    if not epoch.isdigit():
        raise ClusterNodesError(f"CLUSTER NODES line {number}: config epoch {epoch[:12]!r} is not a number")
    slots, migrating, importing = _parse_slots(number, slot_fields)
    return ClusterNode(
        node_id=node_id,
        host=host,
        port=port,
        bus_port=bus_port,
        hostname=hostname,
        flags=flag_set,
        master_id="" if master == "-" else master,
        config_epoch=int(epoch),
        link_state=link,
        slots=slots,
        migrating=migrating,
        importing=importing,
    )


def _parse_address(number: int, address: str) -> tuple[str, int, int, str]:
    endpoint, _, extra = address.partition(",")
    hostname = extra.split(",", 1)[0]
    host_port, separator, bus = endpoint.partition("@")
    host, colon, port = host_port.rpartition(":")
    if not colon or not port.isdigit() or (separator and not bus.isdigit()):
        raise ClusterNodesError(f"CLUSTER NODES line {number}: address {address[:60]!r} is not ip:port@cport")
    return host, int(port), int(bus or 0), hostname


def _parse_slots(
    number: int, fields: list[str]
) -> tuple[tuple[SlotRange, ...], tuple[tuple[int, str], ...], tuple[tuple[int, str], ...]]:
    ranges: list[SlotRange] = []
    migrating: list[tuple[int, str]] = []
    importing: list[tuple[int, str]] = []
    for field in fields:
        if opened := OPEN_SLOT.match(field):
            slot, direction, peer = int(opened[1]), opened[2], opened[3]
            (migrating if direction == ">" else importing).append((slot, peer))
        elif bounds := RANGE.match(field):
            start = int(bounds[1])
            ranges.append(SlotRange(start, int(bounds[2]) if bounds[2] else start))
        else:
            raise ClusterNodesError(f"CLUSTER NODES line {number}: slot field {field[:40]!r} does not read")
    return tuple(ranges), tuple(migrating), tuple(importing)


@dataclass(frozen=True)
class ClusterHealth:
    """What update-status says about the cluster, from one node's CLUSTER INFO and CLUSTER NODES."""

    state: str
    masters: int
    replicas: int
    slots_ok: int
    troubled: int

    @property
    def ok(self) -> bool:
        return self.state == "ok" and self.slots_ok == SLOTS and not self.troubled

    @property
    def message(self) -> str:
        trouble = f", {self.troubled} failing or unreachable" if self.troubled else ""
        return (
            f"cluster {self.state}: {self.masters} masters, {self.replicas} replicas, "
            f"{self.slots_ok} of {SLOTS} slots served{trouble}"
        )


def health(info: Mapping[str, str], view: Iterable[ClusterNode]) -> ClusterHealth:
    nodes = list(view)
    return ClusterHealth(
        state=info.get("cluster_state", "unknown"),
        masters=sum(1 for node in nodes if node.is_master and node.slots),
        replicas=sum(1 for node in nodes if node.is_replica),
        slots_ok=int(info.get("cluster_slots_ok", "0")),
        troubled=sum(1 for node in nodes if not node.is_healthy),
    )


def myself(view: Iterable[ClusterNode]) -> ClusterNode:
    """The asked node's own line."""
    for node in view:
        if node.is_myself:
            return node
    raise ClusterNodesError("CLUSTER NODES output has no 'myself' line")


def parse_info(text: str) -> Mapping[str, str]:
    """CLUSTER INFO (or INFO) as field → value."""
    fields = {}
    for line in text.splitlines():
        name, separator, value = line.strip().partition(":")
        if separator and not name.startswith("#"):
            fields[name] = value
    return fields


def ranges_of(slots: Iterable[int]) -> tuple[SlotRange, ...]:
    """The fewest ranges covering these slots exactly."""
    ordered = sorted(set(slots))
    ranges: list[SlotRange] = []
    for slot in ordered:
        if ranges and ranges[-1].end == slot - 1:
            ranges[-1] = SlotRange(ranges[-1].start, slot)
        else:
            ranges.append(SlotRange(slot, slot))
    return tuple(ranges)
