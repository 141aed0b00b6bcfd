"""The cluster steps the handlers take: waiting for the slot-move lock, what units are told while they wait."""

from __future__ import annotations

import pytest

from charms.layer.redis import clustering
from charms.layer.redis.cluster.executor import ClusterError, Endpoint, MoveInProgress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_work_waits_its_turn_while_another_unit_moves_slots() -> None:
    clock, said, tries = Clock(), [], []

    def work() -> str:
        tries.append(clock.now)
        if len(tries) < 3:
            raise MoveInProgress("redis/4")
        return "done"

    assert clustering.when_free(work, said.append, clock, clock.sleep) == "done"
    assert said == ["waiting for the cluster: redis/4 is moving slots"] * 2
    assert tries == [0.0, 1.0, 2.0]


def test_waiting_ends_naming_the_holder() -> None:
    clock = Clock()

    def work() -> None:
        raise MoveInProgress("redis/4")

    with pytest.raises(ClusterError, match="redis/4 is moving slots for longer than 600 s"):
        clustering.when_free(work, lambda _: None, clock, clock.sleep)
    assert clock.now == pytest.approx(clustering.RETIRE_WAIT, abs=1.0)


def test_units_say_how_many_of_how_many_are_ready() -> None:
    own = Endpoint("127.0.0.1", 6379)
    view = clustering.View("redis/0", own, "pw", 1, {"redis/0": own, "redis/1": Endpoint("127.0.0.2", 6379)})
    step = clustering.member_status(view)
    assert (step.status, step.message) == ("waiting", "2 of 6 units ready for the cluster (3 masters, 1 replicas each)")
