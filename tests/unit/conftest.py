"""Unit-test fixtures: charms.reactive with its flags in a throw-away kv store, no Juju."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from charms.layer import import_shims

# As in every hook (charms.layer.basic): Python 3.12 has no distutils, and
# charmhelpers and charms.reactive import it and pkg_resources.
import_shims.install()

from charmhelpers import osplatform  # noqa: E402

# charmhelpers refuses to import on anything but Ubuntu; the logic under test
# does not depend on the platform.
osplatform.get_platform = lambda: "ubuntu"

from fake_machine import FakeMachine  # noqa: E402


@pytest.fixture
def reactive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """charms.reactive with a fresh unit state database and charm directory."""
    from charmhelpers.core import hookenv, unitdata

    monkeypatch.setenv("UNIT_STATE_DB", str(tmp_path / "unit-state.db"))
    monkeypatch.setenv("CHARM_DIR", str(tmp_path))
    monkeypatch.setenv("JUJU_CHARM_DIR", str(tmp_path))
    monkeypatch.setenv("JUJU_UNIT_NAME", "redis/0")
    monkeypatch.setattr(unitdata, "_KV", None)
    hookenv.cache.clear()
    import charms.reactive

    yield charms.reactive
    unitdata.kv().close()
    monkeypatch.setattr(unitdata, "_KV", None)


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> FakeMachine:
    """systemd, redis.conf and Redis of one unit, in memory (tests/unit/fake_machine.py)."""
    fake = FakeMachine()
    fake.attach(monkeypatch)
    return fake


def free_port() -> int:
    """A TCP port nothing listens on right now, for a throw-away redis-server."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_cluster_port() -> int:
    """A free TCP port whose cluster bus port (+10000) is a port too, and free, for a redis-server in cluster mode."""
    for _ in range(100):
        port = free_port()
        if port + 10000 <= 65535:
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port pair on 127.0.0.1")
