"""The cluster executor's reports, waits and refusals, driven through scripted nodes and a fake clock.

Fast: no server at all, except the last tests, of what the slot-move lock's
scripts do in Redis, on one real redis-server serving every slot on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from cluster_helpers import (
    Command,
    FakeClock,
    LocalCluster,
    ScriptedConnections,
    local_cluster,
    node_line,
)

from charms.layer.redis.cluster.executor import (
    LOCK_RENEW_EVERY,
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
    progress_message,
)
from charms.layer.redis.cluster.nodes import SLOTS, SlotRange
from charms.layer.redis.cluster.plan import PlanError, SlotMove, plan_formation

A, B, C, D, E, F = (letter * 40 for letter in "abcdef")
PORT = {A: 7001, B: 7002, C: 7003, D: 7004, E: 7005, F: 7006}
SLOTS_OF = {A: "0-5460", B: "5461-10922", C: "10923-16383"}
SERVING = b"cluster_state:ok\r\ncluster_slots_ok:16384\r\n"


def at(node_id: str) -> Endpoint:
    return Endpoint("127.0.0.1", PORT[node_id])


def three_masters(asked: Endpoint, flags: dict[str, str] | None = None, link: str = "connected") -> list[str]:
    """CLUSTER NODES lines of masters a, b, c as `asked` sees them; `flags` and `link` for b and c."""
    lines = []
    for node_id, slots in SLOTS_OF.items():
        if at(node_id) == asked:
            lines.append(node_line(node_id, PORT[node_id], "myself,master", slots))
        else:
            lines.append(node_line(node_id, PORT[node_id], (flags or {}).get(node_id, "master"), slots, link=link))
    return lines


def text(lines: list[str]) -> bytes:
    return "\n".join(lines).encode()


def executor_on(connections: ScriptedConnections, limits: Limits | None = None) -> tuple[ClusterExecutor, FakeClock]:
    clock = FakeClock()
    auth = MigrateAuth("replicator", "s3cret")
    return ClusterExecutor(connections, auth, limits, clock=clock, sleep=clock.sleep), clock


def test_members_and_the_shared_topology_leave_out_nodes_only_half_known():
    # redis/3's node is still in its handshake, and a node lost its address: neither is a member yet.
    half_known = [node_line(D, PORT[D], "handshake", link="disconnected"), node_line(E, 0, "master,noaddr")]

    def answer(asked: Endpoint, command: Command) -> bytes:
        assert command == ("CLUSTER", "NODES")
        return text(three_masters(asked) + half_known)

    executor, _ = executor_on(ScriptedConnections(answer))
    assert [node.node_id for node in executor.members(at(A))] == [A, B, C]
    units = {at(A): "redis/0", at(B): "redis/1", at(C): "redis/2", at(D): "redis/3", at(E): "redis/4"}
    topology = executor.topology(at(A), units)
    assert [(node.unit, node.node_id) for node in topology.nodes] == [("redis/0", A), ("redis/1", B), ("redis/2", C)]


def test_slots_are_not_moved_while_masters_fail_and_the_refusal_names_each_of_them():
    def answer(asked: Endpoint, command: Command) -> bytes:
        return text(three_masters(asked, {B: "master,fail", C: "master,fail"}, link="disconnected"))

    executor, clock = executor_on(ScriptedConnections(answer))
    with pytest.raises(ClusterError) as refused:
        executor.ownership(at(A))
    assert str(refused.value) == "master bbbbbbbb, cccccccc is failing or unreachable: no slot is moved"
    assert clock.now == 0


def test_a_report_waits_for_a_settling_node_no_longer_than_the_settle_time():
    def answer(asked: Endpoint, command: Command) -> bytes:
        if command == ("CLUSTER", "INFO"):
            return SERVING
        return text(three_masters(asked, link="disconnected"))

    connections = ScriptedConnections(answer)
    limits = Limits(settle_timeout=0.5, poll_interval=0.25)
    executor, clock = executor_on(connections, limits)
    report = executor.health(at(A))
    assert (report.ok, report.troubled) == (False, 2)
    assert clock.now == limits.settle_timeout
    assert connections.sent_to(at(A)).count(("CLUSTER", "NODES")) == 3


class Serving:
    """CLUSTER INFO of masters a, b, c, where c serves all slots only from its `c_ok_after`-th answer on."""

    def __init__(self, c_ok_after: int) -> None:
        self.c_ok_after = c_ok_after
        self.asked_c = 0

    def __call__(self, asked: Endpoint, command: Command) -> bytes:
        if command == ("CLUSTER", "NODES"):
            return text(three_masters(asked))
        if asked == at(C):
            self.asked_c += 1
            if self.asked_c < self.c_ok_after:
                return b"cluster_state:fail\r\ncluster_slots_ok:10923\r\n"
        return SERVING


def test_waiting_for_the_cluster_to_settle_lasts_until_every_node_serves_all_slots():
    limits = Limits(wait_timeout=5.0, poll_interval=0.25)
    executor, clock = executor_on(ScriptedConnections(Serving(c_ok_after=3)), limits)
    executor.wait_settled(at(A))
    assert clock.now == 0.5


def test_a_wait_gives_up_exactly_at_its_bound_and_says_what_it_waited_for():
    limits = Limits(wait_timeout=1.0, poll_interval=0.25)
    executor, clock = executor_on(ScriptedConnections(Serving(c_ok_after=1000)), limits)
    with pytest.raises(ClusterTimeout) as timeout:
        executor.wait_settled(at(A))
    assert str(timeout.value) == "gave up waiting for every node to know every node and cluster_state:ok"
    assert clock.now == limits.wait_timeout


class Forgetting:
    """Masters a, b, c, each listing d until told to forget it; b forgot it already."""

    def __init__(self, refusal: str = "") -> None:
        self.forgot = {at(B)}
        self.refusal = refusal

    def __call__(self, asked: Endpoint, command: Command) -> bytes:
        if command[:2] == ("CLUSTER", "FORGET"):
            if asked in self.forgot:
                raise ReplyError(f"ERR Unknown node {command[2]}")
            if self.refusal and asked == at(C):
                raise ReplyError(self.refusal)
            self.forgot.add(asked)
            return b"OK"
        departing = [] if asked in self.forgot else [node_line(D, PORT[D], "master", link="disconnected")]
        return text(three_masters(asked) + departing)


def test_forgetting_a_node_goes_on_past_a_node_that_already_forgot_it():
    connections = ScriptedConnections(Forgetting())
    executor, _ = executor_on(connections)
    executor.forget(at(A), D)
    told = [endpoint for endpoint, command in connections.sent if command == ("CLUSTER", "FORGET", D)]
    assert told == [at(A), at(B), at(C)]


def test_forgetting_stops_at_any_other_refusal():
    executor, _ = executor_on(ScriptedConnections(Forgetting(refusal="ERR Can't forget my master!")))
    with pytest.raises(ReplyError, match="Can't forget my master"):
        executor.forget(at(A), D)


class Healthy:
    """Masters a, b, c serving every slot, holding `keys` by slot; the slot-move lock's key is in a's slot 7, free."""

    def __init__(self, keys: dict[int, list[bytes]] | None = None) -> None:
        self.keys = keys or {}
        self.lock_value = ""

    def nodes(self, asked: Endpoint) -> list[str]:
        return three_masters(asked)

    def migrate(self, command: Command) -> bytes:
        self.keys = {slot: [key for key in keys if key not in command] for slot, keys in self.keys.items()}
        return b"OK"

    def setslot(self, asked: Endpoint, command: Command) -> bytes:
        return b"OK"

    def lock(self, asked: Endpoint, command: Command) -> object:
        """SET NX takes the lock; a script (renewal, release) succeeds when given the lock's key and its value.

        As EVAL reads its arguments: the first `numkeys` are KEYS, the rest ARGV.
        """
        if command[0] == "SET":
            self.lock_value = str(command[2])
            return b"OK"
        keys = int(command[2])
        given_keys, given_arguments = command[3 : 3 + keys], command[3 + keys :]
        return int(given_keys == ("{redis-charm}:moving-slots",) and given_arguments[:1] == (self.lock_value,))

    def __call__(self, asked: Endpoint, command: Command) -> object:
        if command == ("CLUSTER", "NODES"):
            return text(self.nodes(asked))
        if command[:2] == ("CLUSTER", "KEYSLOT"):
            return 7
        if command[:2] == ("CLUSTER", "GETKEYSINSLOT"):
            return self.keys.get(int(command[2]), [])[: int(command[3])]
        if command[:2] == ("CLUSTER", "SETSLOT"):
            return self.setslot(asked, command)
        if command[0] == "MIGRATE":
            return self.migrate(command)
        if command[0] in ("SET", "GET", "EVAL"):
            return self.lock(asked, command)
        return b"OK"


def setslot_node_sent(connections: ScriptedConnections) -> list[Endpoint]:
    return [
        endpoint
        for endpoint, command in connections.sent
        if command[:2] == ("CLUSTER", "SETSLOT") and command[3] == "NODE"
    ]


class SlotAlreadyMoved(Healthy):
    """A hook killed after SETSLOT NODE reached b and a: b owns slot 7 and a no longer does."""

    def setslot(self, asked: Endpoint, command: Command) -> bytes:
        if command[3] == "IMPORTING":
            raise ReplyError("ERR I'm already the owner of hash slot 7")
        if command[3] == "MIGRATING":
            raise ReplyError("ERR I'm not the owner of hash slot 7")
        return b"OK"


class SourceNowReplica(Healthy):
    """a gave away its last slot and so became a replica of b, which took it; b still shows slot 7 importing."""

    def nodes(self, asked: Endpoint) -> list[str]:
        lines = three_masters(asked)
        lines[0] = node_line(A, PORT[A], "myself,slave" if asked == at(A) else "slave", master=B)
        return lines

    def setslot(self, asked: Endpoint, command: Command) -> bytes:
        if asked == at(A):
            raise ReplyError("ERR Please use SETSLOT only with masters.")
        return b"OK"


@pytest.mark.parametrize("cluster", [SlotAlreadyMoved, SourceNowReplica])
def test_a_move_resumed_after_part_of_it_was_done_still_gives_the_target_the_slot(cluster):
    connections = ScriptedConnections(cluster())
    executor, _ = executor_on(connections)
    assert executor.move(at(B), [SlotMove(7, A, B)]) == 0
    assert setslot_node_sent(connections) == [at(B), at(A), at(C)]


def test_the_migrate_password_is_sent_only_to_the_target_and_shows_in_no_repr():
    connections = ScriptedConnections(Healthy(keys={7: [b"k1"]}))
    executor, _ = executor_on(connections)
    assert executor.move(at(A), [SlotMove(7, A, B)]) == 1
    migrate = [command for command in connections.sent_to(at(A)) if command[0] == "MIGRATE"]
    assert migrate == [("MIGRATE", "127.0.0.1", PORT[B], "", 0, 10_000, "AUTH2", "replicator", "s3cret", "KEYS", b"k1")]
    assert "s3cret" not in repr(MigrateAuth("replicator", "s3cret"))


def test_a_failed_migrate_stops_the_move_naming_the_slot_and_leaves_it_open_for_repair():
    class TargetDown(Healthy):
        def migrate(self, command: Command) -> bytes:
            raise ReplyError("IOERR error or timeout reading to target instance")

    connections = ScriptedConnections(TargetDown(keys={7: [b"k1"]}))
    executor, _ = executor_on(connections)
    with pytest.raises(ClusterError) as failed:
        executor.move(at(A), [SlotMove(7, A, B)])
    assert (
        str(failed.value) == "MIGRATE of slot 7 to bbbbbbbb… failed: IOERR error or timeout reading to target instance"
    )
    assert setslot_node_sent(connections) == []


def test_a_move_between_nodes_the_seed_does_not_know_is_refused_before_any_step():
    connections = ScriptedConnections(Healthy())
    executor, _ = executor_on(connections)
    with pytest.raises(ClusterError) as refused:
        executor.move(at(A), [SlotMove(7, A, D)])
    assert str(refused.value) == "slot 7 moves between nodes 127.0.0.1:7001 does not know"
    assert [command for _, command in connections.sent if command[:2] == ("CLUSTER", "SETSLOT")] == []


def test_a_move_under_the_lock_renews_it_after_each_batch_of_keys():
    connections = ScriptedConnections(Healthy(keys={7: [b"k1", b"k2", b"k3"]}))
    executor, _ = executor_on(connections, Limits(keys_per_migrate=2))
    with executor.exclusive(at(A)):
        assert executor.move(at(A), [SlotMove(7, A, B)]) == 3
    steps = [command[0] for _, command in connections.sent if command[0] in ("MIGRATE", "EVAL")]
    assert steps == ["MIGRATE", "EVAL", "MIGRATE", "EVAL", "EVAL"]  # the last one releases it
    assert setslot_node_sent(connections) == [at(B), at(A), at(C)]


def test_a_lock_that_lapsed_while_keys_moved_stops_the_move_and_leaves_the_slot_open():
    class Lapsing(Healthy):
        def lock(self, asked: Endpoint, command: Command) -> object:
            renewing = command[0] == "EVAL" and "pexpire" in str(command[1])
            return 0 if renewing else super().lock(asked, command)

    connections = ScriptedConnections(Lapsing(keys={7: [b"k1", b"k2"]}))
    executor, _ = executor_on(connections)
    with pytest.raises(ClusterError) as stopped, executor.exclusive(at(A)):
        executor.move(at(A), [SlotMove(7, A, B)])
    assert str(stopped.value) == "the slot-move lock lapsed: stopping; the next repair finishes what is open"
    assert setslot_node_sent(connections) == []


def test_a_repair_that_leaves_a_slot_open_says_which():
    class StuckImporting(Healthy):
        def nodes(self, asked: Endpoint) -> list[str]:
            lines = three_masters(asked)
            if asked == at(B):
                lines[1] += f" [7-<-{A}]"
            return lines

    executor, _ = executor_on(ScriptedConnections(StuckImporting()))
    with pytest.raises(ClusterError) as stuck:
        executor.repair(at(A))
    assert str(stuck.value) == "slot 7 is still open after repair"


def test_a_node_holding_slots_is_never_reset():
    connections = ScriptedConnections(Healthy())
    executor, _ = executor_on(connections)
    with pytest.raises(ClusterError) as refused:
        executor.reset(at(A))
    assert str(refused.value) == "127.0.0.1:7001 still holds 5461 slots: drain it first"
    assert ("CLUSTER", "RESET", "HARD") not in connections.sent_to(at(A))


def lock_refusal(cluster: Healthy) -> BaseException:
    """What asking for the slot-move lock on this scripted cluster raises."""
    executor, _ = executor_on(ScriptedConnections(cluster))
    with pytest.raises(Exception) as refused, executor.exclusive(at(A)):
        pass
    return refused.value


class Joining(Healthy):
    """Empty master d, just met from a; before the first poll's time, `late` (d itself, or c) has not learnt of it."""

    def __init__(self, late: str) -> None:
        super().__init__()
        self.late = late
        self.clock = FakeClock()

    def nodes(self, asked: Endpoint) -> list[str]:
        early = self.clock() < 0.25
        new = node_line(D, PORT[D], "myself,master" if asked == at(D) else "master")
        if asked == at(D) and early and self.late == D:
            return [new]
        if asked == at(self.late) and early and self.late != D:
            return three_masters(asked)
        return [*three_masters(asked), new]

    def __call__(self, asked: Endpoint, command: Command) -> object:
        if command == ("CLUSTER", "MYID"):
            return D.encode() if asked == at(D) else b"?"
        if command == ("CLUSTER", "INFO"):
            return SERVING
        return super().__call__(asked, command)


