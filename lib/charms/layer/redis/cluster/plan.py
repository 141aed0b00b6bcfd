"""Pure planning for a Redis Cluster: which node gets which slots, and who replicates whom.

Nothing here talks to Redis; the executor carries the plans out. Node ids are
the cluster's 40-hex ids; units are Juju unit names.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from .nodes import SLOTS, ClusterNode, SlotRange, myself
from .topology import Topology, unit_order

MIN_MASTERS = 3


class PlanError(ValueError):
    """No safe plan exists for what was asked; the message says why."""


@dataclass(frozen=True)
class MasterShare:
    unit: str
    slots: tuple[SlotRange, ...]


@dataclass(frozen=True)
class ReplicaOf:
    unit: str
    master: str


@dataclass(frozen=True)
class FormationPlan:
    masters: tuple[MasterShare, ...]
    replicas: tuple[ReplicaOf, ...]


@dataclass(frozen=True)
class SlotMove:
    slot: int
    source: str
    target: str


@dataclass(frozen=True)
class OpenSlot:
    """A slot some master has marked migrating (node, to) or importing (node, from)."""

    slot: int
    migrating: tuple[tuple[str, str], ...] = ()
    importing: tuple[tuple[str, str], ...] = ()


def units_needed(replicas: int) -> int:
    """Units the cluster needs before it is formed: 3 masters, each with `replicas` replicas."""
    if replicas < 0:
        raise PlanError(f"cluster-replicas must be 0 or more, not {replicas}")
    return MIN_MASTERS * (1 + replicas)


def even_split(parts: int) -> tuple[tuple[SlotRange, ...], ...]:
    """All slots cut into `parts` contiguous ranges whose sizes differ by at most one."""
    base, extra = divmod(SLOTS, parts)
    ranges, start = [], 0
    for index in range(parts):
        size = base + (1 if index < extra else 0)
        ranges.append((SlotRange(start, start + size - 1),))
        start += size
    return tuple(ranges)


def plan_formation(units: Sequence[str], replicas: int, domain_of: Mapping[str, str] | None = None) -> FormationPlan:
    """Masters with even contiguous slots, then replicas on units other than (and away from) their master's.

    With more units than needed, every group of 1 + replicas units adds a master;
    a remainder becomes extra replicas.
    """
    needed = units_needed(replicas)
    ordered = sorted(set(units), key=unit_order)
    if len(ordered) < needed:
        raise PlanError(f"{len(ordered)} of {needed} units ready (3 masters with {replicas} replicas each)")
    count = len(ordered) // (1 + replicas)
    masters = ordered[:count]
    shares = tuple(MasterShare(unit, slots) for unit, slots in zip(masters, even_split(count), strict=True))
    placed = place_replicas(masters, {}, ordered[count:], domain_of)
    return FormationPlan(shares, placed)


def place_replicas(
    masters: Sequence[str],
    replica_counts: Mapping[str, int],
    candidates: Sequence[str],
    domain_of: Mapping[str, str] | None = None,
) -> tuple[ReplicaOf, ...]:
    """Each candidate replicates the master with fewest replicas, preferring another failure domain.

    Masters and candidates may be units or node ids; ties go to the earlier master.

    `domain_of` maps a unit to its machine or zone; a replica never goes on its
    master's unit, and shares its master's domain only when no other master is left.
    """
    domains = domain_of or {}
    rank = {master: index for index, master in enumerate(masters)}
    counts = Counter({master: replica_counts.get(master, 0) for master in masters})
    placed = []
    for unit in candidates:
        choices = [master for master in masters if master != unit]
        if not choices:
            raise PlanError(f"{unit} has no master to replicate other than itself")

        def preference(master: str, unit: str = unit) -> tuple[bool, int, int]:
            same_domain = unit in domains and domains.get(master) == domains[unit]
            return same_domain, counts[master], rank[master]

        master = min(choices, key=preference)
        counts[master] += 1
        placed.append(ReplicaOf(unit, master))
    return tuple(placed)


def wanted_master(topology: Topology, replicas: int, domain_of: Mapping[str, str] | None = None) -> str | None:
    """The master unit a new unit should replicate, or None when every master has its replicas."""
    counts = {node.unit: len(topology.replicas_of(node.node_id)) for node in topology.masters}
    lacking = [unit for unit, count in counts.items() if count < replicas]
    if not lacking:
        return None
    return min(lacking, key=lambda unit: (counts[unit], unit_order(unit)))


def check_coverage(ownership: Mapping[str, Collection[int]]) -> None:
    """Raise PlanError unless every slot belongs to exactly one of these masters."""
    seen = Counter(slot for slots in ownership.values() for slot in slots)
    twice = [slot for slot, count in seen.items() if count > 1]
    if twice:
        raise PlanError(f"slot {min(twice)} is claimed by two masters: repair the cluster first")
    outside = sorted(slot for slot in seen if not 0 <= slot < SLOTS)
    if outside:
        raise PlanError(f"slot {outside[0]} is not a slot (0-{SLOTS - 1}): repair the cluster first")
    if len(seen) != SLOTS:
        raise PlanError(f"{SLOTS - len(seen)} slots have no master: repair the cluster first")


def quotas(counts: Mapping[str, int]) -> dict[str, int]:
    """Each master's fair share; the odd slots go to the fullest masters, so fewer slots move."""
    base, extra = divmod(SLOTS, len(counts))
    fullest = sorted(counts, key=lambda node: (-counts[node], node))
    return {node: base + (1 if rank < extra else 0) for rank, node in enumerate(fullest)}


