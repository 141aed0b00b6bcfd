"""The cluster-status action's results: the cluster's health and each node under its unit's name."""

from __future__ import annotations

from charms.layer.redis import cluster_status
from charms.layer.redis.cluster.nodes import parse_cluster_nodes, parse_info
from charms.layer.redis.cluster.topology import Node, Role, Topology

A, B, C, D = ("a" * 40, "b" * 40, "c" * 40, "d" * 40)
NODES = f"""{A} 127.0.1.1:6379@16379 myself,master - 0 0 1 connected 0-5460
{B} 127.0.1.2:6379@16379 master - 0 0 2 connected 5461-10922
{C} 127.0.1.3:6379@16379 master - 0 0 3 connected 10923-16383
{D} 127.0.1.4:6379@16379 slave,fail {A} 0 0 1 disconnected
"""
INFO = "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\ncluster_known_nodes:4\r\n"
TOPOLOGY = Topology.of(
    [
        Node("redis/0", A, "127.0.1.1", 6379, Role.MASTER),
        Node("redis/1", B, "127.0.1.2", 6379, Role.MASTER),
        Node("redis/2", C, "127.0.1.3", 6379, Role.MASTER),
    ]
)


def test_the_report_gives_the_cluster_health_and_every_node_by_unit() -> None:
    report = cluster_status.report(parse_info(INFO), parse_cluster_nodes(NODES), TOPOLOGY)
    assert report["cluster-state"] == "ok"
    assert (report["masters"], report["replicas"]) == (3, 1)
    assert report["slots-covered"] == "16384 of 16384"
    assert report["nodes"]["redis-0"] == {
        "unit": "redis/0",
        "node-id": A,
        "address": "127.0.1.1:6379",
        "role": "master",
        "health": "ok",
        "slots": "0-5460",
        "slot-count": "5461",
    }
    assert report["nodes"]["redis-2"]["slots"] == "10923-16383"


def test_a_node_no_unit_owns_is_named_by_its_id_and_shows_its_trouble() -> None:
    report = cluster_status.report(parse_info(INFO), parse_cluster_nodes(NODES), TOPOLOGY)
    stray = report["nodes"]["node-dddddddd"]
    assert stray["unit"] == "unknown" and stray["role"] == "replica"
    assert stray["replica-of"] == "redis-0" and stray["health"] == "fail"


def test_without_a_shared_topology_every_node_is_named_by_its_id() -> None:
    report = cluster_status.report(parse_info(INFO), parse_cluster_nodes(NODES), None)
    assert sorted(report["nodes"]) == ["node-aaaaaaaa", "node-bbbbbbbb", "node-cccccccc", "node-dddddddd"]


def test_masters_come_first_then_by_address_and_a_master_shows_single_slots_and_no_slots() -> None:
    nodes = f"""{D} 127.0.1.4:6379@16379 slave {A} 0 0 1 connected
{C} 127.0.1.3:6380@16380 master - 0 0 3 connected
{B} 127.0.1.3:6379@16379 master - 0 0 2 connected 7 9-10
{A} 127.0.1.1:6379@16379 myself,master - 0 0 1 connected 0-6 8 11-16383
"""
    report = cluster_status.report(parse_info(INFO), parse_cluster_nodes(nodes), None)
    assert list(report["nodes"]) == ["node-aaaaaaaa", "node-bbbbbbbb", "node-cccccccc", "node-dddddddd"]
    assert report["nodes"]["node-bbbbbbbb"]["slots"] == "7,9-10"
    assert report["nodes"]["node-bbbbbbbb"]["slot-count"] == "3"
    assert (report["nodes"]["node-cccccccc"]["slots"], report["nodes"]["node-cccccccc"]["slot-count"]) == ("none", "0")
    assert report["masters"] == 2  # a master without slots serves nothing
    assert "slots" not in report["nodes"]["node-dddddddd"]


def test_a_cluster_that_lost_slots_says_how_many_are_covered_and_ok() -> None:
    info = "cluster_state:fail\r\ncluster_slots_assigned:10923\r\ncluster_slots_ok:5462\r\n"
    report = cluster_status.report(parse_info(info), parse_cluster_nodes(NODES), TOPOLOGY)
    assert (report["cluster-state"], report["slots-covered"], report["slots-ok"]) == ("fail", "10923 of 16384", "5462")
    empty = cluster_status.report({}, parse_cluster_nodes(NODES), TOPOLOGY)
    assert (empty["slots-covered"], empty["slots-ok"]) == ("0 of 16384", "0")


def test_a_node_in_handshake_with_no_role_yet_is_unknown_and_its_master_unlisted_is_shown_by_id() -> None:
    e = "e" * 40
    nodes = NODES + f"{e} 127.0.1.5:6379@16379 handshake,noaddr - 0 0 0 disconnected\n"
    nodes = nodes.replace(
        f"{C} 127.0.1.3:6379@16379 master - 0 0 3 connected", f"{C} 127.0.1.3:6379@16379 master,fail - 0 0 3 connected"
    )
    nodes = nodes.replace(f"slave,fail {A}", f"slave,fail?,nofailover {'f' * 40}")
    report = cluster_status.report(parse_info(INFO), parse_cluster_nodes(nodes), TOPOLOGY)
    joining = report["nodes"]["node-eeeeeeee"]
    assert (joining["role"], joining["health"]) == ("unknown", "handshake,noaddr")
    assert "slots" not in joining and "replica-of" not in joining
    replica = report["nodes"]["node-dddddddd"]
    assert (replica["replica-of"], replica["health"]) == ("f" * 40, "fail?,nofailover")
    assert report["nodes"]["redis-2"]["health"] == "fail"
