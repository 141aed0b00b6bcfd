"""Shared by the benchmarks: a local model with the built Redis charm, and small measuring helpers."""

from __future__ import annotations

import contextlib
import secrets
import socket
import statistics
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import jubilant

ROOT = Path(__file__).resolve().parent.parent
CHARM = ROOT / "build" / "redis"
LOCALJUJU = ROOT / "tests" / "localjuju" / "juju"


@contextlib.contextmanager
def redis_model(config: Mapping[str, object] | None = None, units: int = 1) -> Iterator[jubilant.Juju]:
    """A throw-away local model running the built charm, destroyed on exit."""
    if not (CHARM / "metadata.yaml").exists():
        subprocess.run(["make", "build"], cwd=ROOT, check=True)
    juju = jubilant.Juju(cli_binary=LOCALJUJU, wait_timeout=180)
    name = f"bench-{secrets.token_hex(4)}"
    juju.add_model(name)
    try:
        juju.deploy(CHARM, "redis", num_units=units, config=dict(config or {}))
        juju.wait(jubilant.all_active)
        yield juju
    finally:
        juju.destroy_model(name, destroy_storage=True, force=True)


def unit_address(juju: jubilant.Juju, unit: str = "redis/0") -> str:
    return juju.status().apps["redis"].units[unit].public_address


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def median(values: list[float]) -> float:
    return statistics.median(values)
