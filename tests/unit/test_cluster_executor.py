"""The cluster executor against real redis-server processes in cluster mode on 127.0.0.1.

No Juju: each test starts its own nodes (free ports, temporary directories,
requirepass and masterauth set) and stops them at its end.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from cluster_helpers import LocalCluster, LocalNode, local_cluster, missing_or_wrong, sample_data, write_all

from charms.layer.redis.cluster.executor import (
    LOCK_KEY,
    ClusterExecutor,
    Limits,
    MoveInProgress,
    MoveProgress,
    progress_message,
)
from charms.layer.redis.cluster.nodes import SLOTS, myself
from charms.layer.redis.cluster.plan import OpenSlot, SlotMove, balance, plan_formation
from charms.layer.redis.cluster.topology import decode, encode


@pytest.fixture
def local(tmp_path: Path):
    with local_cluster(tmp_path) as cluster:
        yield cluster


def formed(local: LocalCluster, count: int, replicas: int = 0, limits: Limits | None = None) -> ClusterExecutor:
    local.start(count)
    executor = local.executor(limits)
    executor.form(plan_formation(list(local.endpoints), replicas), local.endpoints)
    return executor


def owner_of(executor: ClusterExecutor, node: LocalNode, slot: int) -> str:
    view = executor.view(node.endpoint)
    return next(member.node_id for member in view if slot in member.slot_set())


def test_three_nodes_form_a_cluster_serving_every_slot(local):
    local.start(3)
    with local.executor() as executor:
        topology = executor.form(plan_formation(list(local.endpoints), 0), local.endpoints)
        for node in local.nodes:
            info = executor.info(node.endpoint)
            assert info["cluster_state"] == "ok"
            assert info["cluster_slots_assigned"] == str(SLOTS)
            assert info["cluster_known_nodes"] == "3"
        assert [node.unit for node in topology.masters] == ["redis/0", "redis/1", "redis/2"]
        assert decode(encode(topology)) == topology
        # Forming again (a hook run twice, a new leader) changes nothing.
        assert executor.form(plan_formation(list(local.endpoints), 0), local.endpoints) == topology
    client = local.client()
    client.set("greeting", "hello")
    assert client.get("greeting") == b"hello"


def test_a_formation_stopped_halfway_is_finished_by_the_next_try(local):
    local.start(3)
    first, second, _ = local.nodes
    # As a leader might leave it when its hook was killed: some slots added, one node met.
    on_first = local.connections.connect(first.endpoint)
    on_first.command("CLUSTER", "ADDSLOTSRANGE", 0, 1000)
    on_first.command("CLUSTER", "MEET", "127.0.0.1", second.port)
    with local.executor() as executor:
        topology = executor.form(plan_formation(list(local.endpoints), 0), local.endpoints)
        executor.wait_settled(first.endpoint)
        assert len(topology.masters) == 3
        assert sorted(len(executor.ownership(first.endpoint)[node.node_id]) for node in topology.masters) == [
            5461,
            5461,
            5462,
        ]


def test_six_nodes_with_one_replica_each_master_has_a_replica_on_another_node(local):
    local.start(6)
    with local.executor() as executor:
        topology = executor.form(plan_formation(list(local.endpoints), 1), local.endpoints)
        assert len(topology.masters) == 3
        for master in topology.masters:
            (replica,) = topology.replicas_of(master.node_id)
            assert replica.unit != master.unit and replica.port != master.port
            view = executor.view(local.endpoints[replica.unit])
            assert myself(view).master_id == master.node_id
        executor.wait_settled(local.nodes[0].endpoint)
        status = executor.health(local.nodes[5].endpoint)
        assert status.ok
        assert status.message == "cluster ok: 3 masters, 3 replicas, 16384 of 16384 slots served"


def test_adding_a_master_and_rebalancing_keeps_every_key_and_balances(local):
    executor = formed(local, 3)
    client = local.client()
    data = sample_data(20_000)
    write_all(client, data)
    new = local.start(1)[0]
    seed = local.nodes[0].endpoint
    new_id = executor.add_node(seed, new.endpoint)
    progress: list[MoveProgress] = []
    moves = executor.rebalance(seed, progress.append)
    ownership = executor.ownership(seed)
    assert balance(ownership) <= 0.10
    assert len(ownership[new_id]) == len(moves) == SLOTS // 4
    assert missing_or_wrong(client, data) == []
    assert executor.open_slots(seed) == ()
    assert int(local.connections.connect(new.endpoint).command("DBSIZE")) > 4000
    done = [report.done for report in progress]
    assert done == sorted(done)
    assert progress_message(progress[0], {new_id: "redis/3"}) == "moving slots: 0 of 4096 to redis/3"
    assert progress_message(progress[-1], {new_id: "redis/3"}) == "moving slots: 4096 of 4096 to redis/3"


def test_retiring_a_master_spreads_its_slots_then_it_is_forgotten_and_reset(local):
    executor = formed(local, 4)
    data = sample_data(20_000)
    write_all(local.client(), data)
    departing = local.nodes[3]
    departing_id = executor.node_id(departing.endpoint)
    seed = local.nodes[0].endpoint
    before = executor.ownership(seed)

    moves = executor.retire(departing.endpoint)

    assert {move.target for move in moves} == set(before) - {departing_id}
    left = myself(executor.view(departing.endpoint))
    assert left.node_id != departing_id and left.slot_count == 0
    assert len(executor.view(departing.endpoint)) == 1
    for node in local.nodes[:3]:
        assert departing_id not in {member.node_id for member in executor.view(node.endpoint)}
    executor.wait_settled(seed)
    after = executor.ownership(seed)
    assert set(after) == set(before) - {departing_id}
    assert balance(after) <= 0.10
    assert missing_or_wrong(local.client(), data) == []


def test_retiring_a_master_gives_its_replica_another_master(local):
    executor = formed(local, 4)
    seed = local.nodes[0].endpoint
    departing = local.nodes[3]
    departing_id = executor.node_id(departing.endpoint)
    replica = local.start(1)[0]
    executor.add_node(seed, replica.endpoint)
    executor.replicate(replica.endpoint, departing_id)
    write_all(local.client(), data := sample_data(2_000))

    executor.retire(departing.endpoint)

    new_master = myself(executor.view(replica.endpoint)).master_id
    assert new_master in executor.ownership(seed)
    assert new_master != departing_id
    executor.wait_settled(seed)
    assert missing_or_wrong(local.client(), data) == []


class Interrupted(Exception):
    pass


def stop_after(keys: int):
    def report(progress: MoveProgress) -> None:
        if progress.keys >= keys:
            raise Interrupted

    return report


@pytest.mark.parametrize("stopped_at", ["after IMPORTING", "halfway through the keys", "after NODE on the target"])
def test_an_interrupted_slot_move_is_repaired_without_losing_a_key(local, stopped_at):
    executor = formed(local, 3, limits=Limits(keys_per_migrate=50))
    client = local.client()
    data = {**sample_data(600, prefix="{crowded}"), **sample_data(2_000)}
    write_all(client, data)
    seed = local.nodes[0].endpoint
    slot = int(client.keyslot("{crowded}"))
    source = owner_of(executor, local.nodes[0], slot)
    target = next(node for node in executor.ownership(seed) if node != source)
    endpoints = {executor.node_id(node.endpoint): node.endpoint for node in local.nodes}
    on_source = local.connections.connect(endpoints[source])
    on_target = local.connections.connect(endpoints[target])

    if stopped_at == "halfway through the keys":
        with pytest.raises(Interrupted):
            executor.move(seed, [SlotMove(slot, source, target)], stop_after(300))
        assert executor.open_slots(seed) == (OpenSlot(slot, ((source, target),), ((target, source),)),)
        assert int(on_source.command("CLUSTER", "COUNTKEYSINSLOT", slot)) > 0
        assert int(on_target.command("CLUSTER", "COUNTKEYSINSLOT", slot)) > 0
    else:
        on_target.command("CLUSTER", "SETSLOT", slot, "IMPORTING", source)
        if stopped_at == "after NODE on the target":
            on_source.command("CLUSTER", "SETSLOT", slot, "MIGRATING", target)
            keys = on_source.command("CLUSTER", "GETKEYSINSLOT", slot, 1000)
            on_source.command("MIGRATE", "127.0.0.1", endpoints[target].port, "", 0, 5000,
                              "AUTH", local.password, "KEYS", *keys)  # fmt: skip
            on_target.command("CLUSTER", "SETSLOT", slot, "NODE", target)
        assert executor.open_slots(seed)

    assert executor.repair(seed) == (SlotMove(slot, source, target),)

    assert executor.open_slots(seed) == ()
    executor.wait_settled(seed)
    for node in local.nodes:
        assert owner_of(executor, node, slot) == target
    assert missing_or_wrong(local.client(), data) == []


def test_one_mover_at_a_time_and_the_waiting_one_is_told_who_moves(local):
    formed(local, 3).close()
    seed = local.nodes[0].endpoint
    mover = local.executor(holder="redis/4")
    other = local.executor(holder="redis/0")
    client = local.client()
    lock_slot = int(client.keyslot(LOCK_KEY))
    owner = owner_of(mover, local.nodes[0], lock_slot)
    target = next(node for node in mover.ownership(seed) if node != owner)
    with mover.exclusive(seed):
        # The lock's own slot moving does not free it: the key moves with its slot.
        mover.move(seed, [SlotMove(lock_slot, owner, target)])
        with pytest.raises(MoveInProgress, match="redis/4 is moving slots"):
            other.rebalance(seed)
        with pytest.raises(MoveInProgress):
            other.drain(seed, owner)
        assert 0 < client.pttl(LOCK_KEY) <= 60_000
    assert client.exists(LOCK_KEY) == 0
    assert other.rebalance(seed) == ()


def retire_when_free(local: LocalCluster, node: LocalNode, leaving: list[str]) -> None:
    """What a departing unit's hook does, retried as later hooks would while another unit moves slots."""
    with local.executor(holder=node.unit) as executor:
        deadline = time.monotonic() + 120
        while True:
            try:
                executor.retire(node.endpoint, leaving=leaving)
                return
            except MoveInProgress:
                assert time.monotonic() < deadline
                time.sleep(0.1)


