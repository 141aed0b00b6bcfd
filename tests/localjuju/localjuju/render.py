"""The output of `juju status`, `juju show-unit` and `juju config`, in Juju 3.6's shapes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

from . import JUJU_VERSION, model, tasks
from .records import Status, Unit
from .state import ModelDir, State, timestamp

SEVERITY = ("error", "blocked", "maintenance", "waiting", "active", "unknown")
BASE = {"name": "ubuntu", "channel": "22.04"}


def _status(record: dict[str, str], version: str | None = None) -> dict[str, str]:
    out = {"current": record["current"], "since": record["since"]}
    if record.get("message"):
        out["message"] = record["message"]
    if version:
        out["version"] = version
    return out


def app_status(state: State, app: str) -> dict[str, str]:
    """The application's status: what its leader set, else its units' most severe status."""
    record = state["apps"][app]
    if record["status"] is not None:
        return record["status"]
    units = [state["units"][u]["workload"] for u in model.alive_units(state, app)]
    units += [rec["workload"] for rec in state["units"].values() if rec["app"] == app and rec["life"] != "alive"]
    if not units:
        return {"current": "unknown", "message": "", "since": timestamp()}
    return min(units, key=lambda s: SEVERITY.index(s["current"]) if s["current"] in SEVERITY else len(SEVERITY))


def agent_status(record: Unit) -> Status:
    """The unit agent's status: executing while it has hooks or tasks queued, not only while one
    runs, so that a wait for idle agents right after a command cannot end before its hooks ran."""
    agent = record["agent"]
    if agent["current"] == "idle" and record["error"] is None and (record["queue"] or record.get("tasks")):
        return {"current": "executing", "message": "", "since": agent["since"]}
    if agent["current"] == "idle" and record.get("tasks"):
        return {"current": "executing", "message": "running action", "since": agent["since"]}
    return agent


def _unit_status(state: State, unit: str) -> dict[str, Any]:
    """One unit's status entry; a principal's lists its subordinate units, which (as in Juju)
    show no machine of their own."""
    record = state["units"][unit]
    out: dict[str, Any] = {
        "workload-status": _status(record["workload"]),
        "juju-status": _status(agent_status(record), JUJU_VERSION),
        "machine": record["machine"],
        "public-address": record["address"],
    }
    if record.get("principal"):
        del out["machine"]
    if state["apps"][record["app"]]["leader"] == unit:
        out["leader"] = True
    if record["ports"]:
        out["open-ports"] = list(record["ports"])
    if record.get("version"):
        out["workload-version"] = record["version"]
    if record["life"] != "alive":
        out["life"] = record["life"]
    subs = model.subordinates_of(state, unit)
    if subs:
        out["subordinates"] = {sub: _unit_status(state, sub) for sub in subs}
    return out


def _machine_status(record: Unit) -> dict[str, Any]:
    """A unit's machine: pending until the controller has started it, as Juju shows provisioning."""
    address = record["address"]
    started = bool(record.get("pid"))
    running = {"current": "running", "message": "Running"} if started else {"current": "pending", "message": ""}
    agent = {"current": "started" if started else "pending", "since": record["agent"]["since"], "version": JUJU_VERSION}
    return {
        "juju-status": agent,
        "hostname": record["hostname"],
        "dns-name": address,
        "ip-addresses": [address],
        "instance-id": record["hostname"],
        "display-name": "",
        "machine-status": {**running, "since": record["agent"]["since"]},
        "modification-status": {"current": "idle", "since": record["agent"]["since"]},
        "base": BASE,
        "network-interfaces": {"lo": {"ip-addresses": [address], "mac-address": "", "is-up": True}},
        "constraints": "",
        "hardware": "arch=amd64",
    }


def _app_relations(state: State, app: str) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for rel in model.relations_of(state, app):
        end = model.own_end(rel, app)
        out.setdefault(end["endpoint"], []).append(
            {
                "related-application": model.remote_app(rel, app),
                "interface": end["interface"],
                "scope": "container" if rel.get("container") else "global",
            }
        )
    return out


