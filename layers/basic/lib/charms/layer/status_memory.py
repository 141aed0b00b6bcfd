"""status-set only when the unit's status differs from the one this charm last set.

A hook that finds all well sets the same status as the hook before it, one
hook-tool call for nothing. While `install` is in effect, hookenv.status_set
compares the unit's status with the one this unit last set, kept in the kv
store under KV_KEY, and calls status-set only when it differs.

When the memory is refreshed (forgotten, so that the next status_set calls
status-set whatever it holds):
- at the start of the hooks in REFRESHING_HOOKS, in which an operator's
  change arrives: a status set outside the charm's hooks (an operator's
  `juju exec -- status-set`, an action) stands until the charm's own status
  changes or one of these hooks runs;
- when the hook fails: status-set takes effect at once, while the kv store
  rolls back with the failed hook, so the memory would be wrong; it is
  forgotten and that alone is committed (see `forget_after_failure`);
- when a failing exec.d step sets blocked before charmhelpers is even
  importable (see `forget_in`).
Juju's "error" state of a failed hook is the agent's: once resolved, the unit
shows the workload status the charm set last, and the retried hook or the
next one sets it again anyway, the memory being forgotten.
Application statuses (`application=True`) are always set.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

KV_KEY = "layer.basic.last-status"
REFRESHING_HOOKS = ("install", "upgrade-charm", "config-changed", "start", "post-series-upgrade")


def unit_state_database(charm: Path) -> Path:
    """Where charmhelpers keeps the unit's kv store."""
    return Path(os.environ.get("UNIT_STATE_DB") or charm / ".unit-state.db")


def forget_in(database: Path) -> None:
    """Forget the remembered status in the kv store's database itself, with the standard library only."""
    if not database.exists():
        return
    with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(database)) as db, db:
        db.execute("DELETE FROM kv WHERE key = ?", (KV_KEY,))


class StatusMemory:
    """A status_set that skips what Juju already shows, remembering the last status in `kv`."""

    def __init__(self, real: Callable[..., Any], kv: Any) -> None:
        self.real = real
        self.kv = kv

    def status_set(self, workload_state: Any, message: str, application: bool = False) -> None:
        if application:
            self.real(workload_state, message, application=True)
            return
        state = getattr(workload_state, "value", workload_state)
        wanted = [str(state), message]
        if self.kv.get(KV_KEY) == wanted:
            return
        self.real(workload_state, message)
        self.kv.set(KV_KEY, wanted)


def install(environ: Mapping[str, str]) -> StatusMemory:
    """Route hookenv.status_set through the memory for this hook; forget it first in a refreshing hook."""
    from charmhelpers.core import hookenv, unitdata

    kv = unitdata.kv()
    if environ.get("JUJU_HOOK_NAME") in REFRESHING_HOOKS:
        kv.unset(KV_KEY)
    memory = StatusMemory(hookenv.status_set, kv)
    hookenv.status_set = memory.status_set
    return memory


def uninstall(memory: StatusMemory) -> None:
    from charmhelpers.core import hookenv

    hookenv.status_set = memory.real


def forget_after_failure() -> None:
    """Roll back the failed hook's kv changes, as its end would, and commit only the forgotten status."""
    from charmhelpers.core import unitdata

    kv = unitdata.kv()
    kv.flush(save=False)
    kv.unset(KV_KEY)
    kv.flush()
