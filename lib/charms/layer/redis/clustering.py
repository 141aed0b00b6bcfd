"""Cluster mode for the handlers: form, grow, report and retire, from what Juju told the unit.

The handlers gather a `View` (this unit, the ready peers, the shared topology,
the dying units) at the edge; these functions talk to the Redis nodes through
the cluster executor and return a `Step`: the status to show and, for the
leader, the topology to share. Nothing here calls Juju.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TypeVar

from charms.layer.redis.cluster.executor import (
    ClusterError,
    ClusterExecutor,
    ClusterTimeout,
    Endpoint,
    Limits,
    MigrateAuth,
    MoveInProgress,
    MoveProgress,
    ReplyError,
    Unreachable,
    endpoint_of,
    progress_message,
)
from charms.layer.redis.cluster.nodes import SLOTS, ClusterNode, ClusterNodesError
from charms.layer.redis.cluster.plan import (
    PlanError,
    plan_formation,
    plan_rebalance,
    units_needed,
    wanted_master,
)
from charms.layer.redis.cluster.redis_client import RedisConnections
from charms.layer.redis.cluster.topology import Topology, TopologyError, decode, unit_order

Say = Callable[[str], None]
T = TypeVar("T")
# What a step may meet on a cluster that is busy, changing or partly down; the
# step says so in the status and the next hook tries again.
EXPECTED_ERRORS = (ClusterError, ClusterTimeout, Unreachable, ReplyError, PlanError, TopologyError, ClusterNodesError)
# What plan_drain says when the node to empty is the last master.
LAST_MASTER = "no master would remain"
# What a departing unit says (status and log) when it is the last master.
KEYS_GO_WITH_IT = "this is the last master: its keys go with it"
# How long a departing unit waits for another unit's slot moves before its own drain.
RETIRE_WAIT = 600.0
# Status updates during a long move, at most one per this many seconds.
PROGRESS_EVERY = 1.0


@dataclass(frozen=True)
class View:
    """What Juju told this unit about the cluster."""

    unit: str
    own: Endpoint
    password: str = field(repr=False)
    replicas: int
    # Every unit whose Redis runs in cluster mode (this one included), by unit.
    ready: Mapping[str, Endpoint]
    topology: Topology | None = None
    dying: frozenset[str] = frozenset()
    # The user the cluster steps log in as on every node (the charm's admin user once it exists).
    username: str = "default"
    # The CA file when the nodes are reached over TLS (the cluster formed with TLS), else None.
    ca_file: str | None = None


@dataclass(frozen=True)
class Step:
    """The status a cluster step leaves, and the topology the leader should share (None: unchanged)."""

    status: str
    message: str
    topology: Topology | None = None
    retry: bool = False


def read_topology(text: str | None) -> Topology | None:
    return decode(text) if text else None


def executor(view: View) -> ClusterExecutor:
    return ClusterExecutor(
        RedisConnections(view.password, view.username, ca_file=view.ca_file),
        MigrateAuth(view.username, view.password),
        Limits(),
        holder=view.unit,
    )


def node_id(endpoint: Endpoint, password: str, username: str = "default", ca_file: str | None = None) -> str:
    """This unit's node id, once its Redis answers in cluster mode (over TLS, verified, with `ca_file`)."""
    connections = RedisConnections(password, username, ca_file=ca_file)
    with ClusterExecutor(connections, MigrateAuth(username, password)) as cluster:
        return cluster.node_id(endpoint)


def throttled(
    say: Say, unit_of: Mapping[str, str], clock: Callable[[], float] = time.monotonic
) -> Callable[[MoveProgress], None]:
    """A progress callback that says where a move stands, at most once a second, and when it is done."""
    last = [0.0]

    def report(progress: MoveProgress) -> None:
        now = clock()
        if now - last[0] >= PROGRESS_EVERY or progress.done == progress.total:
            last[0] = now
            say(progress_message(progress, unit_of))

    return report


def waiting_for_units(view: View) -> Step:
    needed = units_needed(view.replicas)
    return Step(
        "waiting",
        f"{len(view.ready)} of {needed} units ready for the cluster (3 masters, {view.replicas} replicas each)",
    )