def plan_rebalance(ownership: Mapping[str, Collection[int]]) -> tuple[SlotMove, ...]:
    """Moves that give every master its fair share, taking from the tail of each over-full master.

    No target is ever given more than its share (≤ ⌈16384 / masters⌉), so the
    cap holds at every step, and the result is balanced to within one slot.
    """
    if not ownership:
        raise PlanError("no masters to balance")
    check_coverage(ownership)
    counts = {node: len(slots) for node, slots in ownership.items()}
    share = quotas(counts)
    surplus: list[tuple[str, int]] = []
    for node in sorted(ownership):
        extra = counts[node] - share[node]
        if extra > 0:
            surplus.extend((node, slot) for slot in sorted(ownership[node])[-extra:])
    moves, given = [], 0
    for target in sorted(ownership):
        for _ in range(max(0, share[target] - counts[target])):
            source, slot = surplus[given]
            moves.append(SlotMove(slot, source, target))
            given += 1
    return tuple(sorted(moves, key=lambda move: (move.target, move.source, move.slot)))


def plan_drain(
    ownership: Mapping[str, Collection[int]], departing: str, leaving: Collection[str] = ()
) -> tuple[SlotMove, ...]:
    """Moves that empty `departing`, each slot to whichever remaining master then holds the fewest.

    Its slots are spread over all the others (contiguous runs, one per target),
    never all onto one, and never onto a master in `leaving` (removed at the same
    time). Refuses to empty the last master: its keys would go with it.
    """
    if departing not in ownership:
        raise PlanError(f"node {departing[:8]}… is not a master of this cluster")
    staying = set(ownership) - {departing} - set(leaving)
    remaining = {node: len(slots) for node, slots in ownership.items() if node in staying}
    leaving = sorted(ownership[departing])
    if not remaining and leaving:
        raise PlanError("no master would remain: emptying this one would lose every key in the cluster")
    check_coverage(ownership)
    heap = [(count, node) for node, count in remaining.items()]
    heapq.heapify(heap)
    received = Counter[str]()
    for _ in leaving:
        count, node = heapq.heappop(heap)
        received[node] += 1
        heapq.heappush(heap, (count + 1, node))
    moves, start = [], 0
    for target in sorted(received):
        for slot in leaving[start : start + received[target]]:
            moves.append(SlotMove(slot, departing, target))
        start += received[target]
    return tuple(moves)


def find_open_slots(views: Mapping[str, Sequence[ClusterNode]]) -> tuple[OpenSlot, ...]:
    """Slots left migrating or importing, from each node's own CLUSTER NODES view."""
    migrating: dict[int, list[tuple[str, str]]] = {}
    importing: dict[int, list[tuple[str, str]]] = {}
    for view in views.values():
        me = myself(view)
        for slot, peer in me.migrating:
            migrating.setdefault(slot, []).append((me.node_id, peer))
        for slot, peer in me.importing:
            importing.setdefault(slot, []).append((me.node_id, peer))
    return tuple(
        OpenSlot(slot, tuple(migrating.get(slot, ())), tuple(importing.get(slot, ())))
        for slot in sorted(migrating.keys() | importing.keys())
    )


def plan_repair(open_slots: Sequence[OpenSlot], healthy_masters: Collection[str]) -> tuple[SlotMove, ...]:
    """How to close each open slot: finish its move, towards the node importing it or the one it migrates to.

    Finishing (rather than undoing) never loses a key: whatever part of the slot
    already reached the target stays there and the rest follows. A slot whose
    markers disagree, or whose target is gone, needs an operator: PlanError says which.
    """
    repairs = []
    for open_slot in open_slots:
        source, target = _repair_ends(open_slot)
        if target not in healthy_masters:
            raise PlanError(
                f"slot {open_slot.slot} was moving to {target[:8]}…, which is not a healthy master: "
                "it needs an operator (redis-cli --cluster fix)"
            )
        repairs.append(SlotMove(open_slot.slot, source, target))
    return tuple(repairs)


def _repair_ends(open_slot: OpenSlot) -> tuple[str, str]:
    if len(open_slot.migrating) > 1 or len(open_slot.importing) > 1:
        raise PlanError(f"slot {open_slot.slot} is open on several nodes: it needs an operator")
    if open_slot.importing:
        target, importing_from = open_slot.importing[0]
        if open_slot.migrating:
            source, migrating_to = open_slot.migrating[0]
            if migrating_to != target:
                raise PlanError(f"slot {open_slot.slot} migrates to one node and is imported by another")
            return source, target
        return importing_from, target
    source, target = open_slot.migrating[0]
    return source, target


def balance(ownership: Mapping[str, Collection[int]]) -> float:
    """How far the fullest or emptiest master is from a fair share, as a fraction of it."""
    fair = SLOTS / len(ownership)
    return max(abs(len(slots) - fair) for slots in ownership.values()) / fair


def shares_after(ownership: Mapping[str, Collection[int]], moves: Sequence[SlotMove]) -> dict[str, set[int]]:
    """The slots each master would own once the moves are done."""
    after = {node: set(slots) for node, slots in ownership.items()}
    for move in moves:
        after[move.source].discard(move.slot)
        after.setdefault(move.target, set()).add(move.slot)
    return after
