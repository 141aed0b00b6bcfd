"""The executor's side of the slot-move protocol and its bounded waits, seen through a fake connection factory."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from cluster_helpers import FakeClock

from charms.layer.redis.cluster.executor import (
    ClusterError,
    ClusterExecutor,
    ClusterTimeout,
    CommandArg,
    Endpoint,
    Limits,
    MigrateAuth,
    ReplyError,
)
from charms.layer.redis.cluster.plan import SlotMove

SOURCE, TARGET, OTHER = ("a" * 40, "b" * 40, "c" * 40)
PORTS = {SOURCE: 7001, TARGET: 7002, OTHER: 7003}


def nodes_text(asked: str) -> bytes:
    lines = []
    for node_id, port in PORTS.items():
        flags = "myself,master" if node_id == asked else "master"
        slots = {SOURCE: "0-5460", TARGET: "5461-10922", OTHER: "10923-16383"}[node_id]
        lines.append(f"{node_id} 127.0.0.1:{port}@{port + 10000} {flags} - 0 0 1 connected {slots}")
    return "\n".join(lines).encode()


class RecordingConnection:
    """Answers as a healthy three-master cluster would; slot 7 of the source holds three keys."""

    def __init__(self, node_id: str, log: list[tuple[str, tuple[CommandArg, ...]]]) -> None:
        self.node_id, self.log = node_id, log
        self.keys_left = [b"k1", b"k2", b"k3"] if node_id == SOURCE else []

    def command(self, *args: CommandArg) -> Any:
        return self.pipeline([args])[0]

    def pipeline(self, commands: Sequence[Sequence[CommandArg]]) -> list[Any]:
        return [self._reply(tuple(command)) for command in commands]

    def _reply(self, command: tuple[CommandArg, ...]) -> Any:
        self.log.append((self.node_id, command))
        if command[:2] == ("CLUSTER", "NODES"):
            return nodes_text(self.node_id)
        if command[:2] == ("CLUSTER", "GETKEYSINSLOT"):
            return self.keys_left[: int(command[3])]
        if command[0] == "MIGRATE":
            self.keys_left = [key for key in self.keys_left if key not in command]
        return b"OK"

    def close(self) -> None:
        pass


class RecordingConnections:
    def __init__(self, answering: type[RecordingConnection] = RecordingConnection) -> None:
        self.log: list[tuple[str, tuple[CommandArg, ...]]] = []
        self.answering = answering

    def connect(self, endpoint: Endpoint) -> RecordingConnection:
        node_id = next(node for node, port in PORTS.items() if port == endpoint.port)
        return self.answering(node_id, self.log)


def test_a_slot_moves_in_the_documented_order_with_auth2_and_batches():
    connections = RecordingConnections()
    executor = ClusterExecutor(connections, MigrateAuth("replicator", "s3cret"), Limits(keys_per_migrate=2))
    moved = executor.move(Endpoint("127.0.0.1", 7001), [SlotMove(7, SOURCE, TARGET)])
    steps = [(node, command) for node, command in connections.log if command[:2] != ("CLUSTER", "NODES")]
    migrate = ("MIGRATE", "127.0.0.1", 7002, "", 0, 10_000, "AUTH2", "replicator", "s3cret", "KEYS")
    assert steps == [
        (TARGET, ("CLUSTER", "SETSLOT", 7, "IMPORTING", SOURCE)),
        (SOURCE, ("CLUSTER", "SETSLOT", 7, "MIGRATING", TARGET)),
        (SOURCE, ("CLUSTER", "GETKEYSINSLOT", 7, 2)),
        (SOURCE, (*migrate, b"k1", b"k2")),
        (SOURCE, ("CLUSTER", "GETKEYSINSLOT", 7, 2)),
        (SOURCE, (*migrate, b"k3")),
        (SOURCE, ("CLUSTER", "GETKEYSINSLOT", 7, 2)),
        (TARGET, ("CLUSTER", "SETSLOT", 7, "NODE", TARGET)),
        (SOURCE, ("CLUSTER", "SETSLOT", 7, "NODE", TARGET)),
        (OTHER, ("CLUSTER", "SETSLOT", 7, "NODE", TARGET)),
    ]
    assert moved == 3


def test_the_migrate_password_never_shows_in_a_repr():
    assert "s3cret" not in repr(MigrateAuth("replicator", "s3cret"))


class NeverJoins(RecordingConnection):
    """A new node (id d…) no member ever learns of, and one member still loading its data."""

    def _reply(self, command: tuple[CommandArg, ...]) -> Any:
        if command[:2] == ("CLUSTER", "MYID"):
            return b"d" * 40
        if command[:2] == ("CLUSTER", "NODES") and self.node_id == OTHER:
            raise ReplyError("LOADING Redis is loading the dataset in memory")
        return super()._reply(command)


def test_a_wait_gives_up_at_its_bound_and_says_what_it_waited_for():
    clock = FakeClock()
    connections = RecordingConnections(NeverJoins)
    limits = Limits(wait_timeout=30)
    executor = ClusterExecutor(connections, MigrateAuth("default", "x"), limits, clock=clock, sleep=clock.sleep)
    new = Endpoint("127.0.0.1", 7003)
    with pytest.raises(ClusterTimeout) as timeout:
        executor.add_node(Endpoint("127.0.0.1", 7001), new)
    assert str(timeout.value) == (
        "gave up waiting for 127.0.0.1:7003 to be known by every node and serve all slots"
        " (last error: LOADING Redis is loading the dataset in memory)"
    )
    assert 30 <= clock.now < 31
    assert (SOURCE, ("CLUSTER", "MEET", "127.0.0.1", 7003)) in connections.log


def test_importing_the_cluster_library_does_not_import_redis():
    root = Path(__file__).resolve().parents[2]
    code = (
        "import sys; sys.path.insert(0, 'tests'); import conftest; "
        "import charms.layer.redis.cluster.executor, charms.layer.redis.cluster.redis_client; "
        "print('redis' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


class MovedAddress(RecordingConnection):
    """The node c… now answers at port 7013; the others know it at 7003 until it is met there."""

    met = False

    def _reply(self, command: tuple[CommandArg, ...]) -> Any:
        if command[:2] == ("CLUSTER", "MEET") and command[3] == 7013:
            MovedAddress.met = True
        if command[:2] == ("CLUSTER", "MYID"):
            return self.node_id.encode()
        if command[:2] == ("CLUSTER", "INFO"):
            return b"cluster_state:ok\r\ncluster_slots_ok:16384\r\n"
        reply = super()._reply(command)
        if command[:2] != ("CLUSTER", "NODES"):
            return reply
        if MovedAddress.met or self.node_id == OTHER:
            return reply.replace(b"127.0.0.1:7003@17003", b"127.0.0.1:7013@17013")
        # Unreachable where the others last saw it.
        return reply.replace(b"@17003 master - 0 0 1 connected", b"@17003 master,fail - 0 0 1 disconnected")


class MovedConnections(RecordingConnections):
    def connect(self, endpoint: Endpoint) -> RecordingConnection:
        if endpoint.port == 7013:
            return self.answering(OTHER, self.log)
        return super().connect(endpoint)


def test_a_node_known_at_an_old_address_is_met_at_its_new_one():
    MovedAddress.met = False
    clock = FakeClock()
    connections = MovedConnections(MovedAddress)
    executor = ClusterExecutor(connections, MigrateAuth("default", "x"), Limits(wait_timeout=30), clock, clock.sleep)
    assert executor.add_node(Endpoint("127.0.0.1", 7001), Endpoint("127.0.0.1", 7013)) == OTHER
    assert (SOURCE, ("CLUSTER", "MEET", "127.0.0.1", 7013)) in connections.log


class TargetLinkDown(RecordingConnection):
    """The source sees the target's link down for its first `reads_down` CLUSTER NODES, flagged `flags`."""

    reads_down = 0
    flags = b"master"

    def _reply(self, command: tuple[CommandArg, ...]) -> Any:
        if command[:2] == ("CLUSTER", "INFO"):
            return b"cluster_state:ok\r\ncluster_slots_ok:16384\r\n"
        reply = super()._reply(command)
        if command[:2] != ("CLUSTER", "NODES") or self.node_id != SOURCE or TargetLinkDown.reads_down <= 0:
            return reply
        TargetLinkDown.reads_down -= 1
        down = b"@17002 " + TargetLinkDown.flags + b" - 0 0 1 disconnected"
        return reply.replace(b"@17002 master - 0 0 1 connected", down)


