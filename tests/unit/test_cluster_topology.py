"""The cluster topology shared in leader settings: typed, consistent, compact, and strict when read."""

from __future__ import annotations

import base64
import os
import random
import zlib

import pytest

from charms.layer.redis.cluster.topology import Node, Role, Topology, TopologyError, decode, encode


def node_id() -> str:
    return os.urandom(20).hex()


def large_topology(units: int, replicas_per_master: int, seed: int = 9) -> Topology:
    """`units` units on scattered 10.x addresses (worst case for compression), every master with replicas."""
    chooser = random.Random(seed)
    nodes: list[Node] = []
    masters: list[Node] = []
    for number in range(units):
        address = f"127.{chooser.randint(0, 255)}.{chooser.randint(0, 255)}.{chooser.randint(1, 254)}"
        if number % (1 + replicas_per_master) == 0:
            node = Node(f"redis/{number}", node_id(), address, 6379, Role.MASTER)
            masters.append(node)
        else:
            node = Node(f"redis/{number}", node_id(), address, 6379, Role.REPLICA, masters[-1].node_id)
        nodes.append(node)
    return Topology.of(nodes)


def test_round_trip_keeps_every_field():
    topology = large_topology(12, 1)
    assert decode(encode(topology)) == topology


@pytest.mark.parametrize("replicas", [0, 1, 2])
def test_a_hundred_units_fit_in_4_kib(replicas):
    topology = large_topology(100, replicas)
    encoded = encode(topology)
    assert len(encoded.encode()) < 4096
    assert decode(encoded) == topology


def test_encoding_is_ascii_that_never_reads_as_json():
    encoded = encode(large_topology(6, 1))
    assert encoded.isascii() and encoded.startswith("v1:")
    assert not set(encoded) & set(" \\'\"\n")


def test_units_sort_by_number_not_text():
    nodes = [Node(f"redis/{n}", node_id(), "127.0.0.11", 6379, Role.MASTER) for n in (10, 2, 9)]
    assert [node.unit for node in Topology.of(nodes).nodes] == ["redis/2", "redis/9", "redis/10"]


def test_replica_of_a_missing_master_is_refused():
    orphan = Node("redis/1", node_id(), "127.0.0.12", 6379, Role.REPLICA, node_id())
    with pytest.raises(TopologyError, match=rf"^redis/1 replicates {orphan.master_id[:8]}…, which is no master here$"):
        Topology.of([orphan])


def test_the_same_node_id_on_two_units_is_refused():
    shared = node_id()
    with pytest.raises(TopologyError, match=rf"^node id {shared} appears twice$"):
        Topology.of([Node(f"redis/{n}", shared, "127.0.0.11", 6379, Role.MASTER) for n in (0, 1)])


def test_the_same_unit_twice_is_refused():
    with pytest.raises(TopologyError, match=r"^unit redis/0 appears twice$"):
        Topology.of([Node("redis/0", node_id(), "127.0.0.11", 6379, Role.MASTER) for _ in range(2)])


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"unit": "redis"}, "^unit name 'redis' is not application/number$"),
        ({"node_id": "abc"}, r"^redis/0: node id 'abc' is not 40 lowercase hex digits$"),
        ({"address": "example.com"}, r"^redis/0: address 'example.com' is not an IP address$"),
        ({"port": 0}, r"^redis/0: port 0 is not in 1\.\.65535$"),
        ({"port": 65536}, r"^redis/0: port 65536 is not in 1\.\.65535$"),
        ({"master_id": "f" * 40}, "^redis/0: a replica names its master and a master names none$"),
    ],
)
def test_bad_node_fields_are_refused(changes, complaint):
    fields = {"unit": "redis/0", "node_id": "a" * 40, "address": "127.0.0.11", "port": 6379, "role": Role.MASTER}
    with pytest.raises(TopologyError, match=complaint):
        Node(**{**fields, **changes})


@pytest.mark.parametrize("port", [1, 6379, 65535])
def test_every_tcp_port_is_a_node_port(port):
    assert Node("redis/0", "a" * 40, "127.0.0.11", port, Role.MASTER).port == port


def test_nodes_are_found_by_unit_and_by_id():
    topology = large_topology(4, 1)
    for node in topology.nodes:
        assert topology.by_unit[node.unit] is node and topology.by_id[node.node_id] is node


def test_moving_and_removing_units():
    topology = large_topology(6, 1)
    master = topology.by_unit["redis/0"]
    replica = topology.replicas_of(master.node_id)[0]
    other = topology.by_unit["redis/2"]
    moved = topology.moved(replica.unit, master_id=other.node_id)
    assert replica.unit in [node.unit for node in moved.replicas_of(other.node_id)]
    assert moved.replicas_of(master.node_id) == ()
    assert "redis/0" not in moved.without("redis/0").by_unit


