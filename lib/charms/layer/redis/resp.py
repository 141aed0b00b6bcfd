"""A small Redis client over the unix socket, for the check every hook makes.

Importing redis-py costs a hook about 80 ms (it pulls in asyncio); the health
check and drift repair of a hook with nothing to do need a handful of
commands, which this client sends with the Nagios plugin's RESP encoder and
reader (check_redis, standard library only). Errors are those of the socket
(OSError, TimeoutError) and check_redis.RedisReplyError for an error reply.
"""

from __future__ import annotations

import socket
from pathlib import Path

from charms.layer.redis.check_redis import RedisReplyError, encode, parse_info, read_reply

__all__ = ["Connection", "RedisReplyError", "parse_info"]


class Connection:
    """One connection to the unix socket at `path`; every send and receive gives up after `timeout`."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.socket.settimeout(timeout)
            self.socket.connect(str(path))
            self.stream = self.socket.makefile("rwb")
        except BaseException:
            self.socket.close()
            raise

    def command(self, *args: str) -> str | int | list | None:
        self.stream.write(encode(*args))
        self.stream.flush()
        return read_reply(self.stream)

    def info(self, section: str) -> dict[str, str]:
        return parse_info(str(self.command("INFO", section)))

    def close(self) -> None:
        try:
            self.stream.close()
        finally:
            self.socket.close()
