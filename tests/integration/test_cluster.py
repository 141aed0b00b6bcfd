"""Redis Cluster across the units on the local model: formed, grown, shrunk, with a client throughout.

Two models for the module (three units, and six with one replica a master),
tests in file order, each leaving a settled cluster for the next; those from
the mid-rebalance one on start by waiting for it, so they also run alone. Clients are redis-py's
RedisCluster from the host, started from the units' addresses (127.x loopback).
Moves that a test must catch half-way are held there by pausing writes on
their source nodes (HeldMoves), never by timing.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping

import jubilant
import pytest
import redis
from cluster_client import Traffic, cluster_settled, missing_keys, write_keys
from helpers import (
    APP,
    CHARM,
    REPLICATION_USER,
    admin_login,
    ensure_built,
    in_unit,
    leader,
    password,
    run_hook,
    running_hook,
    signal_hook,
    unit_log,
    unit_status_is,
    units,
    wait_idle,
)
from redis.cluster import ClusterNode, RedisCluster

from charms.layer.redis.cluster.executor import LOCK_KEY
from charms.layer.redis.cluster.nodes import myself, parse_cluster_nodes, parse_info
from charms.layer.redis.cluster.topology import Role, decode

from conftest import CHARMS, throwaway_model

pytestmark = pytest.mark.integration

SLOTS = 16384
KEYS = 5000
CLIENT = "redis-client"


@pytest.fixture(scope="module")
def juju() -> Iterator[jubilant.Juju]:
    ensure_built()
    with throwaway_model("cluster", wait_timeout=300) as juju:
        juju.deploy(CHARM, APP, num_units=3, config={"cluster-enabled": True})
        yield juju


def wait_cluster(juju: jubilant.Juju, count: int) -> jubilant.Status:
    return juju.wait(lambda status: len(status.apps[APP].units) == count and cluster_settled(status), delay=0.5)


def node(juju: jubilant.Juju, unit: str) -> redis.Redis:
    """A node as the charm administers it (its admin user)."""
    status = units(juju)[unit]
    port = int(status.open_ports[0].split("/")[0])
    username, secret = admin_login(juju)
    return redis.Redis(host=status.public_address, port=port, username=username, password=secret, decode_responses=True)


def reader(juju: jubilant.Juju, unit: str) -> redis.Redis:
    """A node as a password-only client sees it (CLUSTER INFO, CLUSTER NODES), asking no unit for a secret."""
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
    # Every node is known by its unit's ingress address (cluster-announce-ip).
    view = parse_cluster_nodes(node(juju, leader(juju)).execute_command("CLUSTER", "NODES"))
    assert sorted(entry.host for entry in view) == sorted(unit.public_address for unit in units(juju).values())
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
        info = reader(juju, unit).execute_command("CLUSTER", "INFO")
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


def poll(condition: Callable[[], bool], what: str, timeout: float = 300.0) -> None:
    """Wait for a condition read straight from the nodes (quicker than a status round trip)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(0.05)  # polling interval of the wait, not a delay before an assertion


# A MIGRATE is a write: with writes paused on its source it waits there, while SETSLOT,
# GETKEYSINSLOT and the cluster bus go on. A move started under the pause stays open, its
# slots marked on both ends, until the pause ends. The pause is renewed while held and lapses
# by itself PAUSE_MS after the last renewal (if the test dies), well within the charm's 30 s
# command timeout.
PAUSE_MS = 10_000
RENEW_EVERY = 2.0


def unit_at(juju: jubilant.Juju) -> dict[str, str]:
    """Unit name by its node's address."""
    return {status.public_address: unit for unit, status in units(juju).items()}


def lock_owner(juju: jubilant.Juju) -> str:
    """The unit whose node serves the charm's slot-move lock (writes there must go on)."""
    conn = node(juju, leader(juju))
    slot = conn.execute_command("CLUSTER", "KEYSLOT", LOCK_KEY)
    view = parse_cluster_nodes(conn.execute_command("CLUSTER", "NODES"))
    (owner,) = [entry for entry in view if entry.is_master and slot in entry.slot_set()]
    return unit_at(juju)[owner.host]


def open_slots(conn: redis.Redis) -> tuple[tuple[int, str], ...]:
    """The slots this node has marked migrating or importing."""
    me = myself(parse_cluster_nodes(conn.execute_command("CLUSTER", "NODES")))
    return me.migrating + me.importing


class HeldMoves:
    """Slot moves out of `sources` held half-way (writes paused there) until the block ends."""

    def __init__(self, sources: Mapping[str, redis.Redis]) -> None:
        self.sources = sources
        self._released = threading.Event()
        self._renewer = threading.Thread(target=self._renew, daemon=True)

    def __enter__(self) -> HeldMoves:
        self._pause()
        self._renewer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._released.set()
        self._renewer.join()
        for conn in self.sources.values():
            conn.execute_command("CLIENT", "UNPAUSE")

    def _pause(self) -> None:
        for conn in self.sources.values():
            conn.execute_command("CLIENT", "PAUSE", PAUSE_MS, "WRITE")

    def _renew(self) -> None:
        while not self._released.wait(RENEW_EVERY):
            self._pause()

    def wait_for_open_slot(self) -> str:
        """Wait until a source has slots marked migrating (a move under way, held); that source's unit."""
        found: list[str] = []

        def moving() -> bool:
            found.extend(unit for unit, conn in self.sources.items() if open_slots(conn))
            return bool(found)

        poll(moving, f"a slot move out of {', '.join(sorted(self.sources))}")
        return found[0]


