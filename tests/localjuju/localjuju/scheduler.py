"""The controller's engine: runs queued hooks and tasks on units, in the background.

Units run in parallel, one hook at a time per machine, in their queue's order; a unit's pending
tasks (exec, actions) run before its next hook. With LOCALJUJU_SHUFFLE=<seed> one operation runs
at a time in the whole model and the next unit is picked at random from the seeded generator,
so interleavings are varied but reproducible; a hook still running after SHUFFLE_PATIENCE seconds
no longer holds the other units back (units on separate machines run their hooks in parallel in
Juju, and a hook may wait there for another unit's). A hook is a transaction: its relation settings
and port changes are committed only when it exits 0; otherwise the unit is put in error and its
queue stops until the hook is retried (Juju's backoff when automatically-retry-hooks is true,
at once on `juju resolve`). Idle started units run update-status every
update-status-hook-interval.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import JUJU_VERSION, lifecycle, machine, model, secrets, tasks, toolserver
from .hooktools import write_log
from .records import Event, HookContext, Unit
from .state import ModelDir, State, transaction

BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_counter = itertools.count()


@dataclass
class Job:
    """A hook or task handed to a unit's machine."""

    unit: str
    event: Event
    ctx_id: str
    argv: list[str] | None  # None: the charm has no file for this hook
    env: dict[str, str]
    cwd: str
    swap: dict[str, str] | None = None
    task: tasks.Task | None = None


def base_env(state: State, mdl: ModelDir, unit: str, ctx_id: str) -> dict[str, str]:
    """The environment every hook and `juju exec` command gets from the agent."""
    record = state["units"][unit]
    cd = lifecycle.charm_dir(unit)
    agent = f"/var/lib/juju/agents/unit-{unit.replace('/', '-')}"
    env = {
        "CHARM_DIR": cd,
        "JUJU_CHARM_DIR": cd,
        "JUJU_CONTEXT_ID": ctx_id,
        "JUJU_AGENT_SOCKET_ADDRESS": f"@{agent}/agent.socket",
        "JUJU_AGENT_SOCKET_NETWORK": "unix",
        "JUJU_UNIT_NAME": unit,
        "JUJU_MODEL_UUID": state["uuid"],
        "JUJU_MODEL_NAME": state["name"],
        "JUJU_API_ADDRESSES": "127.0.0.1:17070",
        "JUJU_MACHINE_ID": record["machine"],
        "JUJU_PRINCIPAL_UNIT": record.get("principal") or "",
        "JUJU_AVAILABILITY_ZONE": "",
        "JUJU_VERSION": JUJU_VERSION,
        "JUJU_SLA": "unsupported",
        "CLOUD_API_VERSION": "",
        "JUJU_CHARM_HTTP_PROXY": "",
        "JUJU_CHARM_HTTPS_PROXY": "",
        "JUJU_CHARM_FTP_PROXY": "",
        "JUJU_CHARM_NO_PROXY": "127.0.0.1,localhost,::1",
        "PATH": f"{mdl.tools}:{BASE_PATH}",
        "LANG": "C.UTF-8",
        "DEBIAN_FRONTEND": "noninteractive",
        "APT_LISTCHANGES_FRONTEND": "none",
        "HOME": "/root",
        "LOCALJUJU_MODEL_DIR": str(mdl.root),
    }
    toolserver.ensure(mdl)
    return env


def new_context(mdl: ModelDir, unit: str, kind: str, extra: dict[str, Any] | None = None) -> str:
    """Create the context file hook tools use; return its id."""
    ctx_id = f"{unit.replace('/', '-')}-{kind}-{os.getpid()}-{next(_counter)}"
    mdl.contexts.mkdir(exist_ok=True)
    ctx = {"unit": unit, "kind": kind, "relation_sets": {}, "ports": {"open": [], "close": []}, **(extra or {})}
    (mdl.contexts / f"{ctx_id}.json").write_text(json.dumps(ctx), encoding="utf-8")
    return ctx_id


def read_context(mdl: ModelDir, ctx_id: str) -> HookContext:
    """Read and delete a finished hook's context."""
    path = mdl.contexts / f"{ctx_id}.json"
    ctx = json.loads(path.read_text(encoding="utf-8"))
    path.unlink()
    return ctx