@pytest.mark.parametrize("late", [D, C], ids=["the new node learns of the others late", "a member learns late"])
def test_a_new_node_is_waited_for_until_it_knows_every_node_and_every_node_knows_it(late):
    cluster = Joining(late)
    executor, cluster.clock = executor_on(ScriptedConnections(cluster), Limits(poll_interval=0.25))
    assert executor.add_node(at(A), at(D)) == D
    assert cluster.clock.now == 0.25


def test_a_drained_node_is_reset_hard():
    class DDrained(Healthy):
        def nodes(self, asked: Endpoint) -> list[str]:
            return [*three_masters(asked), node_line(D, PORT[D], "myself,master" if asked == at(D) else "master")]

    connections = ScriptedConnections(DDrained())
    executor, _ = executor_on(connections)
    executor.reset(at(D))
    assert connections.sent_to(at(D))[-1] == ("CLUSTER", "RESET", "HARD")


def test_the_lock_command_follows_redirections_but_not_without_end():
    class Bouncing(Healthy):
        def lock(self, asked: Endpoint, command: Command) -> object:
            other = B if asked == at(A) else A
            raise ReplyError(f"MOVED 7 127.0.0.1:{PORT[other]}")

    connections = ScriptedConnections(Bouncing())
    executor, _ = executor_on(connections)
    with pytest.raises(ClusterError) as refused, executor.exclusive(at(A)):
        pass
    assert str(refused.value) == "the slot of {redis-charm}:moving-slots kept redirecting"
    assert [endpoint for endpoint, command in connections.sent if command[0] == "SET"][:3] == [at(A), at(B), at(A)]