def status(state: State) -> dict[str, Any]:
    """`juju status --format json`."""
    apps: dict[str, Any] = {}
    for name, app in sorted(state["apps"].items()):
        units = sorted(
            (u for u, r in state["units"].items() if r["app"] == name and not r.get("principal")),
            key=model.unit_number,
        )
        apps[name] = {
            "charm": f"local:{app['charm_name']}-{app['revision']}",
            "base": BASE,
            "charm-origin": "local",
            "charm-name": app["charm_name"],
            "charm-rev": app["revision"],
            "exposed": bool(app.get("exposed")),
            "application-status": _status(app_status(state, name)),
            "relations": _app_relations(state, name),
            "endpoint-bindings": {"": "alpha", **{ep: "alpha" for ep in app["endpoints"]}},
        }
        if units:
            apps[name]["units"] = {u: _unit_status(state, u) for u in units}
        principals = model.principal_apps(state, name) if app.get("subordinate") else []
        if principals:
            apps[name]["subordinate-to"] = principals
        if app.get("version"):
            apps[name]["version"] = app["version"]
    machines = {r["machine"]: _machine_status(r) for r in state["units"].values() if not r.get("principal")}
    return {
        "model": {
            "name": state["name"],
            "type": "iaas",
            "controller": "localjuju",
            "cloud": "localhost",
            "region": "localhost",
            "version": JUJU_VERSION,
            "model-status": {"current": "available", "since": state["created"]},
            "sla": "unsupported",
        },
        "machines": dict(sorted(machines.items(), key=lambda kv: int(kv[0]))),
        "applications": apps,
        "storage": {},
        "controller": {"timestamp": time.strftime("%H:%M:%SZ", time.gmtime())},
    }


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def _unit_row(unit: str, u: dict[str, Any], indent: str) -> list[str]:
    """A row of the Unit table (subordinate units are indented under their principal)."""
    return [indent + unit + ("*" if u.get("leader") else ""), u["workload-status"]["current"],
            u["juju-status"]["current"], u.get("machine", ""), u["public-address"],
            ",".join(u.get("open-ports", [])), u["workload-status"].get("message", "")]  # fmt: skip


def status_table(state: State) -> str:
    """`juju status` as a human-readable table."""
    data = status(state)
    out = [
        _table(
            [
                ["Model", "Controller", "Cloud/Region", "Version", "SLA", "Timestamp"],
                [state["name"], "localjuju", "localhost/localhost", JUJU_VERSION, "unsupported",
                 data["controller"]["timestamp"]],
            ]
        )
    ]  # fmt: skip
    apps = [["App", "Version", "Status", "Scale", "Charm", "Channel", "Rev", "Exposed", "Message"]]
    units = [["Unit", "Workload", "Agent", "Machine", "Public address", "Ports", "Message"]]
    for name, app in data["applications"].items():
        app_units = app.get("units", {})
        scale = sum(1 for r in state["units"].values() if r["app"] == name)
        st = app["application-status"]
        apps.append([name, app.get("version", ""), st["current"], str(scale), app["charm-name"], "",
                     str(app["charm-rev"]), "no", st.get("message", "")])  # fmt: skip
        for unit, u in app_units.items():
            units.append(_unit_row(unit, u, ""))
            units += [_unit_row(sub, s, "  ") for sub, s in u.get("subordinates", {}).items()]
    machines = [["Machine", "State", "Address", "Inst id", "Base", "AZ", "Message"]]
    for mid, m in data["machines"].items():
        machines.append([mid, m["juju-status"]["current"], m["dns-name"], m["instance-id"], "ubuntu@22.04", "",
                         m["machine-status"]["message"]])  # fmt: skip
    rels = [["Integration provider", "Requirer", "Interface", "Type"]]
    for rel in sorted(state["relations"].values(), key=lambda r: r["id"]):
        ends = sorted(rel["ends"], key=lambda e: e["role"] != "provider")
        provider = f"{ends[0]['app']}:{ends[0]['endpoint']}"
        requirer = f"{ends[-1]['app']}:{ends[-1]['endpoint']}"
        kind = "peer" if len(ends) == 1 else "subordinate" if rel.get("container") else "regular"
        rels.append([provider, requirer, ends[0]["interface"], kind])
    for table in (apps, units, machines, rels):
        if len(table) > 1:
            out.append(_table(table))
    return "\n\n".join(out) + "\n"


