"""Running queued hooks on units until the model is quiet.

Units run in parallel, one hook at a time each, in their queue's order. With
LOCALJUJU_SHUFFLE=<seed> one hook runs at a time and the next unit is picked at random from
the seeded generator, so interleavings are varied but reproducible. A hook is a transaction:
its relation settings and port changes are committed only when it exits 0; otherwise the unit
is put in error and its queue stops until `juju resolve` retries the hook.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import JUJU_VERSION, lifecycle, machine, model, secrets, toolserver
from .hooktools import write_log
from .state import ModelDir, State, transaction

BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_counter = itertools.count()


@dataclass
class Job:
    """A hook handed to a unit's machine."""

    unit: str
    event: dict[str, Any]
    ctx_id: str
    argv: list[str] | None  # None: the charm has no file for this hook
    env: dict[str, str]
    cwd: str


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


def read_context(mdl: ModelDir, ctx_id: str) -> dict[str, Any]:
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


def relation_env(state: State, unit: str, ev: dict[str, Any]) -> dict[str, str]:
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


def prepare(state: State, mdl: ModelDir, unit: str) -> Job:
    """Take the next hook off a unit's queue and get it ready to run."""
    record = state["units"][unit]
    ev = record["queue"].pop(0)
    record["current"] = ev
    if ev.get("swap") is not None:
        app = state["apps"][record["app"]]
        record["pending_swap"] = {"from": record.get("charm_source", app["charm_dir"]), "to": app["charm_dir"]}
    model.before_hook(state, unit, ev)
    ctx_id = new_context(mdl, unit, "hook", {"hook": ev["hook"]})
    env = base_env(state, mdl, unit, ctx_id) | {
        "JUJU_HOOK_NAME": ev["hook"],
        "JUJU_DISPATCH_PATH": f"hooks/{ev['hook']}",
    }
    if ev.get("rid") is not None:
        env |= relation_env(state, unit, ev)
    env |= secrets.hook_env(ev)
    return Job(unit, ev, ctx_id, hook_argv(state, unit, ev["hook"]), env, lifecycle.charm_dir(unit))


def run_job(mdl: ModelDir, job: Job, swap: dict[str, str] | None) -> dict[str, Any]:
    """Run a prepared hook in the unit's machine (after swapping the charm for upgrade-charm)."""
    if swap is not None:
        lifecycle.install_charm(mdl, job.unit, swap["to"], swap["from"])
    if job.argv is None:
        return {"rc": 0, "stdout": "", "stderr": "", "skipped": True}
    return machine.request(mdl, job.unit, {"op": "run", "argv": job.argv, "env": job.env, "cwd": job.cwd})


def log_hook(mdl: ModelDir, job: Job, reply: dict[str, Any]) -> None:
    """Write the hook's output and result to the unit's log, as debug-log shows them."""
    hook = job.event["hook"]
    for stream, level in (("stdout", "INFO"), ("stderr", "WARNING")):
        if reply.get(stream):
            write_log(mdl, job.unit, level, hook, reply[stream].rstrip("\n"))
    if reply.get("skipped"):
        result = f'skipped "{hook}" hook (missing)'
    elif reply["rc"] == 0:
        result = f'ran "{hook}" hook (via {"dispatch" if job.argv and job.argv[0].endswith("dispatch") else "hook"})'
    else:
        result = f'hook "{hook}" (via explicit, bespoke hook script) failed: exit status {reply["rc"]}'
    write_log(mdl, job.unit, "INFO" if reply["rc"] == 0 else "ERROR", "uniter.operation", result)


def finish(state: State, mdl: ModelDir, job: Job, reply: dict[str, Any]) -> list[dict[str, Any]]:
    """Commit or fail a finished hook; return unit records whose machines must now end."""
    record = state["units"][job.unit]
    record["current"] = None
    ctx = read_context(mdl, job.ctx_id)
    swap = record.pop("pending_swap", None)
    if swap is not None:
        record["charm_source"] = swap["to"]
    if reply["rc"] != 0:
        record["error"] = job.event
        record["saved_workload"] = record["workload"]
        record["workload"] = model.status("error", f'hook failed: "{job.event["hook"]}"')
        record["agent"] = model.status("idle")
        return []
    model.commit(state, job.unit, ctx)
    model.after_hook(state, job.unit, job.event)
    model.forget_dead_relations(state)
    if job.event["hook"] == "remove":
        ended = model.unit_removed(state, job.unit)
        model.forget_dead_relations(state)
        return ended
    return []


def _runnable(state: State, busy: set[str]) -> list[str]:
    """Units that may start their next hook now: at most one per machine, since Juju's machine
    lock lets a principal and its subordinates run only one hook at a time between them."""
    taken = {state["units"][u]["machine"] for u in busy if u in state["units"]}
    units = []
    for unit, rec in sorted(state["units"].items()):
        if unit in busy or not rec["queue"] or rec["error"] is not None or not rec.get("pid"):
            continue
        if rec["machine"] not in taken:
            taken.add(rec["machine"])
            units.append(unit)
    return units


def _unplaced_subordinates(state: State) -> list[tuple[dict[str, Any], dict[str, Any]]]:
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


def settle(mdl: ModelDir, timeout: float = 3600.0) -> None:
    """Run hooks until every queue is empty or stopped by an error."""
    seed = os.environ.get("LOCALJUJU_SHUFFLE")
    rng = random.Random(seed) if seed else None
    done: queue.Queue[tuple[Job, dict[str, Any]]] = queue.Queue()
    busy: set[str] = set()
    deadline = time.monotonic() + timeout
    while True:
        place_subordinates(mdl)
        with transaction(mdl) as state:
            secrets.queue_due(state, mdl.root)
            units = _runnable(state, busy)
            if rng is not None:
                units = [rng.choice(units)] if units and not busy else []
            jobs = [(prepare(state, mdl, u), state["units"][u].get("pending_swap")) for u in units]
        for job, swap in jobs:
            busy.add(job.unit)
            threading.Thread(target=_worker, args=(mdl, job, swap, done), daemon=True).start()
        if not busy:
            return
        job, reply = done.get(timeout=max(deadline - time.monotonic(), 1))
        busy.discard(job.unit)
        log_hook(mdl, job, reply)
        with transaction(mdl) as state:
            ended = finish(state, mdl, job, reply)
        for record in ended:
            lifecycle.end_unit(mdl, record)


def _worker(mdl: ModelDir, job: Job, swap: dict[str, str] | None, done: queue.Queue) -> None:
    """Run one job and report its reply (a machine failure counts as a failed hook)."""
    try:
        reply = run_job(mdl, job, swap)
    except machine.MachineError as exc:
        reply = {"rc": 1, "stdout": "", "stderr": str(exc)}
    done.put((job, reply))