def test_the_lock_is_refused_when_no_master_serves_its_slot():
    class SlotSevenUnserved(Healthy):
        def nodes(self, asked: Endpoint) -> list[str]:
            lines = three_masters(asked)
            lines[0] = lines[0].replace("0-5460", "8-5460")
            return lines

    refused = lock_refusal(SlotSevenUnserved())
    assert isinstance(refused, ClusterError) and str(refused) == "no master serves slot 7"


def test_any_other_refusal_of_the_lock_command_stops_with_that_refusal():
    class Down(Healthy):
        def lock(self, asked: Endpoint, command: Command) -> object:
            raise ReplyError("CLUSTERDOWN The cluster is down")

    refused = lock_refusal(Down())
    assert isinstance(refused, ReplyError) and str(refused) == "CLUSTERDOWN The cluster is down"


class NewNodes:
    """Nodes a, b, c (and more) started empty: each knows only itself until met, then (by gossip) all it is met with.

    As Redis does, a node refuses a config epoch once it knows another node; one told
    to replicate a master is its replica at once, its link up.
    """

    def __init__(self, count: int = 3) -> None:
        self.ids = {at(node_id): node_id for node_id in (A, B, C, D, E, F)[:count]}
        self.knows = {endpoint: {endpoint} for endpoint in self.ids}
        self.slots: dict[Endpoint, list[str]] = {endpoint: [] for endpoint in self.ids}
        self.epoch = dict.fromkeys(self.ids, 0)
        self.master_of: dict[Endpoint, str] = {}

    def meet(self, one: Endpoint, other: Endpoint) -> None:
        group = self.knows[one] | self.knows[other]
        for endpoint in group:
            self.knows[endpoint] = group

    def line(self, asked: Endpoint, known: Endpoint) -> str:
        role = "slave" if known in self.master_of else "master"
        flags = f"myself,{role}" if known == asked else role
        return node_line(
            self.ids[known], known.port, flags, " ".join(self.slots[known]), self.master_of.get(known, "-")
        )

    def nodes(self, asked: Endpoint) -> bytes:
        return text([self.line(asked, known) for known in sorted(self.knows[asked], key=lambda node: node.port)])

    def info(self, asked: Endpoint) -> bytes:
        served = sum(
            len(SlotRange(*map(int, r.split("-"))).slots()) for known in self.knows[asked] for r in self.slots[known]
        )
        state = "ok" if served == SLOTS else "fail"
        epoch = max(self.epoch[known] for known in self.knows[asked])
        known = len(self.knows[asked])
        fields = {
            "cluster_state": state,
            "cluster_slots_ok": served,
            "cluster_current_epoch": epoch,
            "cluster_known_nodes": known,
        }
        return "".join(f"{name}:{value}\r\n" for name, value in fields.items()).encode()

    def __call__(self, asked: Endpoint, command: Command) -> object:
        if command == ("INFO", "replication") and asked in self.master_of:
            return b"role:slave\r\nmaster_link_status:up\r\n"
        if command[0] != "CLUSTER":
            raise ReplyError(f"ERR unknown command '{command[0]}'")
        what, *arguments = command[1:]
        if what == "MYID":
            return self.ids[asked].encode()
        if what == "NODES":
            return self.nodes(asked)
        if what == "INFO":
            return self.info(asked)
        if what == "SET-CONFIG-EPOCH":
            if len(self.knows[asked]) > 1:
                raise ReplyError(
                    "ERR The user can assign a config epoch only when the node does not know any other node."
                )
            self.epoch[asked] = int(arguments[0])
            return b"OK"
        if what == "ADDSLOTSRANGE":
            self.slots[asked].append(f"{arguments[0]}-{arguments[1]}")
            return b"OK"
        if what == "REPLICATE":
            self.master_of[asked] = str(arguments[0])
            return b"OK"
        if what == "MEET":
            self.meet(asked, Endpoint(str(arguments[0]), int(arguments[1])))
            return b"OK"
        raise ReplyError(f"ERR unknown subcommand '{what}'")