def show_unit(state: State, unit: str) -> dict[str, Any]:
    """`juju show-unit UNIT --format json` (one unit's entry)."""
    record = state["units"][unit]
    app = record["app"]
    info: list[dict[str, Any]] = []
    for rid, members in sorted(record["rel"].items(), key=lambda kv: int(kv[0])):
        rel = state["relations"].get(rid)
        if rel is None:
            continue
        end = model.own_end(rel, app)
        other = [e for e in rel["ends"] if e["app"] != app] or [end]
        entry: dict[str, Any] = {
            "relation-id": rel["id"],
            "endpoint": end["endpoint"],
            "related-endpoint": other[0]["endpoint"],
            "application-data": dict(rel["apps"].get(other[0]["app"], {})),
            "local-unit": {"in-scope": unit in rel["scope"], "data": dict(rel["units"].get(unit, {}))},
        }
        if members:
            entry["related-units"] = {
                m: {"in-scope": m in rel["scope"], "data": dict(rel["units"].get(m, {}))} for m in members
            }
        info.append(entry)
    out: dict[str, Any] = {
        "opened-ports": list(record["ports"]),
        "charm": f"local:{state['apps'][app]['charm_name']}-{state['apps'][app]['revision']}",
        "leader": state["apps"][app]["leader"] == unit,
        "life": record["life"],
        "machine": record["machine"],
        "public-address": record["address"],
        "address": record["address"],
        "workload-version": record.get("version", ""),
        "relation-info": info,
    }
    if record.get("principal"):
        out["principal"] = record["principal"]
    return out


def config(state: State, app: str) -> dict[str, Any]:
    """`juju config APP --format json`."""
    record = state["apps"][app]
    settings: dict[str, Any] = {}
    for key, option in sorted(record["options"].items()):
        entry: dict[str, Any] = {
            "description": option.get("description", ""),
            "type": option.get("type", "string"),
        }
        if "default" in option and option["default"] is not None:
            entry["default"] = option["default"]
        if key in record["config"]:
            entry |= {"source": "user", "value": record["config"][key]}
        elif entry.get("default") is not None:
            entry |= {"source": "default", "value": option["default"]}
        else:
            entry["source"] = "unset"
        settings[key] = entry
    trust = {"default": False, "description": "Does this application have access to trusted credentials",
             "source": "default", "type": "bool", "value": False}  # fmt: skip
    return {"application": app, "application-config": {"trust": trust}, "charm": record["charm_name"],
            "settings": settings}  # fmt: skip


def show_model(state: State) -> dict[str, Any]:
    """`juju show-model`."""
    return {state["name"]: {"name": f"admin/{state['name']}", "short-name": state["name"], "model-uuid":
            state["uuid"], "model-type": "iaas", "controller-uuid": str(uuid.UUID(int=0)), "controller-name":
            "localjuju", "is-controller": False, "owner": "admin", "cloud": "localhost", "region": "localhost",
            "type": "localjuju", "life": "alive", "status": {"current": "available", "since": state["created"]},
            "agent-version": JUJU_VERSION}}  # fmt: skip


def run_result(task: tasks.Task) -> dict[str, Any]:
    """One unit's entry in `juju run --format json`."""
    out: dict[str, Any] = {"id": task["id"], "unit": task["unit"], "status": task["status"],
                           "results": dict(task["results"]), "log": list(task["log"])}  # fmt: skip
    if task["status"] == "failed":
        out["message"] = task["message"]
    return out


def show_task(mdl: ModelDir, task: tasks.Task) -> dict[str, Any]:
    """`juju show-task ID` (the log read live while the task runs)."""
    out: dict[str, Any] = {"id": task["id"], "unit": task["unit"], "status": task["status"],
                           "timing": {k: task[k] for k in ("enqueued", "started", "completed") if task[k]},
                           "log": tasks.live_log(mdl, task)}  # fmt: skip
    if task["status"] in tasks.FINISHED:
        out["results"] = dict(task["results"])
    if task["message"]:
        out["message"] = task["message"]
    return out


def _included(log_stem: str, include: list[str]) -> bool:
    wanted = {i.replace("/", "-") for i in include}
    return not wanted or any(log_stem in (f"unit-{i}", i) or log_stem.startswith(f"unit-{i}-") for i in wanted)


def debug_log(mdl: ModelDir, include: list[str], limit: int) -> list[str]:
    """The lines of the units' logs (hooks as they start and end, juju-log, hook output)."""
    lines: list[str] = []
    for log in sorted(mdl.logs.glob("unit-*.log")):
        if _included(log.stem, include):
            lines += log.read_text(encoding="utf-8").splitlines()
    return lines[-limit:] if limit else lines


def follow_log(mdl: ModelDir, include: list[str]) -> Iterator[str]:
    """New lines of the units' logs as they are written, until the model is destroyed."""
    offsets = {log: log.stat().st_size for log in mdl.logs.glob("unit-*.log")}
    while mdl.exists():
        for log in sorted(mdl.logs.glob("unit-*.log")):
            if not _included(log.stem, include):
                continue
            with open(log, encoding="utf-8") as f:
                f.seek(offsets.get(log, 0))
                text = f.read()
                offsets[log] = f.tell()
            yield from text.splitlines()
        time.sleep(0.2)
