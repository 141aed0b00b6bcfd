"""No process ever has the password in its arguments, sampled while the hooks run, not only after.

A poller on this machine reads every process's command line (/proc/*/cmdline;
the units' processes are visible from here) every few milliseconds while a
unit installs and while the password changes, and keeps each distinct command
line it saw. Afterwards none may hold the password, and the poller must have
seen the hooks themselves running, or it proved nothing.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import jubilant
import pytest
import redis

from conftest import LOCALJUJU, TESTS

pytestmark = pytest.mark.integration

CHARM = TESTS.parent / "build" / "redis"
APP = "redis"


class ArgvPoller(threading.Thread):
    """Every distinct command line on the machine, sampled until stopped."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.seen: set[bytes] = set()
        self.samples = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                with contextlib.suppress(OSError):  # the process ended while we looked
                    self.seen.add(cmdline.read_bytes())
            self.samples += 1
            self.halt.wait(0.002)

    def __enter__(self) -> ArgvPoller:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.halt.set()
        self.join()

    def hooks_seen(self) -> set[str]:
        """The hooks the poller caught running (by their file name)."""
        names = set()
        for cmdline in self.seen:
            for arg in cmdline.split(b"\0"):
                if b"/charm/hooks/" in arg:
                    names.add(arg.rsplit(b"/", 1)[-1].decode())
        return names

    def holding(self, secret: str) -> list[str]:
        """Command lines, other than the operator's own juju commands, that hold `secret` (masked)."""
        found = []
        for cmdline in self.seen:
            if secret.encode() in cmdline and str(LOCALJUJU).encode() not in cmdline:
                found.append(cmdline.replace(secret.encode(), b"<password>").replace(b"\0", b" ").decode())
        return found


@pytest.fixture(scope="module")
def juju() -> Iterator[jubilant.Juju]:
    if not (CHARM / "metadata.yaml").exists():
        subprocess.run(["make", "build"], cwd=TESTS.parent, check=True)
    juju = jubilant.Juju(cli_binary=LOCALJUJU, wait_timeout=120)
    name = f"argv-{secrets.token_hex(4)}"
    juju.add_model(name)
    try:
        yield juju
    finally:
        juju.destroy_model(name, destroy_storage=True, force=True)


def settled(status: jubilant.Status) -> bool:
    return jubilant.all_active(status) and jubilant.all_agents_idle(status)


def answers(juju: jubilant.Juju, password: str) -> bool:
    unit = juju.status().apps[APP].units[f"{APP}/0"]
    try:
        return bool(redis.Redis(host=unit.public_address, port=6379, password=password, socket_timeout=2).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="module")
def install(juju: jubilant.Juju) -> ArgvPoller:
    """Deploy the charm while the poller samples; the poller."""
    with ArgvPoller() as poller:
        juju.deploy(CHARM, APP)
        juju.wait(settled)
    return poller


def test_the_poller_sees_the_install_hooks_run(install: ArgvPoller) -> None:
    assert {"install", "leader-elected", "config-changed", "start"} <= install.hooks_seen(), install.hooks_seen()


def test_the_generated_password_never_reaches_argv_during_install(juju: jubilant.Juju, install: ArgvPoller) -> None:
    generated = juju.exec("secret-get $(leader-get password-secret) password", unit=f"{APP}/0").stdout.strip()
    assert len(generated) >= 32
    assert install.holding(generated) == []


def test_a_password_change_never_reaches_argv(juju: jubilant.Juju, install: ArgvPoller) -> None:
    new = f"argv-test-{secrets.token_hex(16)}"
    with ArgvPoller() as poller:
        juju.config(APP, {"password": new})
        juju.wait(lambda status: settled(status) and answers(juju, new))
    assert "config-changed" in poller.hooks_seen(), poller.hooks_seen()
    assert poller.holding(new) == []
