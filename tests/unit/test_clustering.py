"""The cluster steps the handlers take: waiting for the slot-move lock, what units are told while they wait."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import replace
from pathlib import Path

import pytest
import redis
from cluster_helpers import FakeClock, local_cluster

from charms.layer.redis import clustering
from charms.layer.redis.cluster.executor import (
    ClusterError,
    Endpoint,
    MoveInProgress,
    MoveProgress,
    Unreachable,
    endpoint_of,
)
from charms.layer.redis.cluster.nodes import SLOTS, ClusterHealth, ClusterNode, SlotRange, myself, parse_info
from charms.layer.redis.cluster.plan import FormationPlan, PlanError, plan_formation
from charms.layer.redis.cluster.topology import Node, Role, Topology


def test_work_waits_its_turn_while_another_unit_moves_slots() -> None:
    clock, said, tries = FakeClock(), [], []

    def work() -> str:
        tries.append(clock.now)
        if len(tries) < 3:
            raise MoveInProgress("redis/4")
        return "done"

    assert clustering.when_free(work, said.append, clock, clock.sleep) == "done"
    assert said == ["waiting for the cluster: redis/4 is moving slots"] * 2
    assert tries == [0.0, 1.0, 2.0]


def test_waiting_ends_naming_the_holder() -> None:
    clock = FakeClock()

    def work() -> None:
        raise MoveInProgress("redis/4")

    with pytest.raises(ClusterError) as error:
        clustering.when_free(work, lambda _: None, clock, clock.sleep)
    assert str(error.value) == "redis/4 is moving slots for longer than 600 s"
    assert clock.now == clustering.RETIRE_WAIT


def test_a_long_move_is_said_at_most_once_a_second_and_when_it_is_done() -> None:
    clock, said = FakeClock(), []
    clock.now = 100.0
    report = clustering.throttled(said.append, {"b" * 40: "redis/3"}, clock)
    for at, done in [(100.0, 1), (100.5, 2), (100.99, 3), (101.0, 4), (101.2, 5), (101.3, 6)]:
        clock.now = at
        report(MoveProgress("b" * 40, done, 6, done * 10))
    assert said == [
        "moving slots: 1 of 6 to redis/3",
        "moving slots: 4 of 6 to redis/3",
        "moving slots: 6 of 6 to redis/3",
    ]


def test_a_view_shows_no_password_in_its_repr() -> None:
    own = Endpoint("127.0.0.1", 6379)
    view = clustering.View("redis/0", own, "s3cret-cluster-pw", 0, {"redis/0": own})
    assert "s3cret-cluster-pw" not in repr(view)


def test_units_say_how_many_of_how_many_are_ready() -> None:
    own = Endpoint("127.0.0.1", 6379)
    view = clustering.View("redis/0", own, "pw", 1, {"redis/0": own, "redis/1": Endpoint("127.0.0.2", 6379)})
    step = clustering.member_status(view)
    assert (step.status, step.message) == ("waiting", "2 of 6 units ready for the cluster (3 masters, 1 replicas each)")


def test_a_lone_master_leaving_keeps_its_keys_and_says_they_go_with_it(tmp_path: Path) -> None:
    """A cluster shrunk to one node: removing it empties nothing and says so."""
    with local_cluster(tmp_path) as cluster:
        (node,) = cluster.start(1)
        cluster.connections.connect(node.endpoint).command("CLUSTER", "ADDSLOTSRANGE", 0, SLOTS - 1)
        client = redis.Redis(host=node.endpoint.host, port=node.port, password=cluster.password)
        with cluster.executor() as nodes:
            nodes.wait_until("the lone node to serve", lambda: nodes.info(node.endpoint)["cluster_state"] == "ok")
        client.set("kept", "here")
        view = clustering.View(node.unit, node.endpoint, cluster.password, 0, {node.unit: node.endpoint})
        step = clustering.retire(view, lambda _: None)
        assert (step.status, step.message) == (
            "blocked",
            f"this is the last master: its keys go with it (no other node to hand its {SLOTS} slots to)",
        )
        assert client.get("kept") == b"here"
        assert parse_info(client.execute_command("CLUSTER", "INFO").decode())["cluster_slots_assigned"] == str(SLOTS)


def test_a_node_in_no_cluster_has_nothing_to_hand_over(tmp_path: Path) -> None:
    with local_cluster(tmp_path) as cluster:
        (node,) = cluster.start(1)
        view = clustering.View(node.unit, node.endpoint, cluster.password, 0, {node.unit: node.endpoint})
        step = clustering.retire(view, lambda _: None)
        assert (step.status, step.message) == ("maintenance", "not in a cluster: nothing to hand over")


def test_a_new_leader_finishes_a_formation_left_half_way_with_replicas_not_slots(tmp_path: Path) -> None:
    """The masters got their slots and every node was met, but no replica was attached yet."""
    with local_cluster(tmp_path) as cluster:
        cluster.start(6)
        endpoints = cluster.endpoints
        with cluster.executor() as nodes:
            halfway = plan_formation(["redis/0", "redis/1", "redis/2"], 0)
            nodes.form(halfway, {unit: endpoints[unit] for unit in ("redis/0", "redis/1", "redis/2")})
            for unit in ("redis/3", "redis/4", "redis/5"):
                nodes.add_node(endpoints["redis/0"], endpoints[unit])
        view = clustering.View("redis/1", endpoints["redis/1"], cluster.password, 1, endpoints)
        step = clustering.lead(view, lambda _: None)
        assert step.status == "active"
        assert step.message == "cluster ok: 3 masters, 3 replicas, 16384 of 16384 slots served"
        topology = step.topology
        assert [node.unit for node in topology.masters] == ["redis/0", "redis/1", "redis/2"]
        for master in topology.masters:
            (replica,) = topology.replicas_of(master.node_id)
            assert replica.unit in ("redis/3", "redis/4", "redis/5")


def test_a_unit_leaving_itself_does_not_wait_for_another_to_leave() -> None:
    """Were it to wait, it would ask a node; none answers at this closed port."""
    nowhere = Endpoint("127.0.0.1", 1)
    other = Node("redis/1", "b" * 40, "127.0.0.1", 1, Role.MASTER)
    view = clustering.View(
        "redis/0", nowhere, "pw", 0, {"redis/0": nowhere}, Topology((other,)), frozenset({"redis/0", "redis/1"})
    )
    said: list[str] = []
    clustering.await_departure(view, "redis/1", said.append, timeout=0.1)
    assert said == []


def test_when_every_master_leaves_none_is_emptied_even_with_the_others_stopping(tmp_path: Path) -> None:
    """The whole application removed: each master keeps its slots and says so, without asking the others."""
    with local_cluster(tmp_path) as cluster:
        cluster.start(3)
        endpoints = cluster.endpoints
        with cluster.executor() as nodes:
            topology = nodes.form(plan_formation(list(endpoints), 0), endpoints)
        cluster.nodes[2].process.kill()  # already stopped by its own stop hook
        everyone = frozenset(endpoints)
        view = clustering.View("redis/0", endpoints["redis/0"], cluster.password, 0, endpoints, topology, everyone)
        step = clustering.retire(view, lambda _: None)
        assert step.status == "blocked"
        assert step.message == f"{clustering.KEYS_GO_WITH_IT} (every other master is leaving too)"
        with cluster.executor() as nodes:
            assert myself(nodes.view(endpoints["redis/0"])).slot_count == 5462  # still its first share


def _member(
    node_id: str, port: int, role: str = "master", slots: int = 0, flags: frozenset[str] = frozenset()
) -> ClusterNode:
    ranges = (SlotRange(0, slots - 1),) if slots else ()
    return ClusterNode(node_id, "127.0.0.1", port, port + 10000, "", flags | {role}, "-", 0, "connected", ranges)


class FakeCluster:
    """A cluster executor answering as a cluster would, recording what it was asked to do."""

    def __init__(self, info: dict[str, str] | None = None, health: ClusterHealth | None = None) -> None:
        self.answers = dict(info or {})
        self.state = health or ClusterHealth("ok", 3, 0, SLOTS, 0)
        self.failure: Exception | None = None
        self.nodes: list[ClusterNode] = []
        self.formed: list[object] = []
        self.retired: list[tuple[Endpoint, frozenset[str]]] = []
        self.moves: list[object] = []
        self.waited: list[tuple[str, bool]] = []
        self.added: list[tuple[Endpoint, Endpoint]] = []
        self.replicated: list[tuple[Endpoint, str]] = []
        self.rebalanced: list[Endpoint] = []
        self.open: tuple[object, ...] = ()

    def __enter__(self) -> FakeCluster:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def _answer(self) -> None:
        if self.failure is not None:
            raise self.failure

    def info(self, endpoint: Endpoint) -> dict[str, str]:
        self._answer()
        return self.answers

    def health(self, endpoint: Endpoint) -> ClusterHealth:
        self._answer()
        return self.state

    def node_id(self, endpoint: Endpoint) -> str:
        return self.nodes[0].node_id

    def members(self, seed: Endpoint) -> tuple[ClusterNode, ...]:
        return tuple(self.nodes)

    def form(self, plan: FormationPlan, ready: Mapping[str, Endpoint]) -> Topology:
        self.formed.append(plan)
        return Topology(
            tuple(
                Node(unit, f"{n:040x}", ready[unit].host, ready[unit].port, Role.MASTER) for n, unit in enumerate(ready)
            )
        )

    def retire(self, own: Endpoint, report: Callable[[MoveProgress], None], leaving: Collection[str]) -> list[object]:
        self._answer()
        self.retired.append((own, frozenset(leaving)))
        for target in self.moves:
            report(MoveProgress(target, len(self.moves), len(self.moves), 10))
        return self.moves

    def wait_until(self, what: str, check: Callable[[], bool], timeout: float | None = None) -> None:
        self.waited.append((what, check()))

    def add_node(self, seed: Endpoint, new: Endpoint) -> str:
        self.added.append((seed, new))
        self.nodes.append(_member(f"{new.port:040x}", new.port))
        return self.nodes[-1].node_id

    def topology(self, seed: Endpoint, unit_of: Mapping[Endpoint, str]) -> Topology:
        return Topology(
            tuple(
                Node(unit_of[endpoint_of(node)], node.node_id, node.host, node.port, Role.MASTER)
                if node.is_master
                else Node(unit_of[endpoint_of(node)], node.node_id, node.host, node.port, Role.REPLICA, node.master_id)
                for node in self.nodes
            )
        )

    def replicate(self, replica: Endpoint, master_id: str) -> None:
        self.replicated.append((replica, master_id))
        self.nodes = [
            replace(node, flags=frozenset({"slave"}), master_id=master_id) if endpoint_of(node) == replica else node
            for node in self.nodes
        ]

    def open_slots(self, seed: Endpoint) -> tuple[object, ...]:
        return self.open

    def ownership(self, seed: Endpoint) -> dict[str, set[int]]:
        return {node.node_id: node.slot_set() for node in self.nodes if node.is_master}

    def rebalance(self, seed: Endpoint, progress: Callable[[MoveProgress], None]) -> tuple[object, ...]:
        self.rebalanced.append(seed)
        for node in self.nodes:
            if node.is_master and not node.slot_count:
                progress(MoveProgress(node.node_id, 1, 1, 0))
        return ()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    cluster = FakeCluster()
    monkeypatch.setattr(clustering, "executor", lambda view: cluster)
    return cluster


def _endpoints(count: int) -> dict[str, Endpoint]:
    return {f"redis/{n}": Endpoint("127.0.0.1", 7000 + n) for n in range(count)}


def _topology(units: Iterable[str]) -> Topology:
    return Topology(tuple(Node(unit, f"{n:040x}", "127.0.0.1", 7000 + n, Role.MASTER) for n, unit in enumerate(units)))


def test_a_member_shows_the_health_of_the_cluster(fake: FakeCluster) -> None:
    ready = _endpoints(3)
    view = clustering.View("redis/1", ready["redis/1"], "pw", 0, ready, _topology(ready))
    step = clustering.member_status(view)
    assert (step.status, step.message) == ("active", "cluster ok: 3 masters, 0 replicas, 16384 of 16384 slots served")
    fake.state = ClusterHealth("fail", 3, 0, 10000, 1)
    step = clustering.member_status(view)
    assert (step.status, step.message) == (
        "blocked",
        "cluster fail: 3 masters, 0 replicas, 10000 of 16384 slots served, 1 failing or unreachable",
    )


def test_a_member_not_added_yet_waits_for_the_leader(fake: FakeCluster) -> None:
    ready = _endpoints(4)
    view = clustering.View("redis/3", ready["redis/3"], "pw", 0, ready, _topology(list(ready)[:3]))
    step = clustering.member_status(view)
    assert (step.status, step.message) == ("waiting", "waiting for the leader to add this unit to the cluster")


def test_a_member_whose_node_does_not_answer_says_why(fake: FakeCluster) -> None:
    ready = _endpoints(3)
    fake.failure = Unreachable("127.0.0.1:7001 does not answer")
    view = clustering.View("redis/1", ready["redis/1"], "pw", 0, ready, _topology(ready))
    step = clustering.member_status(view)
    assert (step.status, step.message, step.retry) == ("blocked", "cluster: 127.0.0.1:7001 does not answer", False)


def _leaving(
    fake: FakeCluster, *members: ClusterNode, dying: frozenset[str] = frozenset({"redis/0"})
) -> clustering.View:
    """redis/0 (the first member) leaving a cluster of `members`, redis/N at port 7000+N."""
    fake.answers = {"cluster_known_nodes": str(len(members)), "cluster_slots_assigned": str(SLOTS)}
    fake.nodes = list(members)
    ready = {f"redis/{node.port - 7000}": Endpoint("127.0.0.1", node.port) for node in members}
    topology = Topology(
        tuple(
            Node(unit, node.node_id, "127.0.0.1", node.port, Role.MASTER)
            for unit, node in zip(ready, members, strict=True)
        )
    )
    return clustering.View("redis/0", ready["redis/0"], "pw", 0, ready, topology, dying)


def test_a_leaving_master_hands_its_slots_over_and_says_how_many(fake: FakeCluster) -> None:
    view = _leaving(fake, _member("a" * 40, 7000, slots=100), _member("b" * 40, 7001, slots=SLOTS - 100))
    fake.moves = ["b" * 40] * 3
    said: list[str] = []
    step = clustering.retire(view, said.append)
    assert (step.status, step.message) == ("maintenance", f"left the cluster after handing over 3 of {SLOTS} slots")
    assert fake.retired == [(view.own, frozenset())]
    assert said[0] == "moving slots: 3 of 3 to redis/1"


def test_a_leaving_node_skips_the_others_leaving_with_it(fake: FakeCluster) -> None:
    view = _leaving(
        fake,
        _member("a" * 40, 7000, slots=100),
        _member("b" * 40, 7001, slots=SLOTS - 200),
        _member("c" * 40, 7002, slots=100),
        dying=frozenset({"redis/0", "redis/2"}),
    )
    step = clustering.retire(view, lambda _: None)
    assert (step.status, step.message) == ("maintenance", f"left the cluster after handing over 0 of {SLOTS} slots")
    assert fake.retired == [(view.own, frozenset({"c" * 40}))]


def test_a_replica_whose_every_other_node_leaves_has_nothing_to_hand_over(fake: FakeCluster) -> None:
    view = _leaving(
        fake,
        _member("a" * 40, 7000, role="slave"),
        _member("b" * 40, 7001, slots=SLOTS),
        dying=frozenset({"redis/0", "redis/1"}),
    )
    step = clustering.retire(view, lambda _: None)
    assert (step.status, step.message) == ("maintenance", "every other node is leaving too: nothing to hand over")
    assert fake.retired == []


def test_a_replica_leaving_beside_another_replica_leaves_the_cluster(fake: FakeCluster) -> None:
    """Its master goes too, yet a node stays: the replica leaves as any node does."""
    view = _leaving(
        fake,
        _member("a" * 40, 7000, role="slave"),
        _member("b" * 40, 7001, slots=SLOTS),
        _member("c" * 40, 7002, role="slave"),
        dying=frozenset({"redis/0", "redis/1"}),
    )
    step = clustering.retire(view, lambda _: None)
    assert step.status == "maintenance"
    assert fake.retired == [(view.own, frozenset({"b" * 40}))]


def test_the_last_master_leaving_with_a_replica_staying_keeps_its_keys(fake: FakeCluster) -> None:
    view = _leaving(fake, _member("a" * 40, 7000, slots=SLOTS), _member("b" * 40, 7001, role="slave"))
    step = clustering.retire(view, lambda _: None)
    assert (step.status, step.message) == (
        "blocked",
        f"{clustering.KEYS_GO_WITH_IT} (every other master is leaving too)",
    )
    assert fake.retired == []


def test_the_last_master_leaving_that_no_plan_can_empty_keeps_its_keys_and_does_not_retry(fake: FakeCluster) -> None:
    view = _leaving(fake, _member("a" * 40, 7000, slots=100), _member("b" * 40, 7001, slots=SLOTS - 100))
    # What plan_drain says when the cluster lost its other masters since left_alone looked.
    fake.failure = PlanError("no master would remain: emptying this one would lose every key in the cluster")
    step = clustering.retire(view, lambda _: None)
    assert (step.status, step.message, step.retry) == (
        "blocked",
        "this is the last master: its keys go with it"
        " (no master would remain: emptying this one would lose every key in the cluster)",
        False,
    )


@pytest.mark.parametrize(
    "failure", [PlanError("the staying masters cannot take 16384 slots"), ClusterError("redis/1 is failing")]
)
def test_a_failed_departure_says_why_and_tries_again(fake: FakeCluster, failure: Exception) -> None:
    view = _leaving(fake, _member("a" * 40, 7000, slots=100), _member("b" * 40, 7001, slots=SLOTS - 100))
    fake.failure = failure
    step = clustering.retire(view, lambda _: None)
    assert (step.status, step.message, step.retry) == ("blocked", f"leaving the cluster failed: {failure}", True)


@pytest.mark.parametrize("info", [{}, {"cluster_known_nodes": "1"}])
def test_a_node_that_knows_no_other_has_nothing_to_hand_over(fake: FakeCluster, info: dict[str, str]) -> None:
    view = _leaving(fake, _member("a" * 40, 7000))
    fake.answers = info
    step = clustering.retire(view, lambda _: None)
    assert (step.status, step.message) == ("maintenance", "not in a cluster: nothing to hand over")


def test_a_staying_unit_waits_for_a_departing_one_to_be_forgotten(fake: FakeCluster) -> None:
    ready = _endpoints(2)
    view = clustering.View("redis/0", ready["redis/0"], "pw", 0, ready, _topology(ready), frozenset({"redis/1"}))
    fake.nodes = [_member(f"{0:040x}", 7000, slots=SLOTS)]
    said: list[str] = []
    clustering.await_departure(view, "redis/1", said.append)
    assert said == ["waiting for redis/1 to hand its slots over and leave the cluster"]
    assert fake.waited == [("redis/1 to leave the cluster", True)]


def _thirds() -> list[ClusterNode]:
    """redis/0..2 as three masters sharing the slots evenly."""
    bounds = [(0, 5460), (5461, 10922), (10923, SLOTS - 1)]
    return [
        replace(_member(f"{n:040x}", 7000 + n), slots=(SlotRange(start, end),)) for n, (start, end) in enumerate(bounds)
    ]


def test_the_leader_forms_the_cluster_once_enough_units_are_ready(fake: FakeCluster) -> None:
    ready = _endpoints(6)
    fake.answers = {"cluster_state": "fail"}
    said: list[str] = []
    step = clustering.lead(clustering.View("redis/0", ready["redis/0"], "pw", 1, ready), said.append)
    assert said == ["forming the cluster: 3 masters, 3 replicas"]
    assert (step.status, step.message) == ("active", "cluster ok: 3 masters, 0 replicas, 16384 of 16384 slots served")
    assert step.topology is not None and [node.unit for node in step.topology.nodes] == list(ready)
    assert fake.added == []


def test_the_leader_waits_for_units_before_forming(fake: FakeCluster) -> None:
    ready = _endpoints(5)
    fake.answers = {"cluster_state": "fail"}
    step = clustering.lead(clustering.View("redis/0", ready["redis/0"], "pw", 1, ready), lambda _: None)
    assert (step.status, step.message) == ("waiting", "5 of 6 units ready for the cluster (3 masters, 1 replicas each)")
    assert fake.formed == []


def test_the_leader_says_what_stopped_it_and_tries_again(fake: FakeCluster) -> None:
    ready = _endpoints(3)
    fake.failure = Unreachable("127.0.0.1:7000 does not answer")
    step = clustering.lead(clustering.View("redis/0", ready["redis/0"], "pw", 0, ready), lambda _: None)
    assert (step.status, step.message, step.retry) == ("blocked", "cluster: 127.0.0.1:7000 does not answer", True)


def test_a_leader_whose_node_serves_a_cluster_grows_it_rather_than_forming_another(fake: FakeCluster) -> None:
    """A cluster formed before its topology was shared: the leader finds it through its own node."""
    ready = _endpoints(3)
    fake.answers = {"cluster_state": "ok"}
    fake.nodes = _thirds()
    step = clustering.lead(clustering.View("redis/0", ready["redis/0"], "pw", 0, ready), lambda _: None)
    assert fake.formed == [] and fake.added == [] and fake.rebalanced == []
    assert step.status == "active"
    assert [node.unit for node in step.topology.masters] == ["redis/0", "redis/1", "redis/2"]


def test_a_new_leader_outside_the_cluster_adds_itself_through_a_staying_member(fake: FakeCluster) -> None:
    ready = _endpoints(4)
    fake.answers = {"cluster_state": "fail"}
    fake.nodes = _thirds()
    topology = _topology(list(ready)[:3])
    view = clustering.View("redis/3", ready["redis/3"], "pw", 0, ready, topology, frozenset({"redis/0"}))
    said: list[str] = []
    step = clustering.lead(view, said.append)
    assert fake.added == [(ready["redis/1"], ready["redis/3"])]
    assert said == ["adding redis/3 to the cluster"]
    assert fake.rebalanced == []  # redis/0 leaves first: it drains itself
    assert step.status == "active"


def test_a_leader_with_no_member_of_the_topology_ready_says_so(fake: FakeCluster) -> None:
    ready = {"redis/3": Endpoint("127.0.0.1", 7003)}
    fake.answers = {"cluster_state": "fail"}
    view = clustering.View("redis/3", ready["redis/3"], "pw", 0, ready, _topology(["redis/0", "redis/1", "redis/2"]))
    step = clustering.lead(view, lambda _: None)
    assert (step.status, step.message, step.retry) == (
        "blocked",
        "cluster: no unit of the shared topology is ready to be asked",
        True,
    )


def test_a_new_unit_becomes_the_replica_a_master_lacks(fake: FakeCluster) -> None:
    ready = _endpoints(4)
    fake.answers = {"cluster_state": "ok"}
    fake.nodes = _thirds()
    said: list[str] = []
    step = clustering.lead(
        clustering.View("redis/0", ready["redis/0"], "pw", 1, ready, _topology(list(ready)[:3])), said.append
    )
    assert said == ["adding redis/3 to the cluster", "making redis/3 a replica of redis/0"]
    assert fake.replicated == [(ready["redis/3"], f"{0:040x}")]
    assert fake.rebalanced == []
    assert [node.unit for node in step.topology.replicas_of(f"{0:040x}")] == ["redis/3"]


def test_a_new_master_gets_its_share_of_the_slots(fake: FakeCluster) -> None:
    ready = _endpoints(4)
    fake.answers = {"cluster_state": "ok"}
    fake.nodes = _thirds()
    said: list[str] = []
    clustering.lead(
        clustering.View("redis/0", ready["redis/0"], "pw", 0, ready, _topology(list(ready)[:3])), said.append
    )
    assert fake.rebalanced == [ready["redis/0"]]
    assert said == ["adding redis/3 to the cluster", "moving slots: 1 of 1 to redis/3"]


def test_slots_left_open_are_repaired_even_when_the_shares_are_even(fake: FakeCluster) -> None:
    ready = _endpoints(3)
    fake.answers = {"cluster_state": "ok"}
    fake.nodes = _thirds()
    fake.open = ("slot 5 left migrating",)
    clustering.lead(clustering.View("redis/0", ready["redis/0"], "pw", 0, ready, _topology(ready)), lambda _: None)
    assert fake.rebalanced == [ready["redis/0"]]
