"""Redis Cluster across the units on the local model: formed, grown, shrunk, with a client throughout.

One model for the module, tests in file order: each leaves a settled cluster
for the next. Clients are redis-py's RedisCluster from the host, started from
the units' addresses (127.x loopback).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import jubilant
import pytest
import redis
from cluster_client import Traffic, cluster_settled, missing_keys, write_keys
from helpers import APP, CHARM, ensure_built, in_unit, leader, password, unit_status_is, units, wait_idle
from redis.cluster import ClusterNode, RedisCluster

from charms.layer.redis.cluster.nodes import parse_cluster_nodes
from charms.layer.redis.cluster.topology import Role, decode

from conftest import CHARMS, LOCALJUJU

pytestmark = pytest.mark.integration

SLOTS = 16384
KEYS = 5000
CLIENT = "redis-client"


@pytest.fixture(scope="module")
def juju() -> Iterator[jubilant.Juju]:
    ensure_built()
    juju = jubilant.Juju(cli_binary=LOCALJUJU, wait_timeout=300)
    name = f"cluster-{secrets.token_hex(4)}"
    juju.add_model(name)
    try:
        juju.deploy(CHARM, APP, num_units=3, config={"cluster-enabled": True})
        yield juju
    finally:
        juju.destroy_model(name, destroy_storage=True, force=True)


def wait_cluster(juju: jubilant.Juju, count: int) -> jubilant.Status:
    return juju.wait(lambda status: len(status.apps[APP].units) == count and cluster_settled(status), delay=0.5)


def node(juju: jubilant.Juju, unit: str) -> redis.Redis:
    status = units(juju)[unit]
    port = int(status.open_ports[0].split("/")[0])
    return redis.Redis(host=status.public_address, port=port, password=password(juju), decode_responses=True)


def cluster_client(juju: jubilant.Juju) -> RedisCluster:
    starts = [ClusterNode(unit.public_address, 6379) for unit in units(juju).values()]
    return RedisCluster(startup_nodes=starts, password=password(juju), decode_responses=True, socket_timeout=10)


def shared_topology(juju: jubilant.Juju):
    return decode(juju.exec("leader-get cluster-topology", unit=leader(juju)).stdout.strip())


def slot_counts(juju: jubilant.Juju) -> dict[str, int]:
    """Slots each master serves, as the leader's node sees them."""
    view = parse_cluster_nodes(node(juju, leader(juju)).execute_command("CLUSTER", "NODES"))
    return {entry.node_id: entry.slot_count for entry in view if entry.is_master}


def assert_healthy(juju: jubilant.Juju) -> None:
    """Every unit's node: cluster_state ok, all slots served, no node failing, in handshake or without address."""
    for unit in units(juju):
        conn = node(juju, unit)
        info = conn.execute_command("CLUSTER", "INFO")
        assert "cluster_state:ok" in info and f"cluster_slots_ok:{SLOTS}" in info, unit
        for line in conn.execute_command("CLUSTER", "NODES").splitlines():
            flags = set(line.split()[2].split(","))
            assert not flags & {"fail", "fail?", "handshake", "noaddr"}, f"{unit} sees {line}"


def test_three_units_form_a_cluster_with_the_topology_shared(juju: jubilant.Juju) -> None:
    wait_cluster(juju, 3)
    assert_healthy(juju)
    topology = shared_topology(juju)
    assert sorted(topology.by_unit) == sorted(units(juju))
    assert [node.role for node in topology.nodes] == [Role.MASTER] * 3
    assert sorted(slot_counts(juju).values()) == [5461, 5461, 5462]
    for unit, status in units(juju).items():
        assert {"6379/tcp", "16379/tcp"} <= set(status.open_ports), unit
        assert "3 masters, 0 replicas, 16384 of 16384 slots served" in status.workload_status.message
    # AUTH is on: the cluster refuses a client without the password.
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=units(juju)[leader(juju)].public_address, port=6379).ping()
    client = cluster_client(juju)
    client.set("round-trip", "through the cluster")
    assert client.get("round-trip") == "through the cluster"