def hook_argv(state: State, unit: str, hook: str) -> list[str] | None:
    """Return how to run a hook (dispatch first, as Juju does), or None if the charm lacks it."""
    source = Path(state["apps"][state["units"][unit]["app"]]["charm_dir"])
    cd = lifecycle.charm_dir(unit)
    if os.access(source / "dispatch", os.X_OK):
        return [f"{cd}/dispatch"]
    if os.access(source / "hooks" / hook, os.X_OK):
        return [f"{cd}/hooks/{hook}"]
    return None


def relation_env(state: State, unit: str, ev: Event) -> dict[str, str]:
    """JUJU_RELATION* and JUJU_REMOTE_* for a relation hook."""
    rel = state["relations"].get(str(ev["rid"]))
    if rel is None:
        return {}
    endpoint = model.own_end(rel, state["units"][unit]["app"])["endpoint"]
    env = {
        "JUJU_RELATION": endpoint,
        "JUJU_RELATION_ID": f"{endpoint}:{ev['rid']}",
        "JUJU_REMOTE_UNIT": ev.get("remote", ""),
        "JUJU_REMOTE_APP": ev.get("remote_app", ""),
    }
    if ev.get("departing"):
        env["JUJU_DEPARTING_UNIT"] = ev["departing"]
    return env


def prepare(state: State, mdl: ModelDir, unit: str) -> Job | None:
    """Take the unit's next task, or else its next hook (none while it is in error), and get it
    ready to run."""
    record = state["units"][unit]
    while record.get("tasks"):
        task = tasks.load(mdl, record["tasks"].pop(0))
        if task is not None and task["status"] == "pending":
            return _prepare_task(state, mdl, unit, task)
    if not record["queue"] or record["error"] is not None:
        return None
    ev = record["queue"].pop(0)
    record["current"] = ev
    swap = None
    if ev.get("swap") is not None:
        app = state["apps"][record["app"]]
        swap = {"from": record.get("charm_source", app["charm_dir"]), "to": app["charm_dir"]}
        record["pending_swap"] = swap
    model.before_hook(state, unit, ev)
    ctx_id = new_context(mdl, unit, "hook", {"hook": ev["hook"]})
    env = base_env(state, mdl, unit, ctx_id) | {
        "JUJU_HOOK_NAME": ev["hook"],
        "JUJU_DISPATCH_PATH": f"hooks/{ev['hook']}",
    }
    if ev.get("rid") is not None:
        env |= relation_env(state, unit, ev)
    env |= secrets.hook_env(ev)
    return Job(unit, ev, ctx_id, hook_argv(state, unit, ev["hook"]), env, lifecycle.charm_dir(unit), swap)


def _prepare_task(state: State, mdl: ModelDir, unit: str, task: tasks.Task) -> Job:
    """Get an exec command or an action ready to run with its own hook context."""
    record = state["units"][unit]
    cd = lifecycle.charm_dir(unit)
    if task["kind"] == "exec":
        ctx_id = new_context(mdl, unit, "exec")
        argv, env = ["/bin/sh", "-c", task["command"]], {}
        label = "juju-exec"
    else:
        extra = {"action": {"name": task["name"], "params": task["params"], "results": {}, "failed": None, "log": []}}
        ctx_id = new_context(mdl, unit, "action", extra)
        source = Path(state["apps"][record["app"]]["charm_dir"])
        script = "dispatch" if os.access(source / "dispatch", os.X_OK) else f"actions/{task['name']}"
        argv = [f"{cd}/{script}"]
        env = {"JUJU_ACTION_NAME": task["name"], "JUJU_ACTION_UUID": str(uuid.uuid4()),
               "JUJU_ACTION_TAG": f"action-{task['id']}", "JUJU_DISPATCH_PATH": f"actions/{task['name']}"}  # fmt: skip
        label = f"action {task['name']}"
    ev = model.event(label)
    ev["task"] = task["id"]
    record["current"] = ev
    tasks.started(mdl, task, ctx_id)
    return Job(unit, ev, ctx_id, argv, base_env(state, mdl, unit, ctx_id) | env, cd, task=task)


def run_job(mdl: ModelDir, job: Job) -> dict[str, Any]:
    """Run a prepared hook or task in the unit's machine (after swapping the charm for upgrade-charm)."""
    if job.swap is not None:
        lifecycle.install_charm(mdl, job.unit, job.swap["to"], job.swap["from"])
    if job.argv is None:
        return {"rc": 0, "stdout": "", "stderr": "", "skipped": True}
    request = {"op": "run", "argv": job.argv, "env": job.env, "cwd": job.cwd}
    if job.task is not None and job.task["timeout"]:
        request["timeout"] = job.task["timeout"]
    return machine.request(mdl, job.unit, request)


