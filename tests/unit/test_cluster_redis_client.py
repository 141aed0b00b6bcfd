"""The executor's connections over redis-py, against a real redis-server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import real_redis

from charms.layer.redis.cluster.executor import Endpoint, ReplyError, Unreachable
from charms.layer.redis.cluster.redis_client import RedisConnection, RedisConnections

from conftest import free_port


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    with real_redis.running(tmp_path_factory) as server:
        port = int(next(line.split()[1] for line in server.rendered.splitlines() if line.startswith("port ")))
        yield Endpoint("127.0.0.1", port)


@pytest.fixture
def connection(endpoint: Endpoint) -> Iterator[RedisConnection]:
    opened = RedisConnections(real_redis.PASSWORD, connect_timeout=2.0, command_timeout=2.0).connect(endpoint)
    yield opened
    opened.close()


def test_replies_come_as_redis_sent_them(connection: RedisConnection) -> None:
    assert connection.command("PING") == b"PONG"
    assert connection.command("SET", "k", "v") == b"OK"
    info = connection.command("INFO", "server")
    assert isinstance(info, bytes) and b"redis_version:" in info


def test_an_error_reply_is_the_message_redis_wrote(connection: RedisConnection) -> None:
    with pytest.raises(ReplyError, match=r"^ERR This instance has cluster support disabled$"):
        connection.command("CLUSTER", "NODES")
    connection.command("SET", "string", "v")
    with pytest.raises(ReplyError, match=r"^WRONGTYPE Operation against a key holding the wrong kind of value$"):
        connection.command("LPUSH", "string", "x")


def test_a_pipeline_answers_every_command_in_order_with_errors_in_place(connection: RedisConnection) -> None:
    replies = connection.pipeline([("SET", "p", "1"), ("CLUSTER", "NODES"), ("GET",), ("GET", "p")])
    assert replies[0] == b"OK" and replies[3] == b"1"
    assert isinstance(replies[1], ReplyError) and str(replies[1]) == "ERR This instance has cluster support disabled"
    # A command Redis refuses outright fails alone: the pipeline is no transaction that it aborts.
    assert isinstance(replies[2], ReplyError) and str(replies[2]) == "ERR wrong number of arguments for 'get' command"


def test_a_wrong_password_or_a_closed_port_is_unreachable_naming_the_endpoint(endpoint: Endpoint) -> None:
    wrong = RedisConnections("not-the-password", connect_timeout=2.0, command_timeout=2.0).connect(endpoint)
    with pytest.raises(Unreachable, match=rf"^{endpoint}: AuthenticationError$"):
        wrong.command("PING")
    closed = Endpoint("127.0.0.1", free_port())
    with pytest.raises(Unreachable, match=rf"^{closed}: ConnectionError$"):
        RedisConnections(real_redis.PASSWORD, connect_timeout=2.0).connect(closed).command("PING")
    with pytest.raises(Unreachable, match=rf"^{closed}: ConnectionError$"):
        RedisConnections(real_redis.PASSWORD, connect_timeout=2.0).connect(closed).pipeline([("PING",)])


def test_the_password_is_never_in_the_connections_repr_and_cannot_be_changed() -> None:
    connections = RedisConnections(real_redis.PASSWORD)
    assert real_redis.PASSWORD not in repr(connections)
    with pytest.raises(AttributeError):
        connections.password = "another"  # type: ignore[misc]
