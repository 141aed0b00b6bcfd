"""Real redis-server processes in cluster mode on 127.0.0.1, for the cluster library's tests and bench.

Each node gets free ports (its own and the bus port, +10000), a temporary
directory, and a config file readable by root only that holds requirepass and
masterauth, so no password appears in any process's arguments. The processes
run in the foreground under this process, which stops and reaps every one.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charms.layer.redis.cluster.executor import (
    ClusterExecutor,
    CommandArg,
    Endpoint,
    Limits,
    MigrateAuth,
    ReplyError,
)
from charms.layer.redis.cluster.redis_client import RedisConnections

LOOPBACK = "127.0.0.1"
BUS_OFFSET = 10000
START_TIMEOUT = 10.0


class NodeDidNotStart(Exception):
    pass


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_cluster_port() -> int:
    """A port free on loopback whose cluster bus port (+10000) is free too."""
    for _ in range(200):
        port = random.randint(20000, 29999)
        if port_is_free(port) and port_is_free(port + BUS_OFFSET):
            return port
    raise NodeDidNotStart("no free port pair on 127.0.0.1")


@dataclass
class LocalNode:
    unit: str
    port: int
    directory: Path
    process: subprocess.Popen[bytes]

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(LOOPBACK, self.port)


@dataclass
class LocalCluster:
    """redis-server processes started on demand, all stopped by `stop_all`."""

    base: Path
    password: str = field(repr=False)
    node_timeout_ms: int = 2000
    nodes: list[LocalNode] = field(default_factory=list)

    @property
    def connections(self) -> RedisConnections:
        return RedisConnections(password=self.password)

    def executor(self, limits: Limits | None = None, holder: str = "") -> ClusterExecutor:
        return ClusterExecutor(self.connections, MigrateAuth("default", self.password), limits, holder=holder)

    @property
    def endpoints(self) -> Mapping[str, Endpoint]:
        return {node.unit: node.endpoint for node in self.nodes}

    def start(self, count: int) -> list[LocalNode]:
        return [self._start_one() for _ in range(count)]

    def _start_one(self) -> LocalNode:
        unit = f"redis/{len(self.nodes)}"
        for _ in range(5):
            port = free_cluster_port()
            directory = self.base / f"node-{port}"
            directory.mkdir(parents=True)
            config = directory / "redis.conf"
            config.touch(mode=0o600)
            config.write_text(self._config(port, directory))
            process = subprocess.Popen(
                ["redis-server", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            node = LocalNode(unit, port, directory, process)
            if self._answers(node):
                self.nodes.append(node)
                return node
            self._stop(node)
        raise NodeDidNotStart(f"redis-server for {unit} did not start; see {self.base}")

    def _config(self, port: int, directory: Path) -> str:
        return "\n".join(
            [
                f"port {port}",
                f"bind {LOOPBACK}",
                "protected-mode yes",
                "daemonize no",
                "cluster-enabled yes",
                "cluster-config-file nodes.conf",
                f"cluster-node-timeout {self.node_timeout_ms}",
                f"dir {directory}",
                f"logfile {directory / 'redis.log'}",
                'save ""',
                "appendonly no",
                # A replica syncs at once rather than waiting 5 s for others to share the transfer.
                "repl-diskless-sync-delay 0",
                f"requirepass {self.password}",
                f"masterauth {self.password}",
                "",
            ]
        )

    def _answers(self, node: LocalNode) -> bool:
        import redis

        client = redis.Redis(host=LOOPBACK, port=node.port, password=self.password, socket_timeout=1)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while time.monotonic() < deadline:
                if node.process.poll() is not None:
                    return False
                try:
                    return bool(client.ping())
                except redis.ConnectionError:
                    time.sleep(0.05)
            return False
        finally:
            client.close()

    def _stop(self, node: LocalNode) -> None:
        if node.process.poll() is None:
            node.process.terminate()
            try:
                node.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()

    def stop_all(self) -> None:
        for node in self.nodes:
            self._stop(node)

    def redis_cli(self, *arguments: str, timeout: float = 1800) -> None:
        """`redis-cli --cluster ARGUMENTS --cluster-yes`, the password in its environment (REDISCLI_AUTH)."""
        subprocess.run(
            ["redis-cli", "--cluster", *arguments, "--cluster-yes"],
            env={**os.environ, "REDISCLI_AUTH": self.password},
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
        )

    def client(self, **options: object):
        """A cluster-aware redis-py client started from the first node."""
        from redis.cluster import RedisCluster

        first = self.nodes[0]
        return RedisCluster(host=LOOPBACK, port=first.port, password=self.password, **options)


@contextmanager
def local_cluster(base: Path, password: str | None = None) -> Iterator[LocalCluster]:
    cluster = LocalCluster(base, password or os.urandom(16).hex())
    try:
        yield cluster
    finally:
        cluster.stop_all()


def sample_data(count: int, value_size: int = 100, prefix: str = "key") -> dict[str, bytes]:
    return {f"{prefix}:{index}": os.urandom(value_size // 2).hex().encode() for index in range(count)}


def write_all(client, data: Mapping[str, bytes], batch: int = 5000) -> None:
    items = list(data.items())
    for start in range(0, len(items), batch):
        client.mset_nonatomic(dict(items[start : start + batch]))


def missing_or_wrong(client, data: Mapping[str, bytes], batch: int = 5000) -> list[str]:
    """Keys that no longer read back with the value written."""
    keys = list(data)
    wrong = []
    for start in range(0, len(keys), batch):
        part = keys[start : start + batch]
        for key, value in zip(part, client.mget_nonatomic(part), strict=True):
            if value != data[key]:
                wrong.append(key)
    return wrong


class FakeClock:
    """A clock that moves only when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


Command = tuple[CommandArg, ...]
# Each reply of a scripted node: what it answers `command` at `endpoint`; a ReplyError raised is the reply.
Answer = Callable[[Endpoint, Command], Any]


class ScriptedConnections:
    """A connection factory whose nodes answer as `answer` says, recording every command sent, in order."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.sent: list[tuple[Endpoint, Command]] = []

    def connect(self, endpoint: Endpoint) -> ScriptedConnection:
        return ScriptedConnection(self, endpoint)

    def sent_to(self, endpoint: Endpoint) -> list[Command]:
        return [command for to, command in self.sent if to == endpoint]


@dataclass
class ScriptedConnection:
    connections: ScriptedConnections
    endpoint: Endpoint

    def command(self, *args: CommandArg) -> Any:
        (reply,) = self.pipeline([args])
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    def pipeline(self, commands: Sequence[Sequence[CommandArg]]) -> list[Any]:
        return [self._reply(tuple(command)) for command in commands]

    def _reply(self, command: Command) -> Any:
        self.connections.sent.append((self.endpoint, command))
        try:
            return self.connections.answer(self.endpoint, command)
        except ReplyError as error:
            return error

    def close(self) -> None:
        pass


def node_line(
    node_id: str, port: int, flags: str = "master", slots: str = "", master: str = "-", link: str = "connected"
) -> str:
    """One line of CLUSTER NODES for a node on 127.0.0.1."""
    return f"{node_id} {LOOPBACK}:{port}@{port + BUS_OFFSET} {flags} {master} 0 0 1 {link} {slots}".rstrip()
