"""A real redis-server started from the charm's own rendered redis.conf, in a temporary directory."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from charms.layer.redis import admin, conf, service, settings

from conftest import free_cluster_port, free_port
from fakejuju import config_defaults

DEFAULTS = config_defaults()

PASSWORD = "unit-test-password-1"


@dataclass(frozen=True)
class Server:
    """A running redis-server, its layout and the configuration it was started with."""

    layout: conf.Layout
    rendered: str
    process: subprocess.Popen[bytes]


def start(tmp_path: Path, **options: object) -> Server:
    # A short unix socket path: AF_UNIX paths are limited to 107 bytes.
    data = tmp_path / "data"
    data.mkdir()
    layout = conf.Layout(
        service="redis-server",
        binary="redis-server",
        conf=tmp_path / "redis.conf",
        data_dir=data,
        logfile=tmp_path / "redis.log",
        unixsocket=tmp_path / "r.sock",
        pidfile=tmp_path / "redis.pid",
    )
    parsed = settings.parse({**DEFAULTS, **options})
    parsed = replace(parsed, port=free_cluster_port() if parsed.cluster_enabled else free_port())
    rendered = conf.render(parsed, PASSWORD, "127.0.0.1", layout)
    layout.conf.write_text(rendered)
    process = subprocess.Popen(["redis-server", str(layout.conf), "--supervised", "no"])
    ready = service.wait_until(lambda: admin.health(layout.unixsocket, PASSWORD, 1.0).ok, timeout=10)
    assert ready, "redis-server did not start"
    return Server(layout, rendered, process)


@contextmanager
def running(tmp_path_factory: pytest.TempPathFactory, **options: object) -> Iterator[Server]:
    """A redis-server for one test with charm `options` (config.yaml names), killed afterwards.

    The test is skipped without redis-server."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server not installed")
    started = start(tmp_path_factory.mktemp("r"), **options)
    try:
        yield started
    finally:
        started.process.kill()
        started.process.wait(timeout=10)