UNITS = {"redis/0": at(A), "redis/1": at(B), "redis/2": at(C)}


def test_forming_gives_every_new_node_its_own_config_epoch_before_they_meet():
    connections = ScriptedConnections(NewNodes())
    executor, _ = executor_on(connections)
    topology = executor.form(plan_formation(list(UNITS), 0), UNITS)
    assert [(node.unit, node.node_id) for node in topology.masters] == [("redis/0", A), ("redis/1", B), ("redis/2", C)]
    commands = [(endpoint, command[1]) for endpoint, command in connections.sent]
    epochs = {endpoint: command[2] for endpoint, command in connections.sent if command[1] == "SET-CONFIG-EPOCH"}
    assert set(epochs) == {at(A), at(B), at(C)} and len(set(epochs.values())) == 3
    first_meet = next(index for index, (_, what) in enumerate(commands) if what == "MEET")
    assert all(commands.index((endpoint, "SET-CONFIG-EPOCH")) < first_meet for endpoint in epochs)
    # Formed again (a hook run twice, a new leader): nothing is assigned or met again.
    sent = len(connections.sent)
    assert executor.form(plan_formation(list(UNITS), 0), UNITS) == topology
    assert {command[1] for _, command in connections.sent[sent:]} <= {"MYID", "INFO", "NODES"}