def log_start(mdl: ModelDir, job: Job) -> None:
    """Say in the unit's log that a hook or task starts, so debug-log shows it as it runs."""
    what = job.event["hook"] if job.task else f'"{job.event["hook"]}" hook'
    write_log(mdl, job.unit, "INFO", "uniter.operation", f"running {what}")


def log_hook(mdl: ModelDir, job: Job, reply: dict[str, Any]) -> None:
    """Write the hook's output and result to the unit's log, as debug-log shows them."""
    hook = job.event["hook"]
    if job.task is None:
        for stream, level in (("stdout", "INFO"), ("stderr", "WARNING")):
            if reply.get(stream):
                write_log(mdl, job.unit, level, hook, reply[stream].rstrip("\n"))
    if reply.get("skipped"):
        result = f'skipped "{hook}" hook (missing)'
    elif job.task is not None:
        result = f"ran {hook} (task {job.task['id']}): exit status {reply['rc']}"
    elif reply["rc"] == 0:
        result = f'ran "{hook}" hook (via {"dispatch" if job.argv and job.argv[0].endswith("dispatch") else "hook"})'
    else:
        result = f'hook "{hook}" (via explicit, bespoke hook script) failed: exit status {reply["rc"]}'
    write_log(mdl, job.unit, "INFO" if reply["rc"] == 0 else "ERROR", "uniter.operation", result)


def finish(state: State, mdl: ModelDir, job: Job, reply: dict[str, Any]) -> list[Unit]:
    """Commit or fail a finished hook or task; return unit records whose machines must now end."""
    record = state["units"].get(job.unit)
    ctx = read_context(mdl, job.ctx_id)
    if record is None:
        return []
    record["current"] = None
    if job.task is not None:
        _finish_task(state, mdl, job, reply, ctx)
        return []
    swap = record.pop("pending_swap", None)
    if swap is not None:
        record["charm_source"] = swap["to"]
    if reply["rc"] != 0:
        _fail(state, record, job.event)
        return []
    record.pop("retry_delay", None)
    model.commit(state, job.unit, ctx)
    model.after_hook(state, job.unit, job.event)
    model.forget_dead_relations(state)
    ended = model.unit_removed(state, job.unit) if job.event["hook"] == "remove" else []
    model.forget_dead_relations(state)
    model.forget_dead_applications(state)
    return ended


def _fail(state: State, record: Unit, ev: Event) -> None:
    """Put a unit in error after a failed hook and, if the model retries hooks, set when."""
    record["error"] = ev
    record["saved_workload"] = record.get("saved_workload", record["workload"])
    record["workload"] = model.status("error", f'hook failed: "{ev["hook"]}"')
    record["agent"] = model.status("idle")
    if retries_hooks(state):
        delay = min(record.get("retry_delay", RETRY_MIN / 2) * 2, RETRY_MAX)
        record["retry_delay"] = delay
        record["retry_at"] = time.time() + delay


def _finish_task(state: State, mdl: ModelDir, job: Job, reply: dict[str, Any], ctx: HookContext) -> None:
    """Record a task's results; exec commits whatever its exit status, an action only on success."""
    task = job.task
    assert task is not None
    record = state["units"][job.unit]
    record["agent"] = model.status("idle") if record["error"] is None else record["agent"]
    if task["kind"] == "exec" or reply["rc"] == 0:
        model.commit(state, job.unit, ctx)
    results: dict[str, Any] = {}
    failed = reply["rc"] != 0 or bool(reply.get("timed_out"))
    if task["kind"] == "action":
        action = ctx.get("action", {})
        results = dict(action.get("results", {}))
        task["log"] = list(action.get("log", []))
        if action.get("failed") is not None:
            failed = True
            task["message"] = action["failed"]
    if failed and not task["message"]:
        task["message"] = "timed out" if reply.get("timed_out") else f"exit status {reply['rc']}"
    results["return-code"] = reply["rc"]
    for stream in ("stdout", "stderr"):
        if reply.get(stream) or task["kind"] == "exec":
            results[stream] = reply.get(stream, "")
    task.update(results=results, completed=tasks.stamp(), status="failed" if failed else "completed")
    if reply.get("timed_out"):
        task["results"]["timed-out"] = True
    tasks.save(mdl, task)


