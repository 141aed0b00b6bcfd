"""A real redis-server that a backup test can stop and start as systemd does the service, and its keys."""

from __future__ import annotations

import dataclasses
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import real_redis
from real_redis import PASSWORD

from charms.layer.redis import admin, service


@dataclasses.dataclass
class ProcessControl:
    """Starts and stops a redis-server process, as systemd does the service."""

    layout: service.Layout
    process: subprocess.Popen[bytes]
    fail_start: bool = False
    fail_stop: bool = False

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.fail_stop:
            self.fail_stop = False
            raise service.NoAnswer("systemctl stop redis-server did not answer within 120 s")
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)

    def start(self) -> None:
        if self.fail_start:
            self.fail_start = False
            raise service.ServiceError("systemctl start redis-server failed: start refused")
        self.process = subprocess.Popen(["redis-server", str(self.layout.conf), "--supervised", "no"])

    def write_config(self, text: str) -> None:
        self.layout.conf.write_text(text)


Running = tuple[real_redis.Server, ProcessControl]


@contextmanager
def running(tmp_path: Path, **options: object) -> Iterator[Running]:
    """A redis-server with charm `options` and its control, killed afterwards; skipped without redis-server."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server not installed")
    started = real_redis.start(tmp_path, **options)
    control = ProcessControl(started.layout, started.process)
    try:
        yield started, control
    finally:
        control.process.kill()
        control.process.wait(timeout=10)


def fill(started: real_redis.Server, count: int) -> None:
    with admin.session(started.layout.unixsocket, PASSWORD) as client:
        pipe = client.pipeline(transaction=False)
        for number in range(count):
            pipe.set(f"k:{number}", f"value-{number}")
        pipe.execute()


def keys_now(started: real_redis.Server) -> int:
    with admin.session(started.layout.unixsocket, PASSWORD) as client:
        return client.dbsize()
