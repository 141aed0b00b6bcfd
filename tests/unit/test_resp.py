"""The hook's small Redis client: what it sends over the unix socket and how it reads the answer."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from charms.layer.redis import resp


class OneReplyServer:
    """A unix socket that accepts one connection, records what it receives and answers one canned reply."""

    def __init__(self, path: Path, reply: bytes) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(1)
        self.reply = reply
        self.received = b""
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        peer, _ = self.listener.accept()
        with peer:
            peer.settimeout(5)
            while self.received.count(b"\r\n") < self.request_lines():
                chunk = peer.recv(4096)
                if not chunk:
                    return
                self.received += chunk
            peer.sendall(self.reply)

    def request_lines(self) -> int:
        """How many lines the request has: a RESP array of n bulk strings is 1 + 2n (unknown until its first line)."""
        if b"\r\n" not in self.received:
            return 1
        return 1 + 2 * int(self.received.split(b"\r\n", 1)[0].removeprefix(b"*"))

    def close(self) -> None:
        self.thread.join(timeout=5)
        self.listener.close()


def test_info_sends_info_with_its_section_and_reads_the_fields(tmp_path: Path) -> None:
    body = b"# Server\r\nredis_version:7.2.4\r\nrun_id:abc\r\n"
    server = OneReplyServer(tmp_path / "s", b"$%d\r\n%s\r\n" % (len(body), body))
    connection = resp.Connection(tmp_path / "s", 5.0)
    try:
        assert connection.info("server") == {"redis_version": "7.2.4", "run_id": "abc"}
    finally:
        connection.close()
        server.close()
    assert server.received == b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n"


def test_an_error_reply_is_raised_as_a_reply_error(tmp_path: Path) -> None:
    server = OneReplyServer(tmp_path / "s", b"-NOAUTH Authentication required.\r\n")
    connection = resp.Connection(tmp_path / "s", 5.0)
    try:
        with pytest.raises(resp.RedisReplyError, match="NOAUTH"):
            connection.command("PING")
    finally:
        connection.close()
        server.close()


def test_a_socket_nobody_listens_on_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        resp.Connection(tmp_path / "absent", 1.0)