def all_open_slots(juju: jubilant.Juju) -> dict[str, tuple[tuple[int, str], ...]]:
    return {unit: found for unit in units(juju) if (found := open_slots(node(juju, unit)))}


def test_leadership_moved_in_the_middle_of_a_rebalance_completes_it(juju: jubilant.Juju) -> None:
    count = len(wait_cluster(juju, len(units(juju))).apps[APP].units)
    keys = write_keys(cluster_client(juju), "failover-of-leadership", KEYS)
    first = leader(juju)
    successor = next(unit for unit in sorted(units(juju)) if unit != first)
    owner = lock_owner(juju)
    with HeldMoves({unit: node(juju, unit) for unit in units(juju) if unit != owner}) as held:
        juju.add_unit(APP)
        source = held.wait_for_open_slot()
        juju.wait(unit_status_is(first, "maintenance", "moving slots: "), delay=0.5, successes=1)
        juju.cli("local-move-leader", successor)
        # The old leader is still in its hook, its move held open, when leadership moves.
        # (No `juju exec` while held: a unit's tasks wait for its hook, which waits for the move.)
        assert running_hook(juju, first) is not None
        assert open_slots(held.sources[source])
    wait_cluster(juju, count + 1)
    assert leader(juju) == successor
    assert_healthy(juju)
    assert_balanced(juju)
    assert all_open_slots(juju) == {}
    # Only a leader shares the topology: the new one did, with the new unit in it.
    assert sorted(shared_topology(juju).by_unit) == sorted(units(juju))
    assert missing_keys(cluster_client(juju), keys) == []


def test_a_hook_killed_in_the_middle_of_a_slot_move_is_repaired_by_the_next(juju: jubilant.Juju) -> None:
    count = len(wait_cluster(juju, len(units(juju))).apps[APP].units)
    keys = write_keys(cluster_client(juju), "killed-mid-move", KEYS)
    busy = {leader(juju), lock_owner(juju)}
    departing = next(unit for unit in sorted(units(juju), reverse=True) if unit not in busy)
    with HeldMoves({departing: node(juju, departing)}) as held:
        juju.remove_unit(departing)
        held.wait_for_open_slot()
        hook = signal_hook(juju, departing, signal.SIGKILL)
        left_open = open_slots(held.sources[departing])
    assert left_open, "the killed hook left no slot open"
    wait_cluster(juju, count - 1)
    assert departing not in units(juju)
    # The hook failed, and its retry (the departing unit's next hook) repaired and finished the drain.
    log = unit_log(juju, departing)
    assert any(f'hook "{hook}"' in line and "failed" in line for line in log.splitlines())
    assert "left the cluster after handing over" in log
    assert all_open_slots(juju) == {}
    assert_healthy(juju)
    assert_balanced(juju)
    assert missing_keys(cluster_client(juju), keys) == []


def test_raising_cluster_replicas_makes_new_units_replicas_and_lowering_it_changes_nothing(
    juju: jubilant.Juju,
) -> None:
    count = len(wait_cluster(juju, len(units(juju))).apps[APP].units)
    slots_before = slot_counts(juju)
    before = set(units(juju))
    juju.config(APP, {"cluster-replicas": 1})
    juju.add_unit(APP)
    wait_cluster(juju, count + 1)
    (added,) = set(units(juju)) - before
    topology = shared_topology(juju)
    replica = topology.by_unit[added]
    assert replica.role == Role.REPLICA
    master = topology.by_id[replica.master_id]
    assert master.unit != added and master.address != replica.address
    # It went to a master that had no replica, and no slot moved.
    assert [node.unit for node in topology.replicas_of(master.node_id)] == [added]
    assert slot_counts(juju) == slots_before
    assert f"{len(slots_before)} masters, 1 replicas" in units(juju)[added].workload_status.message

    juju.config(APP, {"cluster-replicas": 0})
    wait_cluster(juju, count + 1)
    assert shared_topology(juju) == topology
    assert node(juju, added).info("replication")["role"] == "slave"
    assert slot_counts(juju) == slots_before