def test_two_masters_removed_at_once_take_turns_and_lose_nothing(local):
    executor = formed(local, 5)
    data = sample_data(10_000)
    write_all(local.client(), data)
    departing = local.nodes[3:]
    leaving = [executor.node_id(node.endpoint) for node in departing]
    with ThreadPoolExecutor(max_workers=2) as pool:
        for done in [pool.submit(retire_when_free, local, node, leaving) for node in departing]:
            done.result(timeout=180)
    seed = local.nodes[0].endpoint
    executor.wait_settled(seed)
    after = executor.ownership(seed)
    assert len(after) == 3 and not set(after) & set(leaving)
    assert balance(after) <= 0.10
    assert missing_or_wrong(local.client(), data) == []


def test_a_node_announcing_a_new_port_is_never_reported_failing_while_its_peers_reconnect(local):
    # As tls-keep-plain-port does: each peer drops its link to the node when the new port
    # reaches it, and connects again 100 ms later; the reports wait that out.
    executor = formed(local, 3)
    executor.wait_settled(local.nodes[0].endpoint)
    moved = local.nodes[2]
    node = redis.Redis(moved.endpoint.host, moved.port, password=local.password)
    node.config_set("cluster-announce-port", moved.port + 1)
    node.close()
    reports, seen_new_port = [], set()
    # Gossip carries the new port within a second at this node timeout (2 s); watch for three.
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        for peer in local.nodes[:2]:
            reports.append(executor.health(peer.endpoint))
            if any(node.port == moved.port + 1 for node in executor.view(peer.endpoint)):
                seen_new_port.add(peer.port)
    assert seen_new_port == {peer.port for peer in local.nodes[:2]}
    assert [report.message for report in reports if not report.ok] == []
