"""Tasks: `juju exec` commands and `juju run` actions queued on a unit.

A task is a file tasks/ID.json (0600) under the model directory, so large outputs stay out of
the state document; the unit's record lists the ids of its pending tasks, which the controller
runs between hooks (before the unit's next hook), as Juju's uniter does. While an action runs,
its `action-log` lines are kept in the hook context's `action.log`; the controller copies them
into the task when it ends, and `show-task` reads them from the context while it runs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Literal, TypedDict

from .records import NotRequired
from .state import ModelDir, State, private_write

TaskStatus = Literal["pending", "running", "completed", "failed", "aborted"]
FINISHED = ("completed", "failed", "aborted")


class Task(TypedDict):
    """One exec or action task and, once it ran, its results."""

    id: str
    unit: str
    kind: Literal["exec", "action"]
    name: str  # the action's name, or "juju-exec"
    command: str  # exec only
    params: dict[str, Any]
    status: TaskStatus
    enqueued: str
    started: str
    completed: str
    results: dict[str, Any]
    message: str
    log: list[str]
    timeout: float | None
    ctx_id: NotRequired[str]


def stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def path(mdl: ModelDir, task_id: str) -> Path:
    return mdl.tasks / f"{task_id}.json"


def create(
    mdl: ModelDir, state: State, unit: str, kind: Literal["exec", "action"], name: str, *, command: str = "",
    params: dict[str, Any] | None = None, timeout: float | None = None,
) -> str:  # fmt: skip
    """Record a pending task on unit and return its id (call inside a state transaction)."""
    task_id = str(state["next_task"])
    state["next_task"] += 1
    task: Task = {"id": task_id, "unit": unit, "kind": kind, "name": name, "command": command,
                  "params": params or {}, "status": "pending", "enqueued": stamp(), "started": "", "completed": "",
                  "results": {}, "message": "", "log": [], "timeout": timeout}  # fmt: skip
    save(mdl, task)
    state["units"][unit].setdefault("tasks", []).append(task_id)
    return task_id


def load(mdl: ModelDir, task_id: str) -> Task | None:
    try:
        with open(path(mdl, task_id), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def save(mdl: ModelDir, task: Task) -> None:
    mdl.tasks.mkdir(mode=0o700, exist_ok=True)
    private_write(path(mdl, task["id"]), json.dumps(task))


def started(mdl: ModelDir, task: Task, ctx_id: str) -> None:
    task.update(status="running", started=stamp(), ctx_id=ctx_id)
    save(mdl, task)


def abort_pending(mdl: ModelDir, task_ids: list[str], reason: str) -> None:
    """End tasks that can no longer run (their unit is gone)."""
    for task_id in task_ids:
        task = load(mdl, task_id)
        if task is not None and task["status"] == "pending":
            task.update(status="aborted", completed=stamp(), message=reason)
            save(mdl, task)


def live_log(mdl: ModelDir, task: Task) -> list[str]:
    """The task's log; while it runs, read from its hook context (where action-log writes)."""
    if task["status"] != "running" or "ctx_id" not in task:
        return task["log"]
    try:
        with open(mdl.contexts / f"{task['ctx_id']}.json", encoding="utf-8") as f:
            return list(json.load(f).get("action", {}).get("log", []))
    except (OSError, ValueError):
        return task["log"]


def wait(mdl: ModelDir, task_id: str, timeout: float) -> Task | None:
    """Wait until a task has finished; None if it did not within timeout."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        task = load(mdl, task_id)
        if task is not None and task["status"] in FINISHED:
            return task
        if time.monotonic() > deadline:
            return None
        time.sleep(delay)
        delay = min(delay * 1.5, 0.05)