def test_a_related_client_is_told_it_is_a_cluster(juju: jubilant.Juju) -> None:
    juju.deploy(CHARMS / "redis-client", CLIENT)
    juju.integrate(APP, CLIENT)
    juju.wait(lambda status: jubilant.all_active(status, CLIENT) and jubilant.all_agents_idle(status))
    message = juju.status().apps[CLIENT].units[f"{CLIENT}/0"].workload_status.message
    nodes = sorted(f"{unit.public_address}:6379" for unit in units(juju).values())
    assert message.startswith("connected to the cluster at ")
    assert sorted(message.split("(nodes ")[1].rstrip(")").split(",")) == nodes
    (relation,) = [r for r in juju.show_unit(f"{CLIENT}/0").relation_info if r.endpoint == "redis"]
    assert all(data.data["cluster"] == "true" for data in relation.related_units.values())
    # The client wrote its key through the cluster (redis-cli -c follows the redirection).
    assert cluster_client(juju).get("localjuju-check") == f"{CLIENT}/0"
    juju.remove_application(CLIENT)
    wait_idle(juju, lambda status: CLIENT not in status.apps)


def node_ids(juju: jubilant.Juju) -> dict[str, str]:
    return {unit: node(juju, unit).execute_command("CLUSTER", "MYID") for unit in units(juju)}


def test_restarting_each_node_keeps_its_id_and_keys(juju: jubilant.Juju) -> None:
    client = cluster_client(juju)
    keys = write_keys(client, "restart", KEYS)
    before = node_ids(juju)
    for unit in sorted(units(juju)):
        in_unit(juju, unit, "systemctl restart redis-server")
        juju.wait(lambda status, unit=unit: "16384 of 16384" in str(node_health(juju, unit)), delay=0.5)
    assert node_ids(juju) == before
    assert missing_keys(cluster_client(juju), keys) == []


def node_health(juju: jubilant.Juju, unit: str) -> str:
    """The unit's node's CLUSTER INFO summary, or the error that stopped asking."""
    try:
        info = node(juju, unit).execute_command("CLUSTER", "INFO")
    except redis.RedisError as error:
        return f"no answer: {error}"
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    return "ok 16384 of 16384" if fields["cluster_state"] == "ok" and fields["cluster_slots_ok"] == "16384" else info


def test_a_port_change_is_refused_in_cluster_mode(juju: jubilant.Juju) -> None:
    juju.config(APP, {"port": 6390})
    expected = "invalid port: is fixed at 6379 once the unit is in a Redis Cluster; set it back"
    for unit in units(juju):
        juju.wait(unit_status_is(unit, "blocked", expected), delay=0.5)
    assert all({"6379/tcp", "16379/tcp"} <= set(status.open_ports) for status in units(juju).values())
    assert cluster_client(juju).ping()
    juju.config(APP, reset="port")
    wait_cluster(juju, 3)


def assert_balanced(juju: jubilant.Juju) -> None:
    counts = slot_counts(juju)
    fair = SLOTS / len(counts)
    assert all(abs(count - fair) <= 0.1 * fair for count in counts.values()), counts
    assert sum(counts.values()) == SLOTS


def test_added_units_take_their_share_while_a_client_works(juju: jubilant.Juju) -> None:
    client = cluster_client(juju)
    keys = write_keys(client, "before-growth", KEYS)
    with Traffic(cluster_client(juju), "growing") as traffic:
        juju.add_unit(APP, num_units=3)
        wait_cluster(juju, 6)
    assert_healthy(juju)
    assert_balanced(juju)
    assert len(slot_counts(juju)) == 6
    assert sorted(shared_topology(juju).by_unit) == sorted(units(juju))
    assert missing_keys(client, keys + traffic.written) == []
    assert traffic.errors == []
    assert len(traffic.written) > 0