# --- timers: update-status and hook retries --------------------------------------------------------

# Juju's hook retry strategy (apiserver/facades/agent/retrystrategy): 5 s, doubling, at most 5 minutes;
# Juju adds jitter, which is left out here so that a shuffle seed reproduces a run.
RETRY_MIN = 5.0
RETRY_MAX = 300.0
DEFAULT_UPDATE_STATUS = "5m"


def duration(text: str) -> float:
    """Parse a Go-style duration (90s, 5m, 1h30m, 250ms) into seconds."""
    total, number = 0.0, ""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else ch
        if unit not in units or not number:
            raise ValueError(f'invalid duration "{text}"')
        total += float(number) * units[unit]
        number = ""
        i += len(unit)
    if number:
        raise ValueError(f'invalid duration "{text}": missing unit')
    return total


def update_status_interval(state: State) -> float:
    text = state["config"].get("update-status-hook-interval", DEFAULT_UPDATE_STATUS)
    try:
        return max(duration(text), 1.0)
    except ValueError:
        return duration(DEFAULT_UPDATE_STATUS)


def retries_hooks(state: State) -> bool:
    return str(state["config"].get("automatically-retry-hooks", "true")).lower() not in ("false", "0", "no")


def retry(record: Unit) -> None:
    """Put a failed hook back at the head of the unit's queue and leave the error state."""
    error = record["error"]
    if error is None:
        return
    record["queue"].insert(0, error)
    record["error"] = None
    record.pop("retry_at", None)
    record["workload"] = record.pop("saved_workload", model.status("unknown"))


# --- the engine --------------------------------------------------------------------------------


def _runnable(state: State, busy: set[str]) -> list[str]:
    """Units that may start their next hook or task now: at most one per machine, since Juju's
    machine lock lets a principal and its subordinates run only one hook at a time between them.
    A unit in error still runs its tasks (exec, actions) but no hooks."""
    taken = {state["units"][u]["machine"] for u in busy if u in state["units"]}
    units = []
    for unit, rec in sorted(state["units"].items()):
        if unit in busy or not rec.get("pid"):
            continue
        if not rec.get("tasks") and (not rec["queue"] or rec["error"] is not None):
            continue
        if rec["machine"] not in taken:
            taken.add(rec["machine"])
            units.append(unit)
    return units


def _unplaced_subordinates(state: State) -> list[tuple[Unit, Unit]]:
    """(subordinate, principal) records of subordinate units not yet set up on their machine."""
    return [
        (rec, state["units"][rec["principal"]])
        for rec in state["units"].values()
        if rec.get("principal")
        and not rec.get("pid")
        and not rec.get("placement_failed")
        and state["units"][rec["principal"]].get("pid")
    ]


def place_subordinates(mdl: ModelDir) -> None:
    """Put the charm of each new subordinate unit on its principal's machine, so its hooks can run.

    The unit then shares the principal's machine (pid and start time); on failure its status
    says why and its hooks never run.
    """
    with transaction(mdl) as state:
        pending = _unplaced_subordinates(state)
    for sub, principal in pending:
        try:
            lifecycle.place_subordinate(mdl, sub, principal)
            failure = None
        except (machine.MachineError, OSError) as exc:
            failure = str(exc)
        with transaction(mdl) as state:
            record = state["units"].get(sub["name"])
            if record is None:
                continue
            if failure is None:
                record["pid"], record["start"] = principal["pid"], principal["start"]
            else:
                record["placement_failed"] = failure
                record["workload"] = model.status("error", f"cannot set up the unit: {failure}")


# How long, in shuffle mode, one running operation holds back every other unit's.
SHUFFLE_PATIENCE = 10.0


def shuffle_wait(started: dict[str, float], now: float, patience: float = SHUFFLE_PATIENCE) -> float:
    """Seconds before shuffle mode may start another operation: 0 when none runs, or when every
    running one has run for `patience` already (it is waiting, maybe for another unit)."""
    if not started:
        return 0.0
    return max(0.0, patience - (now - max(started.values())))