def when_free(
    work: Callable[[], T],
    say: Say,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `work`, again while another unit holds the slot-move lock, for up to RETIRE_WAIT seconds.

    No later hook may come to try again, so the waiting happens here.
    """
    deadline = clock() + RETIRE_WAIT
    while True:
        try:
            return work()
        except MoveInProgress as busy:
            if clock() >= deadline:
                raise ClusterError(f"{busy} for longer than {RETIRE_WAIT:g} s") from None
            say(f"waiting for the cluster: {busy}")
            sleep(1.0)


def lead(view: View, say: Say) -> Step:
    """The leader's step on every hook: form the cluster, or bring ready units into it and balance it."""
    with executor(view) as cluster:
        try:
            if view.topology is None and cluster.info(view.own).get("cluster_state") != "ok":
                return form(view, cluster, say)
            return when_free(lambda: grow(view, cluster, say), say)
        except EXPECTED_ERRORS as error:
            return Step("blocked", f"cluster: {error}", retry=True)


def form(view: View, cluster: ClusterExecutor, say: Say) -> Step:
    if len(view.ready) < units_needed(view.replicas):
        return waiting_for_units(view)
    plan = plan_formation(list(view.ready), view.replicas)
    say(f"forming the cluster: {len(plan.masters)} masters, {len(plan.replicas)} replicas")
    topology = cluster.form(plan, view.ready)
    return Step("active", report_health(cluster, view.own), topology)


def seed_of(view: View, cluster: ClusterExecutor) -> Endpoint:
    """A member to ask about the cluster: this unit if it is one, else a node of the topology."""
    if cluster.info(view.own).get("cluster_state") == "ok":
        return view.own
    for node in view.topology.nodes if view.topology else ():
        if node.unit in view.ready and node.unit not in view.dying:
            return view.ready[node.unit]
    raise ClusterError("no unit of the shared topology is ready to be asked")


def grow(view: View, cluster: ClusterExecutor, say: Say) -> Step:
    """Meet the ready units not in the cluster, make replicas of those wanted as such, then balance."""
    seed = seed_of(view, cluster)
    unit_of = {endpoint: unit for unit, endpoint in view.ready.items()}
    members = {endpoint_of(node) for node in cluster.members(seed)}
    joining = sorted(
        (unit for unit, endpoint in view.ready.items() if endpoint not in members and unit not in view.dying),
        key=unit_order,
    )
    for unit in joining:
        say(f"adding {unit} to the cluster")
        cluster.add_node(seed, view.ready[unit])
    place(view, cluster, seed, unit_of, say)
    balance(view, cluster, seed, unit_of, say)
    return Step("active", report_health(cluster, seed), cluster.topology(seed, unit_of))


def place(view: View, cluster: ClusterExecutor, seed: Endpoint, unit_of: Mapping[Endpoint, str], say: Say) -> None:
    """Make replicas of the empty masters the masters lacking replicas want; the rest get slots next.

    An empty master is a unit not placed yet: just added, or met by a step that stopped
    before placing it (a formation a leader left half-way, a hook killed after add_node).
    """
    while True:
        members = cluster.members(seed)
        empty = {
            unit_of[endpoint_of(node)]
            for node in members
            if node.is_master and not node.slot_count and unit_of.get(endpoint_of(node)) in view.ready
        } - view.dying
        if not empty:
            return
        topology = cluster.topology(seed, unit_of)
        for unit in empty:
            topology = topology.without(unit)
        master = wanted_master(topology, view.replicas)
        if master is None:
            return
        unit = min(empty, key=unit_order)
        say(f"making {unit} a replica of {master}")
        cluster.replicate(view.ready[unit], topology.by_unit[master].node_id)


def balance(view: View, cluster: ClusterExecutor, seed: Endpoint, unit_of: Mapping[Endpoint, str], say: Say) -> None:
    """Give every master its share, unless a unit is on its way out (it drains itself first)."""
    members = cluster.members(seed)
    staying = {unit for unit in view.ready if unit not in view.dying}
    if any(unit_of.get(endpoint_of(node)) not in staying for node in members):
        return
    if not cluster.open_slots(seed) and not plan_rebalance(cluster.ownership(seed)):
        return
    names = {node.node_id: unit_of[endpoint_of(node)] for node in members}
    cluster.rebalance(seed, throttled(say, names))


def report_health(cluster: ClusterExecutor, endpoint: Endpoint) -> str:
    return cluster.health(endpoint).message


def member_status(view: View) -> Step:
    """Every unit's status in cluster mode: waiting until it is in the cluster, then the cluster's health."""
    if view.topology is None:
        return waiting_for_units(view)
    if view.unit not in view.topology.by_unit:
        return Step("waiting", "waiting for the leader to add this unit to the cluster")
    try:
        with executor(view) as cluster:
            health = cluster.health(view.own)
    except EXPECTED_ERRORS as error:
        return Step("blocked", f"cluster: {error}")
    return Step("active" if health.ok else "blocked", health.message)


def await_departure(view: View, unit: str, say: Say, timeout: float = RETIRE_WAIT) -> None:
    """On a staying unit hearing `unit` depart: wait while that unit's node hands its slots over.

    The departing unit does the work in its own hooks; waiting here means the
    status and the shared topology that follow are those of the cluster without it.
    A unit on its way out itself does not wait: the other may be a last master that
    keeps its slots (as when the whole application goes), and nothing follows here.
    """
    gone = view.topology.by_unit.get(unit) if view.topology else None
    if gone is None or view.unit in view.dying:
        return
    say(f"waiting for {unit} to hand its slots over and leave the cluster")
    with executor(view) as cluster:

        def forgotten() -> bool:
            return gone.node_id not in {node.node_id for node in cluster.members(view.own)}

        # On timeout, the status that follows says what the cluster looks like now.
        with suppress(ClusterTimeout):
            cluster.wait_until(f"{unit} to leave the cluster", forgotten, timeout)


def left_alone(members: Sequence[ClusterNode], me: str, leaving: Collection[str]) -> Step | None:
    """The step of a node whose every other master leaves too (the whole application goes); None otherwise.

    Decided before anything that needs the other nodes: they may be stopping already.
    """
    staying = [node for node in members if node.node_id != me and node.node_id not in leaving]
    if any(node.is_master for node in staying):
        return None
    mine = next((node for node in members if node.node_id == me), None)
    if mine is not None and mine.is_master and mine.slot_count:
        return Step("blocked", f"{KEYS_GO_WITH_IT} (every other master is leaving too)")
    if not staying:
        return Step("maintenance", "every other node is leaving too: nothing to hand over")
    return None


def retire(view: View, say: Say, clock: Callable[[], float] = time.monotonic) -> Step:
    """A departing unit's own node: hand its slots to the staying masters, be forgotten, reset.

    Waits its turn while another unit moves slots. The last master is never
    emptied: the step says its keys go with it.
    """
    with executor(view) as cluster:
        try:
            info = cluster.info(view.own)
            if info.get("cluster_known_nodes", "1") == "1":
                held = int(info.get("cluster_slots_assigned", "0"))
                if held:
                    return Step("blocked", f"{KEYS_GO_WITH_IT} (no other node to hand its {held} slots to)")
                return Step("maintenance", "not in a cluster: nothing to hand over")
            me = cluster.node_id(view.own)
            topology = view.topology or Topology()
            leaving = {node.node_id for node in topology.nodes if node.unit in view.dying and node.node_id != me}
            alone = left_alone(cluster.members(view.own), me, leaving)
            if alone is not None:
                return alone
            unit_of = {node.node_id: node.unit for node in topology.nodes}
            moves = when_free(lambda: cluster.retire(view.own, throttled(say, unit_of), leaving), say, clock)
        except PlanError as error:
            if LAST_MASTER not in str(error):
                return Step("blocked", f"leaving the cluster failed: {error}", retry=True)
            return Step("blocked", f"{KEYS_GO_WITH_IT} ({error})")
        except EXPECTED_ERRORS as error:
            return Step("blocked", f"leaving the cluster failed: {error}", retry=True)
    return Step("maintenance", f"left the cluster after handing over {len(moves)} of {SLOTS} slots")