def pack(raw: bytes) -> str:
    return "v1:" + base64.b85encode(zlib.compress(raw)).decode()


ONE_NODE = b"redis\0" + b"\x00" + b"\xaa" * 20 + b"\x04" + bytes([127, 0, 0, 11]) + b"\x18\xeb"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "^cluster topology has version ''; this charm reads v1$"),
        ("v2:abcd", "^cluster topology has version 'v2'; this charm reads v1$"),
        ("v1234567890123:x", "^cluster topology has version 'v12345678901'; this charm reads v1$"),
        ('{"redis/0": "x"}', "version"),
        ("v1:not base85 because of spaces", "^cluster topology is not readable: ValueError$"),
        ("v1:" + base64.b85encode(b"not zlib").decode(), "^cluster topology is not readable: error$"),
        (
            "v1:" + base64.b85encode(zlib.compress(b"x" * 40)[:-4]).decode(),
            "^cluster topology is truncated or too large$",
        ),
        (pack(b"no application name"), "^cluster topology has no application name$"),
        (pack(ONE_NODE[:-3]), r"^cluster topology ends in the middle of a record \(byte 28\)$"),
        (
            pack(ONE_NODE.replace(b"\x04\x7f", b"\x05\x7f") + b"\x00"),
            "^redis/0: address of 5 bytes is neither IPv4 nor IPv6$",
        ),
        (pack(ONE_NODE + b"\x07"), "^redis/0 replicates node 7 of a topology of 1$"),
        (pack(ONE_NODE + b"\x01"), "^redis/0 replicates aaaaaaaa…, which is no master here$"),
        (
            pack(b"redis\0\x00" + b"\xaa" * 20 + b"\x04" + bytes(4) + b"\x00\x00\x00"),
            r"^redis/0: port 0 is not in 1\.\.65535$",
        ),
        (pack(b"redis\0" + b"\xff" * 6), "^cluster topology has a number too large to be a unit or position$"),
    ],
)
def test_garbage_is_refused_with_a_reason(text, complaint):
    with pytest.raises(TopologyError, match=complaint):
        decode(text)


def test_a_decompression_bomb_is_refused():
    bomb = "v1:" + base64.b85encode(zlib.compress(b"a" * (4 << 20))).decode()
    with pytest.raises(TopologyError, match=r"^cluster topology is truncated or too large$"):
        decode(bomb)


def test_a_topology_inflating_past_one_mib_is_refused():
    just_over = "v1:" + base64.b85encode(zlib.compress(b"a" * ((1 << 20) + 1))).decode()
    with pytest.raises(TopologyError, match="truncated or too large"):
        decode(just_over)


def test_nodes_and_topologies_are_values_that_cannot_change_in_place():
    topology = large_topology(3, 0)
    with pytest.raises(AttributeError):
        topology.nodes[0].port = 7000  # type: ignore[misc]
    with pytest.raises(AttributeError):
        topology.nodes = ()  # type: ignore[misc]
    assert topology.moved("redis/1", port=7000) != topology


def test_an_empty_topology_round_trips():
    assert Topology().nodes == () and decode(encode(Topology())) == Topology()


def test_units_of_two_applications_are_not_one_topology():
    two = Topology.of([Node(f"{app}/0", node_id(), "127.0.0.11", 6379, Role.MASTER) for app in ("redis", "cache")])
    with pytest.raises(TopologyError, match=r"^one application per topology, not \['cache', 'redis'\]$"):
        encode(two)


@pytest.mark.parametrize("number", [127, 128, 300, 16383, 16384, 2**21, 2**28 + 5])
def test_unit_numbers_of_every_size_round_trip(number):
    topology = Topology.of([Node(f"redis/{number}", node_id(), "127.0.0.11", 6379, Role.MASTER)])
    assert decode(encode(topology)) == topology


def test_an_application_name_that_is_not_utf8_is_refused_as_a_unit_name():
    with pytest.raises(TopologyError, match=r"is not application/number$"):
        decode(pack(ONE_NODE.replace(b"redis", b"re\xffis") + b"\x00"))


def test_a_valid_record_decodes():
    (node,) = decode(pack(ONE_NODE + b"\x00")).nodes
    assert (node.unit, node.address, node.port, node.role) == ("redis/0", "127.0.0.11", 6379, Role.MASTER)


def test_ipv6_addresses_round_trip():
    topology = Topology.of([Node("redis/3", node_id(), "fd42::1:2", 7000, Role.MASTER)])
    assert decode(encode(topology)) == topology
