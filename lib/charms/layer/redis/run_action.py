"""Running one of the charm's actions: the unit's environment, the action's function, one readable failure.

Every `actions/<name>` script is the same three lines: it puts `lib` on the path
and calls `run("<name>")`. An action's function takes the action's parameters
(a dict, as `action-get` gives them) and returns the results to set; it reports
progress with `progress(line)`. A refusal is raised as `ActionRefused` with
one line saying what and why: the action fails with that line, and nothing else
is printed. Any other error fails the action with its type and message (never a
traceback with a password in its locals).
"""

from __future__ import annotations

import importlib
import subprocess
from collections.abc import Callable
from typing import Any

# Action name → "module:function" under charms.layer.redis.
ACTIONS: dict[str, str] = {
    "backup": "backup:backup_action",
    "list-backups": "backup:list_backups_action",
    "restore": "backup:restore_action",
    "cluster-status": "cluster_status:cluster_status_action",
    "get-admin-password": "password_actions:get_admin_password",
    "rotate-password": "password_actions:rotate_password",
    "forget-old-passwords": "password_actions:forget_old_passwords",
}


class ActionRefused(Exception):
    """The action cannot be done as asked: its message says what and why, in one line."""


def resolve(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    module_name, _, function = ACTIONS[name].partition(":")
    module = importlib.import_module(f"charms.layer.redis.{module_name}")
    return getattr(module, function)


def run(name: str) -> None:
    """Run action `name` in the unit's environment and report its results or its failure to Juju."""
    from charms.layer import basic

    basic.activate_venv()
    from charmhelpers.core import hookenv

    try:
        results = resolve(name)(hookenv.action_get() or {})
    except ActionRefused as refusal:
        hookenv.action_fail(str(refusal))
        return
    except Exception as error:  # any failure is reported, in one line
        hookenv.action_fail(f"{name} failed: {type(error).__name__}: {error}")
        return
    if results:
        hookenv.action_set(flatten(results))


def progress(line: str) -> None:
    """A progress line of the running action, as `juju run` and `juju show-task` show it.

    charmhelpers has no wrapper for Juju's action-log; a line that cannot be logged is not worth
    failing the action for."""
    subprocess.run(["action-log", line], check=False, timeout=30)


def flatten(results: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Juju's action-set takes dotted keys: {"a": {"b": 1}} becomes {"a.b": "1"}."""
    flat: dict[str, str] = {}
    for key, value in results.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = str(value)
    return flat
