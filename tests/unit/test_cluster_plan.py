"""Pure cluster planning: formation, replica placement, rebalance, drain and repair of open slots."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from charms.layer.redis.cluster.nodes import SLOTS, parse_cluster_nodes
from charms.layer.redis.cluster.plan import (
    OpenSlot,
    PlanError,
    SlotMove,
    balance,
    even_split,
    find_open_slots,
    place_replicas,
    plan_drain,
    plan_formation,
    plan_rebalance,
    plan_repair,
    shares_after,
    units_needed,
    wanted_master,
)
from charms.layer.redis.cluster.topology import Node, Role, Topology

MASTER_COUNTS = [*range(1, 41), 64, 99, 100, 128, 200]


def node_ids(count: int) -> list[str]:
    return [f"{index:040x}" for index in range(1, count + 1)]


def formed(masters: int) -> dict[str, set[int]]:
    """Ownership right after formation with this many masters."""
    return {
        node: {slot for r in ranges for slot in r.slots()}
        for node, ranges in zip(node_ids(masters), even_split(masters), strict=True)
    }


def assert_covered_once(ownership: dict[str, set[int]]) -> None:
    owners = Counter(slot for slots in ownership.values() for slot in slots)
    assert set(owners) == set(range(SLOTS))
    assert set(owners.values()) == {1}


def assert_cap_holds_at_every_step(ownership: dict[str, set[int]], moves, masters: int) -> None:
    counts = Counter({node: len(slots) for node, slots in ownership.items()})
    for move in moves:
        counts[move.source] -= 1
        counts[move.target] += 1
        assert counts[move.target] <= math.ceil(SLOTS / masters) + 1  # an even share and one slot


def test_each_replica_placed_counts_for_the_next():
    placed = place_replicas(["redis/0", "redis/1"], {"redis/0": 3}, ["redis/2", "redis/3", "redis/4", "redis/5"])
    assert [replica.master for replica in placed] == ["redis/1", "redis/1", "redis/1", "redis/0"]


def test_a_replica_goes_to_the_master_with_fewest_replicas_counting_those_it_has():
    placed = place_replicas(["redis/0", "redis/1"], {"redis/0": 1}, ["redis/2"])
    assert [replica.master for replica in placed] == ["redis/1"]


def test_plans_are_values_that_cannot_change_in_place():
    plan = plan_formation([f"redis/{n}" for n in range(6)], replicas=1)
    move = SlotMove(5, "a" * 40, "b" * 40)
    open_slot = OpenSlot(5, migrating=(("a" * 40, "b" * 40),))
    assert len({move, SlotMove(5, "a" * 40, "b" * 40)}) == 1 and len({plan, open_slot}) == 2
    for value, field in [
        (plan, "masters"),
        (plan.masters[0], "unit"),
        (plan.replicas[0], "master"),
        (move, "slot"),
        (open_slot, "slot"),
    ]:
        with pytest.raises(AttributeError):
            setattr(value, field, None)


def test_units_needed_is_three_masters_with_their_replicas():
    assert [units_needed(replicas) for replicas in (0, 1, 2)] == [3, 6, 9]
    with pytest.raises(PlanError, match=r"^cluster-replicas must be 0 or more, not -1$"):
        units_needed(-1)


@pytest.mark.parametrize("masters", MASTER_COUNTS)
def test_even_split_covers_every_slot_once_in_near_equal_contiguous_ranges(masters):
    ranges = [share[0] for share in even_split(masters)]
    assert [r.start for r in ranges] == [0] + [r.end + 1 for r in ranges[:-1]]
    assert ranges[-1].end == SLOTS - 1
    assert max(map(len, ranges)) - min(map(len, ranges)) <= 1


def test_formation_of_three_units():
    plan = plan_formation(["redis/2", "redis/0", "redis/1"], replicas=0)
    assert [share.unit for share in plan.masters] == ["redis/0", "redis/1", "redis/2"]
    assert [len(share.slots[0]) for share in plan.masters] == [5462, 5461, 5461]
    assert plan.replicas == ()


def test_formation_waits_for_enough_units():
    with pytest.raises(PlanError, match=r"^5 of 6 units ready \(3 masters with 1 replicas each\)$"):
        plan_formation([f"redis/{n}" for n in range(5)], replicas=1)


def test_formation_with_replicas_puts_each_on_another_unit():
    plan = plan_formation([f"redis/{n}" for n in range(6)], replicas=1)
    masters = {share.unit for share in plan.masters}
    assert masters == {"redis/0", "redis/1", "redis/2"}
    assert Counter(replica.master for replica in plan.replicas) == dict.fromkeys(masters, 1)
    assert all(replica.unit != replica.master and replica.unit not in masters for replica in plan.replicas)


def test_units_numbered_past_nine_sort_by_number():
    plan = plan_formation(["redis/10", "redis/9", "redis/11"], replicas=0)
    assert [share.unit for share in plan.masters] == ["redis/9", "redis/10", "redis/11"]


def test_extra_units_at_formation_become_masters_then_replicas():
    plan = plan_formation([f"redis/{n}" for n in range(7)], replicas=1)
    assert len(plan.masters) == 3
    assert sorted(Counter(replica.master for replica in plan.replicas).values()) == [1, 1, 2]


def test_replicas_avoid_their_masters_machine_when_another_is_free():
    # Without domains, redis/2 would replicate redis/0 (fewest replicas, earlier): its own machine.
    domains = {"redis/0": "m1", "redis/1": "m2", "redis/2": "m1", "redis/3": "m2"}
    placed = place_replicas(["redis/0", "redis/1"], {}, ["redis/2", "redis/3"], domains)
    assert {(p.unit, p.master) for p in placed} == {("redis/2", "redis/1"), ("redis/3", "redis/0")}
    # With no other master left, sharing the machine is better than no replica.
    (alone,) = place_replicas(["redis/0"], {}, ["redis/2"], domains)
    assert alone.master == "redis/0"


def test_a_replica_never_replicates_itself():
    with pytest.raises(PlanError, match=r"^redis/0 has no master to replicate other than itself$"):
        place_replicas(["redis/0"], {}, ["redis/0"])


def topology_with_replicas(replica_counts: list[int]) -> Topology:
    nodes, number = [], 0
    for count in replica_counts:
        master = Node(f"redis/{number}", f"{number + 1:040x}", "127.0.0.11", 6379, Role.MASTER)
        nodes.append(master)
        number += 1
        for _ in range(count):
            nodes.append(
                Node(f"redis/{number}", f"{number + 1:040x}", "127.0.0.11", 6379, Role.REPLICA, master.node_id)
            )
            number += 1
    return Topology.of(nodes)


def test_a_new_unit_replicates_the_master_lacking_replicas_most():
    topology = topology_with_replicas([1, 0, 1])
    assert wanted_master(topology, replicas=1) == "redis/2"
    assert wanted_master(topology_with_replicas([1, 1, 1]), replicas=1) is None
    assert wanted_master(topology_with_replicas([0, 0, 0]), replicas=0) is None
    assert wanted_master(topology_with_replicas([0, 1, 0]), replicas=1) == "redis/0"
    assert wanted_master(topology_with_replicas([1, 0, 0]), replicas=2) == "redis/2"
    # Ties go to the lower unit number, not the lower text: redis/9 before redis/10.
    assert wanted_master(topology_with_replicas([8, 0, 0]), replicas=1) == "redis/9"


@pytest.mark.parametrize("masters", [m for m in MASTER_COUNTS if m >= 3])
@pytest.mark.parametrize("added", [1, 2, 3])
def test_rebalance_after_adding_masters(masters, added):
    before = formed(masters)
    for node in node_ids(masters + added)[masters:]:
        before[node] = set()
    moves = plan_rebalance(before)
    after = shares_after(before, moves)
    assert_covered_once(after)
    assert_cap_holds_at_every_step(before, moves, masters + added)
    assert balance(after) <= 0.10
    assert max(map(len, after.values())) - min(map(len, after.values())) <= 1
    assert len({move.slot for move in moves}) == len(moves)
    # Only what the new masters need moves: nothing shuffles between old ones.
    assert {move.target for move in moves} <= set(node_ids(masters + added)[masters:])


@pytest.mark.parametrize("seed", range(30))
def test_rebalance_of_a_random_uneven_cluster(seed):
    chooser = random.Random(seed)
    masters = chooser.randint(3, 30)
    owners = node_ids(masters)
    before: dict[str, set[int]] = {node: set() for node in owners}
    for slot in range(SLOTS):
        before[chooser.choice(owners[: chooser.randint(1, masters)])].add(slot)
    moves = plan_rebalance(before)
    after = shares_after(before, moves)
    assert_covered_once(after)
    assert_cap_holds_at_every_step(before, moves, masters)
    assert balance(after) <= 0.10
    assert plan_rebalance(after) == ()


def test_rebalance_refuses_an_uncovered_or_doubly_owned_cluster():
    ownership = formed(3)
    ownership[node_ids(3)[0]].discard(0)
    with pytest.raises(PlanError, match=r"^1 slots have no master: repair the cluster first$"):
        plan_rebalance(ownership)
    ownership[node_ids(3)[0]].add(0)
    ownership[node_ids(3)[1]].add(0)
    with pytest.raises(PlanError, match=r"^slot 0 is claimed by two masters: repair the cluster first$"):
        plan_rebalance(ownership)


@pytest.mark.parametrize("slot", [-1, SLOTS])
def test_a_slot_outside_0_to_16383_is_refused_naming_it(slot):
    ownership = formed(3)
    ownership[node_ids(3)[2]].add(slot)
    with pytest.raises(PlanError, match=rf"^slot {slot} is not a slot \(0-16383\): repair the cluster first$"):
        plan_rebalance(ownership)
    ownership[node_ids(3)[2]].discard(16383)
    with pytest.raises(PlanError, match=rf"^slot {slot} is not a slot"):
        plan_drain(ownership, node_ids(3)[0])


@pytest.mark.parametrize("masters", [m for m in MASTER_COUNTS if m >= 2])
def test_drain_spreads_the_departing_masters_slots_over_all_the_others(masters):
    before = formed(masters)
    for departing in {node_ids(masters)[0], node_ids(masters)[-1], node_ids(masters)[masters // 2]}:
        moves = plan_drain(before, departing)
        after = shares_after(before, moves)
        assert after[departing] == set()
        del after[departing]
        assert_covered_once(after)
        assert_cap_holds_at_every_step(before, moves, masters - 1)
        received = Counter(move.target for move in moves)
        # Every other master takes a share (one slot at least, when there are more slots than masters).
        assert len(received) == min(len(after), len(before[departing]))
        assert max(received.values()) - min(received.values()) <= 1
        assert balance(after) <= 0.10
        assert all(move.source == departing for move in moves)


def test_a_drain_evens_out_the_masters_that_stay():
    small, large, departing = node_ids(3)
    ownership = {large: set(range(6000)), small: set(range(6000, 9000)), departing: set(range(9000, SLOTS))}
    after = shares_after(ownership, plan_drain(ownership, departing))
    assert {node: len(slots) for node, slots in after.items()} == {large: 8192, small: 8192, departing: 0}


def test_a_new_master_takes_one_contiguous_run_from_each_master():
    before = {**formed(3), node_ids(4)[3]: set()}
    moves = plan_rebalance(before)
    runs: dict[str, list[int]] = {}
    for move in moves:
        runs.setdefault(move.source, []).append(move.slot)
    assert len(runs) == 3
    for slots in runs.values():
        assert sorted(slots) == list(range(min(slots), max(slots) + 1))


def test_nothing_to_balance_without_masters_and_slots_past_the_last_are_refused():
    with pytest.raises(PlanError, match=r"^no masters to balance$"):
        plan_rebalance({})
    with pytest.raises(PlanError, match=r"repair the cluster first$"):
        plan_rebalance({node_ids(1)[0]: set(range(1, SLOTS + 1))})


def test_drain_refuses_to_empty_the_last_master():
    with pytest.raises(
        PlanError, match=r"^no master would remain: emptying this one would lose every key in the cluster"
    ):
        plan_drain(formed(1), node_ids(1)[0])


def test_drain_refuses_when_every_other_master_leaves_too():
    first, *others = node_ids(3)
    with pytest.raises(PlanError, match="no master would remain"):
        plan_drain(formed(3), first, leaving=others)


def test_masters_removed_together_never_receive_each_others_slots():
    masters = node_ids(6)
    leaving = masters[3:]
    for departing in leaving:
        moves = plan_drain(formed(6), departing, leaving=leaving)
        assert {move.target for move in moves} == set(masters[:3])


def test_draining_an_empty_master_moves_nothing():
    ownership = {**formed(3), node_ids(4)[3]: set()}
    assert plan_drain(ownership, node_ids(4)[3]) == ()


def test_drain_of_an_unknown_node_is_refused():
    with pytest.raises(PlanError, match=r"^node ffffffff… is not a master of this cluster$"):
        plan_drain(formed(3), "f" * 40)


def view_with(node_id: str, markers: str) -> tuple:
    return parse_cluster_nodes(f"{node_id} 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-9 {markers}")


A, B, C = node_ids(3)


def test_open_slots_are_gathered_from_each_nodes_own_line():
    views = {A: view_with(A, f"[5->-{B}] [7->-{C}]"), B: view_with(B, f"[5-<-{A}]"), C: view_with(C, "")}
    assert find_open_slots(views) == (OpenSlot(5, ((A, B),), ((B, A),)), OpenSlot(7, ((A, C),), ()))


@pytest.mark.parametrize(
    ("open_slot", "repair"),
    [
        (OpenSlot(5, migrating=((A, B),), importing=((B, A),)), SlotMove(5, A, B)),
        (OpenSlot(5, importing=((B, A),)), SlotMove(5, A, B)),
        (OpenSlot(5, migrating=((A, B),)), SlotMove(5, A, B)),
    ],
)
def test_repair_finishes_the_move_towards_its_target(open_slot, repair):
    assert plan_repair([open_slot], {A, B, C}) == (repair,)


@pytest.mark.parametrize(
    ("open_slot", "complaint"),
    [
        (
            OpenSlot(5, migrating=((A, B),), importing=((C, A),)),
            r"5 migrates to one node and is imported by another$",
        ),
        (OpenSlot(5, importing=((B, A), (C, A))), r"^slot 5 is open on several nodes: it needs an operator$"),
        (OpenSlot(5, migrating=((A, B), (C, B))), r"^slot 5 is open on several nodes: it needs an operator$"),
        (
            OpenSlot(5, migrating=((A, "f" * 40),)),
            r"^slot 5 was moving to ffffffff…, which is not a healthy master: "
            r"it needs an operator \(redis-cli --cluster fix\)$",
        ),
    ],
)
def test_repair_refuses_what_needs_an_operator(open_slot, complaint):
    with pytest.raises(PlanError, match=complaint):
        plan_repair([open_slot], {A, B, C})