def test_a_new_password_reaches_every_node_live_and_a_reconnecting_client_loses_no_write(
    juju: jubilant.Juju,
) -> None:
    count = len(wait_cluster(juju, len(units(juju))).apps[APP].units)
    keys = write_keys(cluster_client(juju), "password", KEYS // 5)
    run_ids = {unit: node(juju, unit).info("server")["run_id"] for unit in units(juju)}
    with Traffic(cluster_client(juju), "password-change", reconnect=lambda: cluster_client(juju)) as traffic:
        juju.config(APP, {"password": "a-new-cluster-password"})
        wait_cluster(juju, count)
    assert traffic.errors == []
    assert len(traffic.written) > 0
    for unit in units(juju):
        conn = node(juju, unit)
        assert conn.config_get("requirepass")["requirepass"] == "a-new-cluster-password"
        # Replicas authenticate as the replication user, whose password the option does not change.
        assert conn.config_get("masteruser")["masteruser"] == REPLICATION_USER
        assert conn.info("server")["run_id"] == run_ids[unit], f"{unit} restarted"
    # A replica that reconnects to its master now authenticates with the new masterauth.
    for unit in units(juju):
        conn = node(juju, unit)
        if conn.info("replication")["role"] == "slave":
            conn.execute_command("CLIENT", "KILL", "TYPE", "master")
            juju.wait(lambda _, conn=conn: conn.info("replication")["master_link_status"] == "up", delay=0.5)
    assert missing_keys(cluster_client(juju), keys + traffic.written) == []


def test_removing_the_last_masters_keeps_their_keys_and_says_so(juju: jubilant.Juju) -> None:
    """Removing the application: no master is left to take the slots, so none is emptied."""
    wait_cluster(juju, len(units(juju)))
    masters = {entry.unit for entry in shared_topology(juju).masters}
    said = "this is the last master: its keys go with it"
    juju.remove_application(APP)
    juju.wait(lambda status: APP in status.apps and any(
        said in unit.workload_status.message for unit in status.apps[APP].units.values()
    ), delay=0.2, successes=1)  # fmt: skip
    wait_idle(juju, lambda status: APP not in status.apps)
    for unit in masters:
        log = unit_log(juju, unit)
        assert said in log, unit
        assert "left the cluster after handing over" not in log, unit


REPLICATED_PASSWORD = "a-password-for-the-replicated-cluster"


@pytest.fixture(scope="module")
def replicated() -> Iterator[jubilant.Juju]:
    """A model of its own: six units with one replica a master, deployed and left forming."""
    ensure_built()
    with throwaway_model("replicas", wait_timeout=400) as juju:
        config = {"cluster-enabled": True, "cluster-replicas": 1, "password": REPLICATED_PASSWORD}
        juju.deploy(CHARM, APP, num_units=6, config=config)
        yield juju


def slots_assigned(conn: redis.Redis) -> int:
    try:
        return int(parse_info(conn.execute_command("CLUSTER", "INFO"))["cluster_slots_assigned"])
    except redis.RedisError:
        return 0  # not started yet, or not yet with the password


def fully_formed(juju: jubilant.Juju) -> bool:
    """Every node serves all slots and sees 3 masters with a replica each."""
    return all(
        node_health(juju, unit).startswith("ok")
        and sum(
            entry.is_replica for entry in parse_cluster_nodes(reader(juju, unit).execute_command("CLUSTER", "NODES"))
        )
        == 3
        for unit in units(juju)
    )


def test_leadership_moved_in_the_middle_of_formation_completes_it(replicated: jubilant.Juju) -> None:
    juju = replicated
    # The plan's first master (redis/0) is given its slots first, then the nodes meet and replicas sync.
    status = juju.wait(lambda status: bool(status.apps[APP].units["redis/0"].public_address), delay=0.5)
    first_master = redis.Redis(
        host=status.apps[APP].units["redis/0"].public_address, port=6379, password=REPLICATED_PASSWORD,
        socket_timeout=5, decode_responses=True,
    )  # fmt: skip
    poll(lambda: slots_assigned(first_master) > 0, "the leader to start forming the cluster")
    first = leader(juju)
    # The old leader's hook stops where it is, as a leader whose agent hangs; its lease lapses.
    signal_hook(juju, first, signal.SIGSTOP)
    try:
        assert not fully_formed(juju), "the formation ended before it could be interrupted"
        successor = next(unit for unit in sorted(units(juju)) if unit != first)
        juju.cli("local-move-leader", successor)
        juju.wait(unit_status_is(successor, "active", "cluster ok: 3 masters, 3 replicas"), delay=0.5)
        assert running_hook(juju, first) is not None  # the old leader never got further
        assert fully_formed(juju)
    finally:
        signal_hook(juju, first, signal.SIGCONT)
    wait_cluster(juju, 6)
    assert leader(juju) == successor
    assert_healthy(juju)
    assert sorted(shared_topology(juju).by_unit) == sorted(units(juju))


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
    # update-status tells what the cluster looks like now: served, but with a node down.
    observer = next(unit for unit in sorted(units(juju)) if unit not in (failed.unit, leader(juju)))
    run_hook(juju, observer)
    message = units(juju)[observer].workload_status
    assert message.current == "blocked"
    assert message.message == "cluster ok: 3 masters, 2 replicas, 16384 of 16384 slots served, 1 failing or unreachable"
