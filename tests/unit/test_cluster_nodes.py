"""CLUSTER NODES and CLUSTER INFO output read into typed records."""

from __future__ import annotations

import pytest

from charms.layer.redis.cluster.nodes import (
    ClusterNodesError,
    SlotRange,
    health,
    myself,
    parse_cluster_nodes,
    parse_info,
    ranges_of,
)

A, B, C, D = ("a" * 40, "b" * 40, "c" * 40, "d" * 40)

SIX_NODES = f"""\
{D} 127.0.0.1:30004@40004,redis-3 slave {A} 0 1426238317239 4 connected
{B} 127.0.0.1:30002@40002,redis-1 master - 0 1426238316232 2 connected 5461-10922
{C} 127.0.0.1:30003@40003 master - 0 1426238318243 3 connected 10923-16383
{"e" * 40} 127.0.0.1:30005@40005 slave {B} 0 1426238316232 5 connected
{"f" * 40} 127.0.0.1:30006@40006 slave,fail {C} 1426238317741 1426238317741 6 disconnected
{A} 127.0.0.1:30001@40001,redis-0 myself,master - 0 0 1 connected 0-5459 5460 [5460->-{B}] [16000-<-{C}]
"""


def test_roles_addresses_and_slots():
    view = {node.node_id: node for node in parse_cluster_nodes(SIX_NODES)}
    me = view[A]
    assert me.is_myself and me.is_master and not me.is_replica
    assert not view[B].is_myself and not view[B].is_replica and not view[D].is_master
    assert (me.host, me.port, me.bus_port, me.hostname) == ("127.0.0.1", 30001, 40001, "redis-0")
    assert me.slots == (SlotRange(0, 5459), SlotRange(5460, 5460))
    assert me.slot_count == 5461
    assert view[D].is_replica and view[D].master_id == A
    assert view[B].master_id == "" and view[B].slot_count == 5462
    assert view[C].hostname == ""


def test_open_slots_appear_on_the_asked_nodes_line():
    me = myself(parse_cluster_nodes(SIX_NODES))
    assert me.migrating == ((5460, B),)
    assert me.importing == ((16000, C),)
    assert 16000 not in me.slot_set()


@pytest.mark.parametrize(
    ("flags", "link", "healthy"),
    [
        ("master", "connected", True),
        ("master", "disconnected", False),
        ("master,fail?", "connected", False),
        ("master,fail", "connected", False),
        ("handshake", "connected", False),
        ("master,noaddr", "connected", False),
        ("myself,master", "disconnected", True),
        ("slave,nofailover", "connected", True),
    ],
)
def test_health_follows_flags_and_link(flags, link, healthy):
    (node,) = parse_cluster_nodes(f"{A} 127.0.0.1:7000@17000 {flags} - 0 0 1 {link}")
    assert node.is_healthy is healthy


@pytest.mark.parametrize(
    ("flags", "link", "settling"),
    [
        ("master", "connected", False),
        ("master", "disconnected", True),
        ("slave,fail?", "connected", True),
        ("handshake", "connected", True),
        ("master,fail", "disconnected", False),
        ("master,fail?,fail", "disconnected", False),
        ("master,noaddr", "disconnected", False),
        ("myself,master", "disconnected", False),
    ],
)
def test_only_states_redis_ends_by_itself_are_settling(flags, link, settling):
    (node,) = parse_cluster_nodes(f"{A} 127.0.0.1:7000@17000 {flags} - 0 0 1 {link}")
    assert node.is_settling is settling


def test_a_node_without_address_and_an_ipv6_node():
    noaddr, ipv6 = parse_cluster_nodes(
        f"{A} :0@0 master,fail,noaddr - 1 1 3 disconnected\n{B} fd00::12:7000@17000 master - 0 0 2 connected 0-10"
    )
    assert (noaddr.host, noaddr.port) == ("", 0)
    assert (ipv6.host, ipv6.port, ipv6.slot_count) == ("fd00::12", 7000, 11)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        (f"{A} 127.0.0.1:7000@17000 master - 0 0", r"^CLUSTER NODES line 1 has 6 fields, at least 8 expected$"),
        ("xyz 127.0.0.1:7000@17000 master - 0 0 1 connected", "^CLUSTER NODES line 1: 'xyz' is not a node id$"),
        (f"{'x' * 40} 127.0.0.1:7000@17000 master - 0 0 1 connected", "line 1: 'xxxxxxxxxxxx' is not a node id$"),
        (f"{A} 127.0.0.1@17000 master - 0 0 1 connected", "not ip:port@cport"),
        (
            f"{A} 7000@17000 master - 0 0 1 connected",
            r"^CLUSTER NODES line 1: address '7000@17000' is not ip:port@cport$",
        ),
        (f"{A} 127.0.0.1:7000@17000 master,weird - 0 0 1 connected", "line 1: unknown flags \\['weird'\\]$"),
        (f"{A} 127.0.0.1:7000@17000 master - 0 0 one connected", "config epoch 'one'"),
        (
            f"{A} 127.0.0.1:7000@17000 master - 0 0 thirteen-char connected",
            "line 1: config epoch 'thirteen-cha' is not a number$",
        ),
        (f"{A} 127.0.0.1:7000@17000 master - 0 0 1 connected 5-x", "slot field '5-x'"),
        (f"{A} 127.0.0.1:7000@17000 master - 0 0 1 connected 16380-16384", "not ascending within 0-16383"),
        (f"{A} 127.0.0.1:7000@17000 master - 0 0 1 connected 9-3", "not ascending within 0-16383"),
    ],
)
def test_unreadable_output_is_refused_naming_the_line(text, complaint):
    with pytest.raises(ClusterNodesError, match=complaint):
        parse_cluster_nodes(text)