def test_a_formation_resumed_after_two_nodes_met_gives_an_epoch_only_to_the_one_alone():
    nodes = NewNodes()
    # As a leader's hook killed mid-formation may leave it: a has some of its slots and has met b.
    nodes.slots[at(A)].append("0-1000")
    nodes.meet(at(A), at(B))
    connections = ScriptedConnections(nodes)
    executor, _ = executor_on(connections)
    executor.form(plan_formation(list(UNITS), 0), UNITS)
    assert [endpoint for endpoint, command in connections.sent if command[1] == "SET-CONFIG-EPOCH"] == [at(C)]
    assert ("CLUSTER", "ADDSLOTSRANGE", 1001, 5461) in connections.sent_to(at(A))
    assert [command for _, command in connections.sent if command[1] == "MEET"] == [
        ("CLUSTER", "MEET", "127.0.0.1", PORT[C])
    ]


SIX_UNITS = {f"redis/{index}": at(node_id) for index, node_id in enumerate((A, B, C, D, E, F))}


def test_forming_six_new_nodes_with_one_replica_each_attaches_each_replica_to_another_units_master():
    connections = ScriptedConnections(NewNodes(count=6))
    executor, _ = executor_on(connections)
    topology = executor.form(plan_formation(list(SIX_UNITS), 1), SIX_UNITS)
    assert [(node.unit, node.role.name, node.master_id) for node in topology.nodes] == [
        ("redis/0", "MASTER", ""),
        ("redis/1", "MASTER", ""),
        ("redis/2", "MASTER", ""),
        ("redis/3", "REPLICA", A),
        ("redis/4", "REPLICA", B),
        ("redis/5", "REPLICA", C),
    ]


def test_forming_with_replicas_gives_up_when_a_node_never_sees_a_replica_as_one():
    class DSeesEAsMaster(NewNodes):
        def line(self, asked: Endpoint, known: Endpoint) -> str:
            if asked == at(D) and known == at(E):
                return node_line(E, PORT[E], "master")
            return super().line(asked, known)

    executor, _ = executor_on(ScriptedConnections(DSeesEAsMaster(count=6)), Limits(wait_timeout=1.0))
    with pytest.raises(ClusterTimeout) as timeout:
        executor.form(plan_formation(list(SIX_UNITS), 1), SIX_UNITS)
    assert str(timeout.value) == "gave up waiting for every node to see every replica"


def test_a_move_to_a_node_no_unit_claims_shows_its_short_id():
    progress = MoveProgress(target="0123456789abcdef" * 2 + "01234567", done=64, total=5461, keys=900)
    assert progress_message(progress, {}) == "moving slots: 64 of 5461 to 01234567"