def test_removed_units_hand_over_their_keys_leader_included(juju: jubilant.Juju) -> None:
    client = cluster_client(juju)
    keys = write_keys(client, "before-shrink", KEYS)
    first = leader(juju)
    others = [unit for unit in sorted(units(juju)) if unit != first][:2]
    with Traffic(cluster_client(juju), "shrinking") as traffic:
        juju.remove_unit(first, *others)
        wait_cluster(juju, 3)
    assert_healthy(juju)
    assert_balanced(juju)
    remaining = units(juju)
    assert first not in remaining and not set(others) & set(remaining)
    assert len(slot_counts(juju)) == 3
    assert sorted(shared_topology(juju).by_unit) == sorted(remaining)
    fresh = cluster_client(juju)
    assert missing_keys(fresh, keys + traffic.written) == []
    assert traffic.errors == []


def test_leadership_moved_in_the_middle_of_a_rebalance_completes_it(juju: jubilant.Juju) -> None:
    client = cluster_client(juju)
    keys = write_keys(client, "failover-of-leadership", KEYS)
    first = leader(juju)
    successor = next(unit for unit in sorted(units(juju)) if unit != first)
    juju.add_unit(APP)
    # The move may last only a few polls: one sighting is enough (jubilant waits for 3 by default).
    juju.wait(unit_status_is(first, "maintenance", "moving slots"), delay=0.2, successes=1)
    juju.cli("local-move-leader", successor)
    wait_cluster(juju, 4)
    assert leader(juju) == successor
    assert_healthy(juju)
    assert_balanced(juju)
    assert sorted(shared_topology(juju).by_unit) == sorted(units(juju))
    assert missing_keys(cluster_client(juju), keys) == []


def test_a_new_password_reaches_every_node(juju: jubilant.Juju) -> None:
    keys = write_keys(cluster_client(juju), "password", KEYS // 5)
    count = len(units(juju))
    juju.config(APP, {"password": "a-new-cluster-password"})
    wait_cluster(juju, count)
    for unit in units(juju):
        conn = node(juju, unit)
        assert conn.config_get("requirepass")["requirepass"] == "a-new-cluster-password"
        assert conn.config_get("masterauth")["masterauth"] == "a-new-cluster-password"
    assert missing_keys(cluster_client(juju), keys) == []


@pytest.fixture
def replicated() -> Iterator[jubilant.Juju]:
    """A model of its own: six units with one replica a master."""
    ensure_built()
    juju = jubilant.Juju(cli_binary=LOCALJUJU, wait_timeout=400)
    name = f"replicas-{secrets.token_hex(4)}"
    juju.add_model(name)
    try:
        juju.deploy(CHARM, APP, num_units=6, config={"cluster-enabled": True, "cluster-replicas": 1})
        yield juju
    finally:
        juju.destroy_model(name, destroy_storage=True, force=True)


def test_replicas_on_other_units_take_over_a_failed_master(replicated: jubilant.Juju) -> None:
    juju = replicated
    wait_cluster(juju, 6)
    assert_healthy(juju)
    topology = shared_topology(juju)
    masters = topology.masters
    assert len(masters) == 3
    for master in masters:
        (replica,) = topology.replicas_of(master.node_id)
        assert replica.unit != master.unit and replica.address != master.address
    client = cluster_client(juju)
    keys = write_keys(client, "failover", KEYS)
    failed = masters[0]
    (heir,) = topology.replicas_of(failed.node_id)
    heir_node, failed_node = node(juju, heir.unit), node(juju, failed.unit)
    # Every write the master acknowledged has reached its replica before it goes.
    juju.wait(lambda _: heir_node.dbsize() == failed_node.dbsize() > 0, delay=0.2, timeout=60)
    in_unit(juju, failed.unit, "systemctl stop redis-server")
    juju.wait(lambda _: heir_node.info("replication")["role"] == "master", delay=0.5, timeout=60)
    juju.wait(lambda _: node_health(juju, heir.unit).startswith("ok"), delay=0.5, timeout=60)
    assert missing_keys(cluster_client(juju), keys) == []
