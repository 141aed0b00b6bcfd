"""Talking to the local Redis as its administrator: PING, INFO and CONFIG SET over the unix socket.

The socket, not TCP, so that a port or bind change never cuts the charm off
from the server it is reconfiguring.

redis-py is imported only by the functions that talk to Redis: importing it
costs about 100 ms (it pulls in asyncio), which hooks that never reach Redis
should not pay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis


class Unreachable(Exception):
    """The server did not answer, or not to this password."""


class Refused(Exception):
    """The server answered a CONFIG SET with an error: it will not take that value."""


@dataclass(frozen=True)
class Health:
    """What an authenticated PING and INFO told about the server."""

    ok: bool
    version: str = ""
    run_id: str = ""
    problem: str = ""


def connect(socket: Path, password: str, timeout: float = 5.0) -> redis.Redis:
    import redis

    return redis.Redis(
        unix_socket_path=str(socket),
        password=password or None,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        decode_responses=True,
    )


def health(socket: Path, password: str) -> Health:
    """PING with the password, then the version and run_id from INFO server."""
    import redis

    client = connect(socket, password)
    try:
        client.ping()
        info = client.info("server")
    except redis.AuthenticationError:
        return Health(ok=False, problem="Redis refused the password")
    except redis.RedisError as error:
        return Health(ok=False, problem=f"Redis does not answer ({type(error).__name__})")
    finally:
        client.close()
    return Health(ok=True, version=str(info.get("redis_version", "")), run_id=str(info.get("run_id", "")))


def config_set(socket: Path, password: str, changes: Mapping[str, str]) -> None:
    """Apply directives to the running server, authenticated with its current password.

    Raises Refused (naming the directive, never its value) when Redis rejects one,
    and Unreachable when it cannot be asked.
    """
    import redis

    client = connect(socket, password)
    try:
        for name, value in changes.items():
            try:
                client.config_set(name, value)
            except redis.ResponseError as error:
                raise Refused(f"{name}: {str(error).split(' - ')[-1][:120]}") from None
    except (redis.ConnectionError, redis.TimeoutError) as error:
        raise Unreachable(type(error).__name__) from None
    finally:
        client.close()