def test_a_move_reports_as_it_starts_after_each_batch_of_keys_and_after_each_round():
    connections = ScriptedConnections(Healthy(keys={7: [b"k1", b"k2"], 8: [b"k3"]}))
    executor, _ = executor_on(connections, Limits(slots_per_round=1))
    progress: list[MoveProgress] = []
    assert executor.move(at(A), [SlotMove(7, A, B), SlotMove(8, A, B)], progress.append) == 3
    assert [(report.done, report.total, report.keys) for report in progress] == [
        (0, 2, 0),
        (0, 2, 2),
        (1, 2, 2),
        (1, 2, 3),
        (2, 2, 3),
    ]
    assert {report.target for report in progress} == {B}


def test_a_failing_master_is_not_told_of_a_slot_move():
    class CFailed(Healthy):
        def nodes(self, asked: Endpoint) -> list[str]:
            return three_masters(asked, {C: "master,fail"}, link="disconnected")

        def __call__(self, asked: Endpoint, command: Command) -> object:
            if asked == at(C):
                raise Unreachable(f"{asked}: ConnectionError")
            return super().__call__(asked, command)

    connections = ScriptedConnections(CFailed())
    executor, _ = executor_on(connections)
    executor.move(at(A), [SlotMove(7, A, B)])
    assert setslot_node_sent(connections) == [at(B), at(A)]
    assert connections.sent_to(at(C)) == []


class MovingToFailedC(Healthy):
    """Slot 7 was left migrating from a to c, and c has failed since."""

    def nodes(self, asked: Endpoint) -> list[str]:
        lines = three_masters(asked, {C: "master,fail"}, link="disconnected")
        if asked == at(A):
            lines[0] += f" [7->-{C}]"
        return lines

    def __call__(self, asked: Endpoint, command: Command) -> object:
        if asked == at(C):
            raise Unreachable(f"{asked}: ConnectionError")
        return super().__call__(asked, command)


def test_a_repair_towards_a_failed_master_is_left_to_an_operator():
    connections = ScriptedConnections(MovingToFailedC())
    executor, _ = executor_on(connections)
    with pytest.raises(PlanError) as refused:
        executor.repair(at(A))
    assert str(refused.value) == (
        "slot 7 was moving to cccccccc…, which is not a healthy master: it needs an operator (redis-cli --cluster fix)"
    )
    assert connections.sent_to(at(C)) == []


def test_each_use_of_the_lock_takes_it_anew():
    connections = ScriptedConnections(Healthy())
    executor, _ = executor_on(connections)
    for _ in range(2):
        with executor.exclusive(at(A)):
            pass
    assert [command[0] for _, command in connections.sent if command[0] in ("SET", "EVAL")] == ["SET", "EVAL"] * 2


def test_a_lock_released_while_it_was_asked_for_is_said_to_be_held_by_another_unit():
    # SET NX failed, then its holder released it before the GET naming the holder.
    class JustReleased(Healthy):
        def lock(self, asked: Endpoint, command: Command) -> object:
            return None

    busy = lock_refusal(JustReleased())
    assert isinstance(busy, MoveInProgress) and str(busy) == "another unit is moving slots"


def test_the_lock_command_follows_an_ask_to_the_node_importing_its_slot():
    class LockSlotMigrating(Healthy):
        """The lock's slot 7 is migrating from a to b, and the lock's key has already moved."""

        def __init__(self) -> None:
            super().__init__()
            self.asking: set[Endpoint] = set()

        def __call__(self, asked: Endpoint, command: Command) -> object:
            if command == ("ASKING",):
                self.asking.add(asked)
                return b"OK"
            return super().__call__(asked, command)

        def lock(self, asked: Endpoint, command: Command) -> object:
            if asked == at(A):
                raise ReplyError("ASK 7 127.0.0.1:7002")
            if asked not in self.asking:
                raise ReplyError("MOVED 7 127.0.0.1:7001")
            self.asking.discard(asked)  # ASKING holds for the next command only
            return super().lock(asked, command)

    connections = ScriptedConnections(LockSlotMigrating())
    executor, _ = executor_on(connections)
    with executor.exclusive(at(A)):
        pass
    assert [command[0] for command in connections.sent_to(at(B))] == ["ASKING", "SET", "ASKING", "EVAL"]


def test_a_replica_that_never_links_gives_up_naming_it_and_its_master():
    class DNeverLinks(Healthy):
        def nodes(self, asked: Endpoint) -> list[str]:
            return [
                *three_masters(asked),
                node_line(D, PORT[D], "myself,slave" if asked == at(D) else "slave", master=A),
            ]

        def __call__(self, asked: Endpoint, command: Command) -> object:
            if command == ("INFO", "replication"):
                return b"role:slave\r\nmaster_link_status:down\r\n"
            return super().__call__(asked, command)

    executor, _ = executor_on(ScriptedConnections(DNeverLinks()), Limits(wait_timeout=1.0))
    with pytest.raises(ClusterTimeout) as timeout:
        executor.replicate(at(D), A)
    assert str(timeout.value) == "gave up waiting for 127.0.0.1:7004 to replicate aaaaaaaa…"