class Engine:
    """What a model's controller does each time it wakes: start machines, fire timers, start the
    next hooks and tasks, and commit finished ones."""

    def __init__(self, mdl: ModelDir, wake: Callable[[], None]) -> None:
        self.mdl = mdl
        self.wake = wake
        self.busy: set[str] = set()
        self.started: dict[str, float] = {}
        self.starting: set[str] = set()
        self.done: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.idle_since: dict[str, float] = {}
        with transaction(mdl) as state:
            seed = state.get("shuffle") or ""
        self.rng = random.Random(seed) if seed else None

    def step(self) -> float:
        """Do what is due now; return how long to sleep until the next timer."""
        self._collect()
        self._start_machines()
        place_subordinates(self.mdl)
        with transaction(self.mdl) as state:
            now = time.time()
            delay = self._timers(state, now)
            secrets.queue_due(state, self.mdl.root)
            units = _runnable(state, self.busy)
            if self.rng is not None:
                wait = shuffle_wait(self.started, time.monotonic())
                units = [self.rng.choice(units)] if units and not wait else []
                delay = min(delay, wait) if wait else delay
            jobs = [job for job in (prepare(state, self.mdl, u) for u in units) if job is not None]
        for job in jobs:
            self.busy.add(job.unit)
            self.started[job.unit] = time.monotonic()
            log_start(self.mdl, job)
            threading.Thread(target=self._work, args=(job,), daemon=True).start()
        return delay

    def _collect(self) -> None:
        """Commit every finished job and record every started machine."""
        while True:
            try:
                kind, item = self.done.get_nowait()
            except queue.Empty:
                return
            if kind == "machine":
                self._machine_started(*item)
                continue
            job, reply = item
            self.busy.discard(job.unit)
            self.started.pop(job.unit, None)
            log_hook(self.mdl, job, reply)
            with transaction(self.mdl) as state:
                ended = finish(state, self.mdl, job, reply)
            for record in ended:
                tasks.abort_pending(self.mdl, record.get("tasks", []), f"unit {record['name']} was removed")
                lifecycle.end_unit(self.mdl, record)

    def _timers(self, state: State, now: float) -> float:
        """Retry failed hooks whose time came and queue update-status on units idle long enough."""
        interval = update_status_interval(state)
        retrying = retries_hooks(state)
        delay = 5.0
        for unit, rec in state["units"].items():
            if rec["error"] is not None:
                if retrying and "retry_at" in rec and rec["retry_at"] <= now:
                    retry(rec)
                elif retrying and "retry_at" in rec:
                    delay = min(delay, rec["retry_at"] - now)
            if not rec["started"] or rec["life"] != "alive" or rec["error"] is not None:
                self.idle_since.pop(unit, None)
                continue
            since = self.idle_since.setdefault(unit, now)
            if now - since >= interval:
                model.enqueue(state, unit, model.event("update-status"))
                self.idle_since[unit] = now
            else:
                delay = min(delay, since + interval - now)
        for gone in set(self.idle_since) - set(state["units"]):
            del self.idle_since[gone]
        return max(delay, 0.0)

    def _start_machines(self) -> None:
        """Start, in the background, the machine of every new principal unit."""
        with transaction(self.mdl) as state:
            new = [copy.copy(r) for u, r in state["units"].items()
                   if not r.get("principal") and not r.get("pid") and u not in self.starting
                   and r["agent"]["current"] == "allocating"]  # fmt: skip
        for record in new:
            self.starting.add(record["name"])
            threading.Thread(target=self._launch, args=(record,), daemon=True).start()

    def _launch(self, record: Unit) -> None:
        try:
            result: tuple[int, str] | Exception = lifecycle.start_unit(self.mdl, record, record["charm_source"])
        except (machine.MachineError, OSError) as exc:
            result = exc
        self.done.put(("machine", (record["name"], result)))
        self.wake()

    def _machine_started(self, unit: str, result: tuple[int, str] | Exception) -> None:
        self.starting.discard(unit)
        with transaction(self.mdl) as state:
            record = state["units"].get(unit)
            if record is None:
                return
            if isinstance(result, Exception):
                record["workload"] = model.status("error", f"machine failed to start: {result}")
                record["agent"] = model.status("failed", str(result))
            else:
                record["pid"], record["start"] = result
                record["agent"] = model.status("executing" if record["queue"] else "idle")

    def _work(self, job: Job) -> None:
        """Run one job and report its reply (a machine failure counts as a failed hook)."""
        try:
            reply = run_job(self.mdl, job)
        except machine.MachineError as exc:
            reply = {"rc": 1, "stdout": "", "stderr": str(exc)}
        self.done.put(("job", (job, reply)))
        self.wake()
