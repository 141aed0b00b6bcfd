"""Fixtures for integration tests that drive the local model (tests/localjuju) with jubilant."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import jubilant
import pytest

TESTS = Path(__file__).resolve().parent.parent
# LOCALJUJU_BIN runs the tests against another `juju` (an older local model, or a real one).
LOCALJUJU = Path(os.environ.get("LOCALJUJU_BIN") or TESTS / "localjuju" / "juju")
CHARMS = TESTS / "charms"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--shuffle",
        metavar="SEED",
        help="run every local model under LOCALJUJU_SHUFFLE=SEED (one hook at a time, order drawn from SEED)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the integration marker; apply --shuffle to every model the tests create."""
    config.addinivalue_line("markers", "integration: runs real hooks in the local model (needs root)")
    seed = config.getoption("--shuffle", default=None)
    if seed:
        os.environ["LOCALJUJU_SHUFFLE"] = seed


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip integration tests when not root: units need namespaces and overlay mounts."""
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="the local model needs root (unshare, overlay mounts)")
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)


def settled(juju: jubilant.Juju, timeout: float | None = None) -> jubilant.Status:
    """Wait until every unit agent is idle: the hooks that follow the last command have run.

    Commands return once a change is recorded, as Juju's do; a unit with hooks still queued
    reports its agent as executing, so this cannot return before they ran.
    """
    return juju.wait(jubilant.all_agents_idle, delay=0.25, successes=1, timeout=timeout)


def model_dir(juju: jubilant.Juju) -> Path:
    """Where the local model keeps the model's state (units' overlay layers, logs)."""
    home = os.environ.get("LOCALJUJU_HOME")
    root = Path(home) if home else TESTS.parent / ".localjuju"
    assert juju.model is not None
    return root / "models" / juju.model


@pytest.fixture
def juju() -> Iterator[jubilant.Juju]:
    """A fresh local model with a unique name, destroyed at the end of the test."""
    juju = jubilant.Juju(cli_binary=LOCALJUJU, wait_timeout=60)
    name = f"test-{secrets.token_hex(4)}"
    juju.add_model(name)
    try:
        yield juju
    finally:
        juju.destroy_model(name, destroy_storage=True, force=True)