def test_a_node_that_never_forgets_gives_up_naming_the_node_forgotten():
    class CRemembers(Forgetting):
        def __call__(self, asked: Endpoint, command: Command) -> bytes:
            reply = super().__call__(asked, command)
            self.forgot.discard(at(C))
            return reply

    executor, _ = executor_on(ScriptedConnections(CRemembers()), Limits(wait_timeout=1.0))
    with pytest.raises(ClusterTimeout) as timeout:
        executor.forget(at(A), D)
    assert str(timeout.value) == "gave up waiting for every node to forget dddddddd…"


class NeverMeetsC(NewNodes):
    def meet(self, one: Endpoint, other: Endpoint) -> None:
        if at(C) not in (one, other):
            super().meet(one, other)


class CNeverServes(NewNodes):
    def info(self, asked: Endpoint) -> bytes:
        reply = super().info(asked)
        return reply.replace(b"cluster_state:ok", b"cluster_state:fail") if asked == at(C) else reply


@pytest.mark.parametrize(
    ("nodes", "waited_for"),
    [(NeverMeetsC, "every node to know every node"), (CNeverServes, "cluster_state:ok on every node")],
)
def test_a_formation_that_does_not_come_together_gives_up_saying_what_it_waited_for(nodes, waited_for):
    executor, _ = executor_on(ScriptedConnections(nodes()), Limits(wait_timeout=1.0))
    with pytest.raises(ClusterTimeout) as timeout:
        executor.form(plan_formation(list(UNITS), 0), UNITS)
    assert str(timeout.value) == f"gave up waiting for {waited_for}"


class Replicated(Healthy):
    """Healthy masters a, b, c, and replicas of them (`master_of`: replica → master) that CLUSTER REPLICATE moves."""

    def __init__(self, master_of: dict[str, str]) -> None:
        super().__init__()
        self.master_of = master_of

    def nodes(self, asked: Endpoint) -> list[str]:
        return three_masters(asked) + [
            node_line(replica, PORT[replica], "myself,slave" if at(replica) == asked else "slave", master=master)
            for replica, master in self.master_of.items()
        ]

    def __call__(self, asked: Endpoint, command: Command) -> object:
        if command[:2] == ("CLUSTER", "REPLICATE"):
            self.master_of[next(node for node, port in PORT.items() if port == asked.port)] = str(command[2])
            return b"OK"
        if command == ("INFO", "replication"):
            return b"role:slave\r\nmaster_link_status:up\r\n"
        return super().__call__(asked, command)


@pytest.mark.parametrize(
    ("master_of", "rehomed"),
    [
        # One replica each: a's goes to the earlier of b and c.
        ({D: A, E: B, F: C}, {D: B}),
        # a's two replicas: the first to c, which has none, then the second to b, tied with c.
        ({D: A, F: A, E: B}, {D: C, F: B}),
    ],
)
def test_draining_a_master_gives_its_replicas_the_masters_with_fewest_replicas(master_of, rehomed):
    connections = ScriptedConnections(Replicated(master_of))
    executor, _ = executor_on(connections)
    moves = executor.drain(at(A), A)
    assert {move.source for move in moves} == {A} and {move.target for move in moves} == {B, C}
    assert len(moves) == 5461
    told = {endpoint: command[2] for endpoint, command in connections.sent if command[:2] == ("CLUSTER", "REPLICATE")}
    assert told == {at(replica): master for replica, master in rehomed.items()}


class SlowLinksExpiringLock(Replicated):
    """Replicas whose link comes up 50 s after CLUSTER REPLICATE, and a lock key that expires as Redis's would."""

    def __init__(self, master_of: dict[str, str], clock: FakeClock) -> None:
        super().__init__(master_of)
        self.clock = clock
        self.linked_at: dict[Endpoint, float] = {}
        self.expires = 0.0
        self.lapsed = False

    def __call__(self, asked: Endpoint, command: Command) -> object:
        if command[:2] == ("CLUSTER", "REPLICATE"):
            self.linked_at[asked] = self.clock.now + 50
        if command == ("INFO", "replication"):
            up = self.clock.now >= self.linked_at.get(asked, 0.0)
            return b"role:slave\r\nmaster_link_status:" + (b"up" if up else b"down") + b"\r\n"
        return super().__call__(asked, command)

    def lock(self, asked: Endpoint, command: Command) -> object:
        if command[0] == "EVAL" and self.clock.now >= self.expires:
            self.lapsed = True  # the key is gone: neither a renewal nor the release finds it
            return 0
        held = super().lock(asked, command)
        if command[0] == "SET" or (command[0] == "EVAL" and "pexpire" in str(command[1]) and held):
            self.expires = self.clock.now + 60
        return held


def test_a_drain_keeps_its_lock_while_its_replicas_take_longer_than_the_locks_lifetime_to_link():
    clock = FakeClock()
    cluster = SlowLinksExpiringLock({D: A, F: A, E: B}, clock)
    connections = ScriptedConnections(cluster)
    executor = ClusterExecutor(connections, MigrateAuth("replicator", "s3cret"), clock=clock, sleep=clock.sleep)
    executor.drain(at(A), A)
    assert clock.now > 100  # two replicas re-homed, 50 s each
    assert not cluster.lapsed
    # Renewed now and then, not at every poll: each renewal is a round trip to the lock's master.
    renewals = [command for _, command in connections.sent if command[0] == "EVAL" and "pexpire" in str(command[1])]
    assert 0 < len(renewals) <= clock.now / LOCK_RENEW_EVERY


