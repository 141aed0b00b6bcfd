"""Carries cluster plans out on real servers: form, add, replicate, move slots, repair, drain, forget, reset.

Every server is reached through a `Connections` factory passed in (redis-py in
production, `redis_client.RedisConnections`; anything with the same two methods
in a test). Every call is bounded: commands by the connection's timeout, waits by
`Limits.wait_timeout`.

Moving a slot follows the documented protocol: SETSLOT IMPORTING on the target,
SETSLOT MIGRATING on the source, GETKEYSINSLOT + MIGRATE (AUTH2) until the slot
is empty, then SETSLOT NODE on the target, the source and every other master.
One mover at a time: `repair`, `rebalance` and `drain` hold a lock kept in the
cluster itself, so units removed at once, or a leader growing the cluster while
a unit leaves, take turns. Slots are moved a round at a time (`Limits.slots_per_round`), each step of a
round pipelined, so a nearly empty slot costs a fraction of a round trip. A move
stopped at any point leaves open slots that `repair` finishes without losing a key.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Protocol, TypeVar

from .nodes import SLOTS, ClusterHealth, ClusterNode, health, myself, parse_cluster_nodes, parse_info, ranges_of
from .plan import (
    FormationPlan,
    OpenSlot,
    PlanError,
    SlotMove,
    find_open_slots,
    place_replicas,
    plan_drain,
    plan_rebalance,
    plan_repair,
)
from .topology import Node, Role, Topology

CommandArg = str | int | bytes
T = TypeVar("T")
# Replies a step may meet when it runs again after an interruption: the work is already done.
ALREADY_OWNER = "I'm already the owner of hash slot"
NOT_OWNER = "I'm not the owner of hash slot"
NOT_MASTER = "Please use SETSLOT only with masters"
UNKNOWN_NODE = "Unknown node"
# One mover at a time across the cluster, whichever unit runs it: a key in the
# cluster itself (so it moves with its slot), set NX with a TTL that a killed
# hook lets lapse, renewed while slots move and while a step under it waits, deleted
# only by its holder.
LOCK_KEY = "{redis-charm}:moving-slots"
LOCK_TTL_MS = 60_000
# While a step waits (a replica linking, every node forgetting a node) the held lock is renewed
# once this many seconds have passed since it was last taken or renewed: well inside its TTL.
LOCK_RENEW_EVERY = 20.0
RELEASE_LOCK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
# Hooks of one unit run one at a time: a lock held under this unit's own name was left by
# a hook that was killed, and the next hook of the unit takes it over at once.
TAKE_OVER_LOCK = (
    "local held = redis.call('get', KEYS[1]) "
    "if held and string.sub(held, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. ' ' then "
    "return redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) end return nil"
)
RENEW_LOCK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
REDIRECTS = 4


class ReplyError(Exception):
    """Redis answered a command with an error."""


class MoveInProgress(Exception):
    """Another unit holds the cluster's slot-move lock; try again in a later hook."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"{holder or 'another unit'} is moving slots")


class Unreachable(Exception):
    """A server did not answer in time, or refused the connection."""


class ClusterTimeout(Exception):
    """A bounded wait ended before the cluster reached the state waited for."""


class ClusterError(Exception):
    """The cluster is not in a state where the step can be taken safely."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class Connection(Protocol):
    def command(self, *args: CommandArg) -> Any:
        """One command's reply; raises ReplyError or Unreachable."""

    def pipeline(self, commands: Sequence[Sequence[CommandArg]]) -> list[Any]:
        """Every command's reply in order, a ReplyError instance for each that failed; raises Unreachable."""

    def close(self) -> None: ...


class Connections(Protocol):
    def connect(self, endpoint: Endpoint) -> Connection: ...


@dataclass(frozen=True)
class HeldLock:
    """The slot-move lock as its holder keeps it: the node it was asked through, its value, when last set."""

    seed: Endpoint
    value: str
    renewed_at: float


