"""Who is which cluster node: the map unit → node id, address, role, master.

The leader shares it with `leader_set` so that any later leader resumes from
it. Its encoding is versioned and compact: about 30 bytes a node before base85,
so 100 units fit under 4 KiB even on scattered IPv4 addresses.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import struct
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import Enum

ENCODING_VERSION = "v1"
NODE_ID_PATTERN = re.compile(r"^[0-9a-f]{40}$")
UNIT_PATTERN = re.compile(r"^[a-z][a-z0-9-]*/[0-9]+$")
# Far more than 100 units need; it bounds what a hostile value can make us inflate.
MAX_DECODED_BYTES = 1 << 20


class TopologyError(ValueError):
    """A topology (or its encoding) is not one this charm can use."""


class Role(Enum):
    MASTER = "m"
    REPLICA = "r"


@dataclass(frozen=True)
class Node:
    """One unit's Redis Cluster node, as the cluster knows it."""

    unit: str
    node_id: str
    address: str
    port: int
    role: Role
    master_id: str = ""

    def __post_init__(self) -> None:
        if not UNIT_PATTERN.match(self.unit):
            raise TopologyError(f"unit name {self.unit!r} is not application/number")
        if not NODE_ID_PATTERN.match(self.node_id):
            raise TopologyError(f"{self.unit}: node id {self.node_id!r} is not 40 lowercase hex digits")
        try:
            ipaddress.ip_address(self.address)
        except ValueError:
            raise TopologyError(f"{self.unit}: address {self.address!r} is not an IP address") from None
        if not 1 <= self.port <= 65535:
            raise TopologyError(f"{self.unit}: port {self.port} is not in 1..65535")
        if (self.role is Role.REPLICA) != bool(self.master_id):
            raise TopologyError(f"{self.unit}: a replica names its master and a master names none")

    @property
    def is_master(self) -> bool:
        return self.role is Role.MASTER


def unit_number(unit: str) -> int:
    return int(unit.rsplit("/", 1)[1])


def unit_order(unit: str) -> tuple[str, int]:
    """Sort key putting redis/9 before redis/10."""
    application, number = unit.rsplit("/", 1)
    return application, int(number)


@dataclass(frozen=True)
class Topology:
    """Every node of the cluster by unit, checked for consistency when built."""

    nodes: tuple[Node, ...] = ()

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.nodes, key=lambda node: unit_order(node.unit)))
        object.__setattr__(self, "nodes", ordered)
        _check_unique("unit", [node.unit for node in ordered])
        _check_unique("node id", [node.node_id for node in ordered])
        masters = {node.node_id for node in ordered if node.is_master}
        for node in ordered:
            if not node.is_master and node.master_id not in masters:
                raise TopologyError(f"{node.unit} replicates {node.master_id[:8]}…, which is no master here")

    @classmethod
    def of(cls, nodes: Iterable[Node]) -> Topology:
        return cls(tuple(nodes))

    @property
    def by_unit(self) -> Mapping[str, Node]:
        return {node.unit: node for node in self.nodes}

    @property
    def by_id(self) -> Mapping[str, Node]:
        return {node.node_id: node for node in self.nodes}

    @property
    def masters(self) -> tuple[Node, ...]:
        return tuple(node for node in self.nodes if node.is_master)

    def replicas_of(self, master_id: str) -> tuple[Node, ...]:
        return tuple(node for node in self.nodes if node.master_id == master_id)

    def with_node(self, node: Node) -> Topology:
        """This topology with `node` added, or replacing the unit's previous node."""
        return Topology((*(other for other in self.nodes if other.unit != node.unit), node))

    def without(self, unit: str) -> Topology:
        """This topology less `unit`; its replicas must have been given another master first."""
        return Topology(tuple(node for node in self.nodes if node.unit != unit))

    def moved(self, unit: str, **changes: object) -> Topology:
        return self.with_node(replace(self.by_unit[unit], **changes))  # type: ignore[arg-type]


def _check_unique(what: str, values: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise TopologyError(f"{what} {value} appears twice")
        seen.add(value)


def encode(topology: Topology) -> str:
    """A short ASCII string for leader settings: the version, then zlib-packed records in base85.

    Binary records keep it small: the application's name once, then per node its
    unit number, the 20 bytes of its id, its address and port, and its master's
    position (0 for a master).
    """
    applications = {node.unit.rsplit("/", 1)[0] for node in topology.nodes}
    if len(applications) > 1:
        raise TopologyError(f"one application per topology, not {sorted(applications)}")
    position = {node.node_id: index for index, node in enumerate(topology.nodes, 1)}
    packed = bytearray(applications.pop().encode() if applications else b"")
    packed.append(0)
    for node in topology.nodes:
        address = ipaddress.ip_address(node.address).packed
        packed += _varint(unit_number(node.unit)) + bytes.fromhex(node.node_id)
        packed += bytes([len(address)]) + address + struct.pack(">H", node.port)
        packed += _varint(position[node.master_id] if node.master_id else 0)
    return f"{ENCODING_VERSION}:{base64.b85encode(zlib.compress(bytes(packed), 9)).decode()}"


def decode(text: str) -> Topology:
    """The topology `encode` wrote; raises TopologyError saying what is wrong with anything else."""
    version, separator, body = text.strip().partition(":")
    if not separator or version != ENCODING_VERSION:
        raise TopologyError(f"cluster topology has version {version[:12]!r}; this charm reads {ENCODING_VERSION}")
    try:
        inflater = zlib.decompressobj()
        packed = inflater.decompress(base64.b85decode(body), MAX_DECODED_BYTES)
    except (ValueError, zlib.error) as error:
        raise TopologyError(f"cluster topology is not readable: {type(error).__name__}") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise TopologyError("cluster topology is truncated or too large")
    return _records(_Reader(packed))


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, count: int) -> bytes:
        if self.at + count > len(self.data):
            raise TopologyError(f"cluster topology ends in the middle of a record (byte {self.at})")
        self.at += count
        return self.data[self.at - count : self.at]

    def varint(self) -> int:
        value, shift = 0, 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7
            if shift > 28:
                raise TopologyError("cluster topology has a number too large to be a unit or position")


def _records(reader: _Reader) -> Topology:
    name_end = reader.data.find(b"\0")
    if name_end < 0:
        raise TopologyError("cluster topology has no application name")
    application = reader.take(name_end).decode(errors="replace")
    reader.take(1)
    records = []
    while reader.at < len(reader.data):
        unit = f"{application}/{reader.varint()}"
        node_id = reader.take(20).hex()
        size = reader.take(1)[0]
        if size not in (4, 16):
            raise TopologyError(f"{unit}: address of {size} bytes is neither IPv4 nor IPv6")
        address = str(ipaddress.ip_address(reader.take(size)))
        (port,) = struct.unpack(">H", reader.take(2))
        records.append((unit, node_id, address, port, reader.varint()))
    nodes = []
    for unit, node_id, address, port, master in records:
        if master > len(records):
            raise TopologyError(f"{unit} replicates node {master} of a topology of {len(records)}")
        role = Role.REPLICA if master else Role.MASTER
        nodes.append(Node(unit, node_id, address, port, role, records[master - 1][1] if master else ""))
    return Topology(tuple(nodes))


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)