def test_a_view_without_myself_is_refused():
    with pytest.raises(ClusterNodesError, match=r"^CLUSTER NODES output has no 'myself' line$"):
        myself(parse_cluster_nodes(f"{A} 127.0.0.1:7000@17000 master - 0 0 1 connected"))


def test_cluster_info_fields():
    info = parse_info("cluster_state:ok\r\ncluster_slots_assigned:16384\r\n# comment:x\r\n")
    assert info == {"cluster_state": "ok", "cluster_slots_assigned": "16384"}


def test_ranges_of_joins_neighbours_only():
    assert ranges_of([5, 3, 4, 9, 10, 0]) == (SlotRange(0, 0), SlotRange(3, 5), SlotRange(9, 10))
    assert ranges_of([]) == ()


def test_health_counts_masters_with_slots_replicas_and_troubled_nodes():
    info = {"cluster_state": "fail", "cluster_slots_ok": "16000"}
    status = health(info, parse_cluster_nodes(SIX_NODES))
    assert not status.ok
    assert (
        status.message == "cluster fail: 3 masters, 3 replicas, 16000 of 16384 slots served, 1 failing or unreachable"
    )


def test_the_hostname_is_read_before_any_further_address_field():
    (node,) = parse_cluster_nodes(f"{A} 127.0.0.1:7000@17000,redis-0,shard-id={B} master - 0 0 1 connected")
    assert (node.host, node.port, node.bus_port, node.hostname) == ("127.0.0.1", 7000, 17000, "redis-0")


def test_a_node_redis_lists_with_noflags_is_read():
    (node,) = parse_cluster_nodes(f"{A} 127.0.0.1:7000@17000 noflags - 0 0 0 connected")
    assert node.flags == frozenset({"noflags"}) and not node.is_master and not node.is_replica


def test_a_backwards_slot_range_is_refused_saying_so():
    with pytest.raises(ClusterNodesError, match=r"^slot range 9-3 is not ascending within 0-16383$"):
        SlotRange(9, 3)


def test_slot_ranges_and_nodes_are_values_that_cannot_change_in_place():
    (node,) = parse_cluster_nodes(f"{A} 127.0.0.1:7000@17000 master - 0 0 1 connected 0-10")
    assert {SlotRange(0, 10), SlotRange(0, 10)} == {node.slots[0]}
    with pytest.raises(AttributeError):
        node.slots[0].end = 20  # type: ignore[misc]
    with pytest.raises(AttributeError):
        node.port = 7001  # type: ignore[misc]


def test_a_healthy_cluster_is_ok_and_says_so():
    view = parse_cluster_nodes(SIX_NODES.replace("slave,fail", "slave").replace("disconnected", "connected"))
    status = health({"cluster_state": "ok", "cluster_slots_ok": "16384"}, view)
    assert status.ok
    assert status.message == "cluster ok: 3 masters, 3 replicas, 16384 of 16384 slots served"
    with pytest.raises(AttributeError):
        status.state = "fail"  # type: ignore[misc]


@pytest.mark.parametrize(
    "info",
    [
        {"cluster_state": "ok", "cluster_slots_ok": "16383"},
        {"cluster_state": "fail", "cluster_slots_ok": "16384"},
        {"cluster_slots_ok": "16384"},
        {"cluster_state": "ok"},
    ],
)
def test_a_cluster_missing_a_slot_or_not_ok_is_not_ok(info):
    view = parse_cluster_nodes(f"{A} 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-16383")
    assert not health(info, view).ok


def test_a_cluster_with_a_failing_node_is_not_ok_even_with_every_slot_served():
    status = health({"cluster_state": "ok", "cluster_slots_ok": "16384"}, parse_cluster_nodes(SIX_NODES))
    assert not status.ok and status.troubled == 1


def test_what_cluster_info_leaves_out_reads_as_unknown_and_none_served():
    status = health({}, parse_cluster_nodes(f"{A} 127.0.0.1:7000@17000 myself,master - 0 0 1 connected"))
    assert status.message == "cluster unknown: 0 masters, 0 replicas, 0 of 16384 slots served"


def test_an_address_without_bus_port_and_long_fields_in_refusals():
    (node,) = parse_cluster_nodes(f"{A} 127.0.0.1:7000 master - 0 0 1 connected")
    assert (node.port, node.bus_port) == (7000, 0)
    long_field = "9" * 30 + "-x" * 10
    with pytest.raises(ClusterNodesError, match=rf"slot field '{long_field[:40]}' does not read$"):
        parse_cluster_nodes(f"{A} 127.0.0.1:7000@17000 master - 0 0 1 connected {long_field}")
    long_address = "h" * 70
    with pytest.raises(ClusterNodesError, match=rf"address '{long_address[:60]}' is not ip:port@cport$"):
        parse_cluster_nodes(f"{A} {long_address} master - 0 0 1 connected")