def link_down(reads: int, flags: bytes = b"master") -> tuple[ClusterExecutor, FakeClock]:
    TargetLinkDown.reads_down, TargetLinkDown.flags = reads, flags
    clock = FakeClock()
    connections = RecordingConnections(TargetLinkDown)
    executor = ClusterExecutor(connections, MigrateAuth("default", "x"), None, clock, clock.sleep)
    return executor, clock


def test_a_link_that_reconnects_is_reported_healthy_after_it_has():
    # What a node sees for about 100 ms after a peer changed its announced port (tls-keep-plain-port).
    executor, clock = link_down(reads=3)
    health = executor.health(Endpoint("127.0.0.1", 7001))
    assert health.ok, health.message
    assert TargetLinkDown.reads_down == 0
    assert 0 < clock.now < 1


def test_slots_are_moved_once_a_reconnecting_link_is_back():
    executor, _ = link_down(reads=3, flags=b"master,fail?")
    ownership = executor.ownership(Endpoint("127.0.0.1", 7001))
    assert len(ownership[TARGET]) == 5462


def test_a_link_that_stays_down_is_reported_failing_once_the_settle_time_is_over():
    executor, clock = link_down(reads=10_000)
    health = executor.health(Endpoint("127.0.0.1", 7001))
    assert (health.ok, health.troubled) == (False, 1)
    assert Limits().settle_timeout <= clock.now < Limits().settle_timeout + 1
    with pytest.raises(ClusterError, match=f"master {TARGET[:8]} is failing or unreachable: no slot is moved"):
        executor.ownership(Endpoint("127.0.0.1", 7001))


def test_a_master_marked_failed_is_reported_without_waiting():
    executor, clock = link_down(reads=10_000, flags=b"master,fail")
    assert executor.health(Endpoint("127.0.0.1", 7001)).troubled == 1
    with pytest.raises(ClusterError, match="failing or unreachable"):
        executor.ownership(Endpoint("127.0.0.1", 7001))
    assert clock.now == 0