@dataclass(frozen=True)
class MigrateAuth:
    """The user MIGRATE authenticates as on the target (AUTH2); the password never appears in a repr."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Limits:
    keys_per_migrate: int = 1000
    slots_per_round: int = 64
    migrate_timeout_ms: int = 10_000
    wait_timeout: float = 60.0
    poll_interval: float = 0.1
    # How long a report waits for settling nodes (ClusterNode.is_settling) to settle: a
    # suspected failure becomes `fail` about one node timeout (5 s) after the link went.
    settle_timeout: float = 12.0


@dataclass(frozen=True)
class MoveProgress:
    """Where a move stands for one target: slots finished of those planned, keys moved so far."""

    target: str
    done: int
    total: int
    keys: int


Progress = Callable[[MoveProgress], None]


def progress_message(progress: MoveProgress, unit_of: Mapping[str, str]) -> str:
    """Status text such as 'moving slots: 2048 of 5461 to redis/3'."""
    target = unit_of.get(progress.target, progress.target[:8])
    return f"moving slots: {progress.done} of {progress.total} to {target}"


def endpoint_of(node: ClusterNode) -> Endpoint:
    return Endpoint(node.host, node.port)


def _text(reply: Any) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def _check(replies: Iterable[Any], tolerated: tuple[str, ...] = ()) -> None:
    for reply in replies:
        if isinstance(reply, ReplyError) and not any(text in str(reply) for text in tolerated):
            raise reply


def _members(view: Iterable[ClusterNode]) -> tuple[ClusterNode, ...]:
    return tuple(node for node in view if not node.flags & {"handshake", "noaddr"})


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class _Tally:
    """Slots planned and done per target, and keys moved, for progress reports."""

    progress: Progress | None
    totals: dict[str, int] = field(default_factory=dict)
    done: dict[str, int] = field(default_factory=dict)
    keys: int = 0

    def plan(self, target: str) -> None:
        self.totals[target] = self.totals.get(target, 0) + 1
        self.done.setdefault(target, 0)

    def report(self, target: str, moving: int) -> None:
        """`moving`: keys already moved in the round under way."""
        if self.progress:
            self.progress(MoveProgress(target, self.done[target], self.totals[target], self.keys + moving))


class ClusterExecutor:
    """Drives real cluster nodes; one instance per hook, closed at its end."""

    def __init__(
        self,
        connections: Connections,
        auth: MigrateAuth,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        holder: str = "",
    ) -> None:
        """`holder` names who moves slots (the unit), for others to read while they wait."""
        self.holder = holder
        self._lock: HeldLock | None = None
        self._lock_owner: Endpoint | None = None
        self._connections = connections
        self._auth = auth
        self.limits = limits or Limits()
        self._clock = clock
        self._sleep = sleep
        self._open: dict[Endpoint, Connection] = {}

    def close(self) -> None:
        for connection in self._open.values():
            connection.close()
        self._open.clear()

    def __enter__(self) -> ClusterExecutor:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _on(self, endpoint: Endpoint) -> Connection:
        if endpoint not in self._open:
            self._open[endpoint] = self._connections.connect(endpoint)
        return self._open[endpoint]

    # What the nodes say

    def view(self, endpoint: Endpoint) -> tuple[ClusterNode, ...]:
        """CLUSTER NODES as this node sees the cluster."""
        return parse_cluster_nodes(_text(self._on(endpoint).command("CLUSTER", "NODES")))

    def info(self, endpoint: Endpoint) -> Mapping[str, str]:
        return parse_info(_text(self._on(endpoint).command("CLUSTER", "INFO")))

    def node_id(self, endpoint: Endpoint) -> str:
        return _text(self._on(endpoint).command("CLUSTER", "MYID"))

    def settled_view(self, endpoint: Endpoint) -> tuple[ClusterNode, ...]:
        """CLUSTER NODES once no node is settling, or as it stands after `limits.settle_timeout`.

        A node whose peer just changed its announced port sees that peer's link down
        for a moment; what the charm reports or decides on must not be that moment.
        """
        deadline = self._clock() + self.limits.settle_timeout
        while True:
            nodes = self.view(endpoint)
            if not any(node.is_settling for node in nodes) or self._clock() >= deadline:
                return nodes
            self._pause()

    def health(self, endpoint: Endpoint) -> ClusterHealth:
        """The cluster as this node sees it once settled, for the unit's status."""
        nodes = self.settled_view(endpoint)
        return health(self.info(endpoint), nodes)

    def members(self, seed: Endpoint) -> tuple[ClusterNode, ...]:
        """The nodes `seed` knows, less those it only half knows (handshake, no address)."""
        return _members(self.view(seed))

    def ownership(self, seed: Endpoint) -> dict[str, set[int]]:
        """Master id → slots, as `seed` sees it once settled; refuses while any master is failing."""
        masters = [node for node in _members(self.settled_view(seed)) if node.is_master]
        failing = [node.node_id[:8] for node in masters if not node.is_healthy]
        if failing:
            raise ClusterError(f"master {', '.join(failing)} is failing or unreachable: no slot is moved")
        return {node.node_id: node.slot_set() for node in masters}

    def topology(self, seed: Endpoint, unit_of: Mapping[Endpoint, str]) -> Topology:
        """The topology to share: every member whose endpoint belongs to a unit."""
        nodes = []
        for node in self.members(seed):
            unit = unit_of.get(endpoint_of(node))
            if unit is not None:
                role = Role.MASTER if node.is_master else Role.REPLICA
                master = "" if node.is_master else node.master_id
                nodes.append(Node(unit, node.node_id, node.host, node.port, role, master))
        return Topology(tuple(nodes))

    def _wait(self, what: str, check: Callable[[], bool], timeout: float | None = None) -> None:
        deadline = self._clock() + (self.limits.wait_timeout if timeout is None else timeout)
        last_error = ""
        while True:
            try:
                if check():
                    return
            except (Unreachable, ReplyError) as error:
                last_error = f" (last error: {error})"
            if self._clock() >= deadline:
                raise ClusterTimeout(f"gave up waiting for {what}{last_error}")
            self._pause()

    def _pause(self) -> None:
        """Wait one poll interval, keeping the slot-move lock (if held) from lapsing meanwhile."""
        if self._lock is not None and self._clock() - self._lock.renewed_at >= LOCK_RENEW_EVERY:
            self._renew_lock()
        self._sleep(self.limits.poll_interval)

    def wait_until(self, what: str, check: Callable[[], bool], timeout: float | None = None) -> None:
        """Poll `check` until it holds; ClusterTimeout naming `what` after `timeout` (default: the limits')."""
        self._wait(what, check, timeout)

    def _knows_all(self, endpoint: Endpoint, node_ids: set[str]) -> bool:
        healthy = {node.node_id for node in self.view(endpoint) if node.is_healthy}
        return node_ids <= healthy

    def _serving(self, endpoint: Endpoint) -> bool:
        info = self.info(endpoint)
        return info.get("cluster_state") == "ok" and info.get("cluster_slots_ok") == str(SLOTS)

    def wait_settled(self, seed: Endpoint, timeout: float | None = None) -> None:
        """Until every member sees every member healthy, and every member serves all slots."""

        def settled() -> bool:
            members = self.members(seed)
            ids = {node.node_id for node in members}
            return all(self._knows_all(endpoint_of(node), ids) and self._serving(endpoint_of(node)) for node in members)

        self._wait("every node to know every node and cluster_state:ok", settled, timeout)

    # Forming and growing

    def form(self, plan: FormationPlan, endpoints: Mapping[str, Endpoint]) -> Topology:
        """Slots on the masters, every node met from the first master, replicas attached; resumable.

        Returns the topology once every node knows every node and serves all slots.
        """
        units = [share.unit for share in plan.masters] + [replica.unit for replica in plan.replicas]
        ids = {unit: self.node_id(endpoints[unit]) for unit in units}
        for epoch, unit in enumerate(units, 1):
            self._set_first_epoch(endpoints[unit], epoch)
        for share in plan.masters:
            self._add_slots(endpoints[share.unit], {slot for r in share.slots for slot in r.slots()})
        leader = endpoints[plan.masters[0].unit]
        known = {node.node_id for node in self.view(leader)}
        for unit in units:
            if ids[unit] not in known:
                self._on(leader).command("CLUSTER", "MEET", endpoints[unit].host, endpoints[unit].port)
        everyone = set(ids.values())
        self._wait(
            "every node to know every node",
            lambda: all(self._knows_all(endpoints[unit], everyone) for unit in units),
        )
        for replica in plan.replicas:
            self.replicate(endpoints[replica.unit], ids[replica.master])
        roles = {ids[replica.unit]: ids[replica.master] for replica in plan.replicas}
        self._wait("every node to see every replica", lambda: all(self._sees_roles(endpoints[u], roles) for u in units))
        self._wait("cluster_state:ok on every node", lambda: all(self._serving(endpoints[u]) for u in units))
        return self.topology(leader, {endpoints[unit]: unit for unit in units})

    def _set_first_epoch(self, endpoint: Endpoint, epoch: int) -> None:
        """Distinct config epochs before meeting, so no two masters start with the same (as redis-cli does)."""
        info = self.info(endpoint)
        if info.get("cluster_current_epoch") == "0" and info.get("cluster_known_nodes") == "1":
            self._on(endpoint).command("CLUSTER", "SET-CONFIG-EPOCH", epoch)

    def _add_slots(self, endpoint: Endpoint, slots: set[int]) -> None:
        missing = slots - myself(self.view(endpoint)).slot_set()
        commands = [("CLUSTER", "ADDSLOTSRANGE", r.start, r.end) for r in ranges_of(missing)]
        if commands:
            _check(self._on(endpoint).pipeline(commands))

    def _sees_roles(self, endpoint: Endpoint, master_of: Mapping[str, str]) -> bool:
        """Whether this node sees each replica id replicating its master id."""
        view = {node.node_id: node for node in self.view(endpoint)}
        return all(
            replica in view and view[replica].is_replica and view[replica].master_id == master
            for replica, master in master_of.items()
        )

    def add_node(self, seed: Endpoint, new: Endpoint) -> str:
        """Meet `new` from `seed`; return its id once every member sees it and it serves all slots."""
        new_id = self.node_id(new)
        known_at = {node.node_id: endpoint_of(node) for node in self.members(seed)}
        if known_at.get(new_id) != new:
            # New to the cluster, or known at an address it no longer has (its unit's address
            # changed): meeting it there makes every node learn where it is now.
            self._on(seed).command("CLUSTER", "MEET", new.host, new.port)

        def joined() -> bool:
            members = self.members(seed)
            ids = {node.node_id for node in members} | {new_id}
            if not (self._knows_all(new, ids) and self._serving(new)):
                return False
            return all(self._knows_all(endpoint_of(node), {new_id}) for node in members)

        self._wait(f"{new} to be known by every node and serve all slots", joined)
        return new_id

    def replicate(self, replica: Endpoint, master_id: str) -> None:
        """Make `replica` (an empty master or a replica) replicate `master_id`.

        Waits until its link is up and the master lists it as its replica.
        """
        if myself(self.view(replica)).master_id != master_id:
            self._on(replica).command("CLUSTER", "REPLICATE", master_id)

        def linked() -> bool:
            me = myself(self.view(replica))
            replication = parse_info(_text(self._on(replica).command("INFO", "replication")))
            if me.master_id != master_id or replication.get("master_link_status") != "up":
                return False
            master = next(node for node in self.view(replica) if node.node_id == master_id)
            return self._sees_roles(endpoint_of(master), {me.node_id: master_id})

        self._wait(f"{replica} to replicate {master_id[:8]}…", linked)

    # One mover at a time

    @contextmanager
    def exclusive(self, seed: Endpoint) -> Iterator[None]:
        """Hold the cluster's slot-move lock; raises MoveInProgress naming the holder if another has it."""
        if self._lock is not None:
            yield
            return
        value = f"{self.holder or '-'} {os.urandom(8).hex()}"
        if self._keyed(seed, "SET", LOCK_KEY, value, "NX", "PX", LOCK_TTL_MS) is None and not self._take_over(
            seed, value
        ):
            held_by = _text(self._keyed(seed, "GET", LOCK_KEY) or b"")
            raise MoveInProgress(held_by.split(" ")[0].strip("-"))
        self._lock = HeldLock(seed, value, self._clock())
        try:
            yield
        finally:
            self._lock = None
            with suppress(ReplyError, Unreachable, ClusterError):
                # If this fails, the lock lapses on its own within its TTL.
                self._keyed(seed, "EVAL", RELEASE_LOCK, 1, LOCK_KEY, value)

    def _take_over(self, seed: Endpoint, value: str) -> bool:
        """Take the lock over from a killed hook of this same holder (never from another)."""
        if not self.holder:
            return False
        return self._keyed(seed, "EVAL", TAKE_OVER_LOCK, 1, LOCK_KEY, self.holder, value, LOCK_TTL_MS) is not None

    def _renew_lock(self) -> None:
        if self._lock is not None:
            held = self._lock
            if not self._keyed(held.seed, "EVAL", RENEW_LOCK, 1, LOCK_KEY, held.value, LOCK_TTL_MS):
                raise ClusterError("the slot-move lock lapsed: stopping; the next repair finishes what is open")
            self._lock = replace(held, renewed_at=self._clock())

    def _keyed(self, seed: Endpoint, *command: CommandArg) -> Any:
        """A command on the lock's key, sent to the master serving it, following MOVED and ASK."""
        endpoint, asking = self._lock_owner or self._find_lock_owner(seed), False
        for _ in range(REDIRECTS):
            replies = self._on(endpoint).pipeline([("ASKING",), command] if asking else [command])
            reply = replies[-1]
            if not isinstance(reply, ReplyError):
                if not asking:
                    self._lock_owner = endpoint
                return reply
            code, _, where = str(reply).partition(" ")
            if code not in ("MOVED", "ASK"):
                raise reply
            host, _, port = where.split(" ")[-1].rpartition(":")
            endpoint, asking = Endpoint(host, int(port)), code == "ASK"
        raise ClusterError(f"the slot of {LOCK_KEY} kept redirecting")

    def _find_lock_owner(self, seed: Endpoint) -> Endpoint:
        slot = int(self._on(seed).command("CLUSTER", "KEYSLOT", LOCK_KEY))
        owners = [node for node in self.members(seed) if node.is_master and slot in node.slot_set()]
        if not owners:
            raise ClusterError(f"no master serves slot {slot}")
        return endpoint_of(owners[0])

    # Moving slots

    def move(self, seed: Endpoint, moves: Sequence[SlotMove], progress: Progress | None = None) -> int:
        """Carry the moves out in rounds; returns the number of keys moved.

        The low-level step: `repair`, `rebalance` and `drain` call it holding the
        slot-move lock (`exclusive`), which it renews as it goes.
        """
        nodes = {node.node_id: node for node in self.members(seed)}
        masters = [node for node in nodes.values() if node.is_master and node.is_healthy]
        tally = _Tally(progress)
        groups: dict[tuple[str, str], list[int]] = {}
        for move in moves:
            tally.plan(move.target)
            groups.setdefault((move.source, move.target), []).append(move.slot)
        for (source_id, target_id), slots in groups.items():
            source, target = nodes.get(source_id), nodes.get(target_id)
            if source is None or target is None:
                raise ClusterError(f"slot {slots[0]} moves between nodes {seed} does not know")
            others = [endpoint_of(node) for node in masters if node.node_id not in (source_id, target_id)]
            report = partial(tally.report, target_id)
            report(0)  # said as the move starts, not after its first round
            for chunk in _chunks(slots, self.limits.slots_per_round):
                tally.keys += self._move_round(source, target, chunk, others, report)
                tally.done[target_id] += len(chunk)
                report(0)
        return tally.keys

    def _move_round(
        self,
        source: ClusterNode,
        target: ClusterNode,
        slots: Sequence[int],
        others: Sequence[Endpoint],
        report: Callable[[int], None],
    ) -> int:
        to_target, from_source = self._on(endpoint_of(target)), self._on(endpoint_of(source))
        _check(
            to_target.pipeline([("CLUSTER", "SETSLOT", s, "IMPORTING", source.node_id) for s in slots]),
            (ALREADY_OWNER,),
        )
        _check(
            from_source.pipeline([("CLUSTER", "SETSLOT", s, "MIGRATING", target.node_id) for s in slots]),
            (NOT_OWNER, NOT_MASTER),
        )
        moved = self._migrate_keys(from_source, target, slots, report)
        finish = [("CLUSTER", "SETSLOT", s, "NODE", target.node_id) for s in slots]
        _check(to_target.pipeline(finish))
        _check(from_source.pipeline(finish), (NOT_MASTER,))
        for other in others:
            # The others learn it by gossip anyway; telling them only makes redirections right sooner.
            with suppress(Unreachable):
                self._on(other).pipeline(finish)
        return moved

    def _migrate_keys(
        self, source: Connection, target: ClusterNode, slots: Sequence[int], report: Callable[[int], None]
    ) -> int:
        """GETKEYSINSLOT then MIGRATE, pipelined over the round's slots, until every slot is empty."""
        limits, moved = self.limits, 0
        pending = list(slots)
        while pending:
            found = source.pipeline([("CLUSTER", "GETKEYSINSLOT", s, limits.keys_per_migrate) for s in pending])
            _check(found)
            batches = [(slot, keys) for slot, keys in zip(pending, found, strict=True) if keys]
            if not batches:
                return moved
            replies = source.pipeline([self._migrate_command(target, keys) for _, keys in batches])
            for (slot, _), reply in zip(batches, replies, strict=True):
                if isinstance(reply, ReplyError):
                    raise ClusterError(f"MIGRATE of slot {slot} to {target.node_id[:8]}… failed: {reply}")
            moved += sum(len(keys) for _, keys in batches)
            self._renew_lock()
            report(moved)
            pending = [slot for slot, _ in batches]
        return moved

    def _migrate_command(self, target: ClusterNode, keys: Sequence[bytes]) -> tuple[CommandArg, ...]:
        auth = self._auth
        timeout = self.limits.migrate_timeout_ms
        return (
            "MIGRATE", target.host, target.port, "", 0, timeout,
            "AUTH2", auth.username, auth.password, "KEYS", *keys,
        )  # fmt: skip

    def open_slots(self, seed: Endpoint) -> tuple[OpenSlot, ...]:
        """Slots some master has left migrating or importing."""
        masters = [node for node in self.members(seed) if node.is_master and node.is_healthy]
        return find_open_slots({node.node_id: self.view(endpoint_of(node)) for node in masters})

    def repair(self, seed: Endpoint, progress: Progress | None = None) -> tuple[SlotMove, ...]:
        """Finish every half-done slot move (the step to take before any new one); returns what it finished."""
        with self.exclusive(seed):
            open_slots = self.open_slots(seed)
            if not open_slots:
                return ()
            healthy = {node.node_id for node in self.members(seed) if node.is_master and node.is_healthy}
            repairs = plan_repair(open_slots, healthy)
            self.move(seed, repairs, progress)
            left = self.open_slots(seed)
            if left:
                raise ClusterError(f"slot {left[0].slot} is still open after repair")
            return repairs

    def rebalance(self, seed: Endpoint, progress: Progress | None = None) -> tuple[SlotMove, ...]:
        """Repair, then give every master (empty new ones included) its fair share of slots."""
        with self.exclusive(seed):
            self.repair(seed, progress)
            moves = plan_rebalance(self.ownership(seed))
            self.move(seed, moves, progress)
            return moves

    # Shrinking

    def drain(
        self, seed: Endpoint, departing: str, progress: Progress | None = None, leaving: Collection[str] = ()
    ) -> tuple[SlotMove, ...]:
        """Repair, move every slot of `departing` to the other masters, give its replicas other masters.

        `leaving`: other nodes on their way out (several units removed at once), given no slots.
        """
        with self.exclusive(seed):
            self.repair(seed, progress)
            ownership = self.ownership(seed)
            moves = plan_drain(ownership, departing, leaving) if departing in ownership else ()
            self.move(seed, moves, progress)
            self._rehome_replicas(seed, departing)
            return moves

    def _rehome_replicas(self, seed: Endpoint, departing: str) -> None:
        members = self.members(seed)
        orphans = [node for node in members if node.master_id == departing and node.node_id != departing]
        if not orphans:
            return
        masters = [node for node in members if node.is_master and node.slot_count and node.node_id != departing]
        if not masters:
            raise PlanError("no other master left to replicate")
        counts: dict[str, int] = {}
        for node in members:
            if node.master_id:
                counts[node.master_id] = counts.get(node.master_id, 0) + 1
        placed = place_replicas([m.node_id for m in masters], counts, [o.node_id for o in orphans])
        endpoints = {node.node_id: endpoint_of(node) for node in orphans}
        for assignment in placed:
            self.replicate(endpoints[assignment.unit], assignment.master)

    def forget(self, seed: Endpoint, node_id: str) -> None:
        """CLUSTER FORGET `node_id` on every other node `seed` knows, until none of them lists it."""
        others = [endpoint_of(node) for node in self.members(seed) if node.node_id != node_id]
        for endpoint in others:
            try:
                self._on(endpoint).command("CLUSTER", "FORGET", node_id)
            except ReplyError as error:
                if UNKNOWN_NODE not in str(error):
                    raise

        def forgotten() -> bool:
            return all(node_id not in {node.node_id for node in self.view(endpoint)} for endpoint in others)

        self._wait(f"every node to forget {node_id[:8]}…", forgotten)

    def reset(self, endpoint: Endpoint) -> None:
        """CLUSTER RESET HARD on a drained node: it leaves the cluster with a new id and no data."""
        me = myself(self.view(endpoint))
        if me.is_master and me.slot_count:
            raise ClusterError(f"{endpoint} still holds {me.slot_count} slots: drain it first")
        self._on(endpoint).command("CLUSTER", "RESET", "HARD")

    def retire(
        self, endpoint: Endpoint, progress: Progress | None = None, leaving: Collection[str] = ()
    ) -> tuple[SlotMove, ...]:
        """What a departing unit does for its own node: drain, be forgotten everywhere, reset.

        A client still holding the old slot map gets CLUSTERDOWN from the reset
        node rather than a redirection, so the service should stop right after.
        """
        node_id = self.node_id(endpoint)
        moves = self.drain(endpoint, node_id, progress, leaving)
        self.forget(endpoint, node_id)
        self.reset(endpoint)
        return moves
