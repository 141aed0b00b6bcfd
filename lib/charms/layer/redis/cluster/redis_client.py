"""The `Connections` factory backed by redis-py, imported only when a connection is made.

The password goes to Redis in the protocol (AUTH), never in a process's arguments.
Retries are off: every call fails within its timeout, and the executor decides
what to do again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .executor import CommandArg, Endpoint, ReplyError, Unreachable

if TYPE_CHECKING:
    import redis


@dataclass(frozen=True)
class RedisConnections:
    password: str = field(repr=False)
    username: str | None = None
    connect_timeout: float = 5.0
    # Above Limits.migrate_timeout_ms: a MIGRATE waits for the target before it answers.
    command_timeout: float = 30.0
    # The CA's certificate file: connect over TLS and verify each node against it (None: plain).
    ca_file: str | None = None

    def connect(self, endpoint: Endpoint) -> RedisConnection:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        client = redis.Redis(
            host=endpoint.host,
            port=endpoint.port,
            username=self.username,
            password=self.password or None,
            socket_connect_timeout=self.connect_timeout,
            socket_timeout=self.command_timeout,
            retry=Retry(NoBackoff(), 0),
            **self._tls(),
        )
        # Replies as Redis sent them (INFO as text, not a dict), the same for every command.
        client.response_callbacks.clear()
        return RedisConnection(client, endpoint)

    def _tls(self) -> dict[str, Any]:
        """redis-py's TLS options: the node's certificate must chain to the CA and name its address."""
        if self.ca_file is None:
            return {}
        return {"ssl": True, "ssl_ca_certs": self.ca_file, "ssl_cert_reqs": "required", "ssl_check_hostname": True}


class RedisConnection:
    def __init__(self, client: redis.Redis, endpoint: Endpoint) -> None:
        self._client = client
        self._endpoint = endpoint

    def command(self, *args: CommandArg) -> Any:
        import redis

        try:
            return self._client.execute_command(*args)
        except redis.ResponseError as error:
            raise _reply_error(error) from None
        except redis.RedisError as error:
            raise Unreachable(f"{self._endpoint}: {type(error).__name__}") from None

    def pipeline(self, commands: Sequence[Sequence[CommandArg]]) -> list[Any]:
        import redis

        pipe = self._client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        try:
            replies = pipe.execute(raise_on_error=False)
        except redis.ResponseError as error:
            raise _reply_error(error) from None
        except redis.RedisError as error:
            raise Unreachable(f"{self._endpoint}: {type(error).__name__}") from None
        return [_reply_error(r) if isinstance(r, redis.ResponseError) else r for r in replies]

    def close(self) -> None:
        self._client.close()


def _reply_error(error: Exception) -> ReplyError:
    """The error as Redis wrote it: redis-py takes codes such as MOVED or ASK off the message."""
    code = getattr(error, "status_code", None)
    return ReplyError(f"{code} {error}" if code else str(error))
