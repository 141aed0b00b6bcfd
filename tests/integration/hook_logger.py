"""Reading what the hook-logger test charm logged, for the local model's integration tests."""

from __future__ import annotations

import json
from typing import Any

import jubilant

from conftest import CHARMS, model_dir

HOOK_LOGGER = CHARMS / "hook-logger"
APP = "hook-logger"
LOG = "/var/log/hook-logger/hooks.jsonl"


def hooks(juju: jubilant.Juju, unit: str) -> list[dict[str, Any]]:
    """The hooks a hook-logger unit logged, read inside the unit."""
    out = juju.exec(f"cat {LOG}", unit=unit).stdout
    return [json.loads(line) for line in out.splitlines()]


def removed_unit_entries(juju: jubilant.Juju, unit: str) -> list[dict[str, Any]]:
    """The hooks a removed unit logged, read from its machine's overlay layer on the host."""
    upper = model_dir(juju) / "units" / unit.replace("/", "-") / "upper"
    path = upper / LOG.lstrip("/")
    return [json.loads(line) for line in path.read_text().splitlines()]


def removed_unit_hooks(juju: jubilant.Juju, unit: str) -> list[str]:
    return names(removed_unit_entries(juju, unit))


def names(entries: list[dict[str, Any]]) -> list[str]:
    return [e["hook"] for e in entries]


def leaders(juju: jubilant.Juju, app: str = APP) -> list[str]:
    return [u for u, s in juju.status().get_units(app).items() if s.leader]
