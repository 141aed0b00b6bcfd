"""Driving the hook-logger test charm and reading what it logged, for the local model's
integration tests."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from typing import Any, TypeVar

import jubilant

from conftest import CHARMS, model_dir

HOOK_LOGGER = CHARMS / "hook-logger"
APP = "hook-logger"
LOG = "/var/log/hook-logger/hooks.jsonl"
COMMANDS = "/etc/hook-logger/commands.json"
COMMAND_LOG = "/var/log/hook-logger/commands.jsonl"
T = TypeVar("T")


def read_jsonl(juju: jubilant.Juju, unit: str, path: str) -> list[dict[str, Any]]:
    """The JSON lines of a file inside a unit (none if it does not exist yet)."""
    out = juju.exec(f"cat {path} 2>/dev/null || true", unit=unit).stdout
    return [json.loads(line) for line in out.splitlines()]


def hooks(juju: jubilant.Juju, unit: str) -> list[dict[str, Any]]:
    """The hooks a hook-logger unit logged, read inside the unit."""
    return read_jsonl(juju, unit, LOG)


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


def eventually(check: Callable[[], T], timeout: float = 60.0) -> T:
    """Poll check until it returns something truthy; fail with its last result after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, f"condition not met within {timeout} s: {result!r}"
            return result
        time.sleep(0.2)


def run_in_hooks(juju: jubilant.Juju, unit: str, commands: dict[str, list[str]]) -> None:
    """Ask a hook-logger unit to run shell commands in the named hooks from now on."""
    juju.exec(f"echo {shlex.quote(json.dumps(commands))} > {COMMANDS}", unit=unit)


def command_results(juju: jubilant.Juju, unit: str, hook: str | None = None) -> list[dict[str, Any]]:
    """What the commands asked for by run_in_hooks printed (rc, stdout, stderr), oldest first."""
    return [r for r in read_jsonl(juju, unit, COMMAND_LOG) if hook is None or r["hook"] == hook]


def in_hook(juju: jubilant.Juju, unit: str, command: str) -> str:
    """Run a command in a hook context of the unit (`juju exec`) and return its stdout."""
    return juju.exec(command, unit=unit).stdout


def relation_id(juju: jubilant.Juju, unit: str, endpoint: str) -> str:
    """The id (`endpoint:N`) of the unit's relation on endpoint."""
    return json.loads(in_hook(juju, unit, f"relation-ids {endpoint} --format=json"))[0]