def test_a_drain_seen_from_a_replica_that_has_not_caught_up_leaves_the_replicas_where_they_are():
    # a held every slot and b, c were added empty; d, a's replica, learns of the moves only by gossip.
    class LaggingReplica(Replicated):
        def nodes(self, asked: Endpoint) -> list[str]:
            lines = super().nodes(asked)
            return [
                line.replace(" 0-5460", " 0-16383").replace(" 5461-10922", "").replace(" 10923-16383", "")
                for line in lines
            ]

    connections = ScriptedConnections(LaggingReplica({D: A}))
    executor, _ = executor_on(connections)
    with pytest.raises(PlanError) as refused:
        executor.drain(at(D), A)
    assert str(refused.value) == "no other master left to replicate"
    assert [command for _, command in connections.sent if command[:2] == ("CLUSTER", "REPLICATE")] == []


def test_a_new_replica_is_waited_for_until_its_master_lists_it():
    class BLearnsLate(Replicated):
        """b's own view still shows d as a's replica for its first two reads after d moved to it."""

        def __init__(self) -> None:
            super().__init__({D: A})
            self.stale_reads = 2

        def nodes(self, asked: Endpoint) -> list[str]:
            lines = super().nodes(asked)
            if asked == at(B) and self.master_of[D] == B and self.stale_reads:
                self.stale_reads -= 1
                lines[-1] = node_line(D, PORT[D], "slave", master=A)
            return lines

    cluster = BLearnsLate()
    executor, clock = executor_on(ScriptedConnections(cluster), Limits(poll_interval=0.25))
    executor.replicate(at(D), B)
    assert cluster.stale_reads == 0
    assert clock.now == 0.5


# The slot-move lock, on one real node serving every slot (the lock's scripts run in Redis).


@pytest.fixture(scope="module")
def lone_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with local_cluster(Path(tmp_path_factory.mktemp("lock"))) as cluster:
        (node,) = cluster.start(1)
        on_node = cluster.connections.connect(node.endpoint)
        # As the charm does: a node alone knows no address of its own until it announces one.
        on_node.command("CONFIG", "SET", "cluster-announce-ip", "127.0.0.1")
        on_node.command("CLUSTER", "ADDSLOTSRANGE", 0, SLOTS - 1)
        with cluster.executor() as executor:
            executor.wait_until("one node serving every slot", lambda: executor.health(node.endpoint).ok)
        yield cluster


@pytest.fixture
def lock_client(lone_node: LocalCluster) -> Iterator[redis.Redis]:
    client = redis.Redis("127.0.0.1", lone_node.nodes[0].port, password=lone_node.password)
    yield client
    client.delete("{redis-charm}:moving-slots")
    client.close()


def test_the_lock_is_the_key_every_revision_of_the_charm_reads(lone_node, lock_client):
    seed = lone_node.nodes[0].endpoint
    # What a unit of another charm revision leaves while it moves slots.
    lock_client.set("{redis-charm}:moving-slots", "redis/7 0123456789abcdef", px=60_000)
    with pytest.raises(MoveInProgress) as busy, lone_node.executor(holder="redis/1").exclusive(seed):
        pass
    assert str(busy.value) == "redis/7 is moving slots"
    lock_client.delete("{redis-charm}:moving-slots")
    with lone_node.executor(holder="redis/1").exclusive(seed):
        assert lock_client.get("{redis-charm}:moving-slots").startswith(b"redis/1 ")
    assert lock_client.exists("{redis-charm}:moving-slots") == 0


def test_a_mover_without_a_name_is_told_another_unit_moves_and_never_takes_the_lock_over(lone_node, lock_client):
    seed = lone_node.nodes[0].endpoint

    def unnamed() -> ClusterExecutor:
        return ClusterExecutor(lone_node.connections, MigrateAuth("default", lone_node.password))

    with unnamed().exclusive(seed):
        with pytest.raises(MoveInProgress) as busy, unnamed().exclusive(seed):
            pass
        assert str(busy.value) == "another unit is moving slots"
        assert lock_client.exists("{redis-charm}:moving-slots") == 1


def test_a_lock_left_by_a_killed_hook_of_the_same_unit_is_taken_over(lone_node, lock_client):
    seed = lone_node.nodes[0].endpoint
    # What a hook of redis/4 killed while moving leaves behind.
    lock_client.set("{redis-charm}:moving-slots", "redis/4 0123456789abcdef", px=60_000)
    with pytest.raises(MoveInProgress) as busy:
        lone_node.executor(holder="redis/40").rebalance(seed)
    assert str(busy.value) == "redis/4 is moving slots"
    assert lone_node.executor(holder="redis/4").rebalance(seed) == ()
    assert lock_client.exists("{redis-charm}:moving-slots") == 0
