"""The model's bookkeeping: applications, units, relations and the hook queues Juju would build.

Everything here is a pure function of the state document (see state.py), so the CLI, the
scheduler and the hook tools share one set of rules for which hooks follow which change.
Hook orders follow juju's uniter (see ../shared/research/juju-hook-semantics.md, section 3).
"""

from __future__ import annotations

import uuid
from typing import Any

from . import hooktools
from .charm import Charm
from .state import State, timestamp

Event = dict[str, Any]
COALESCED = ("config-changed", "leader-settings-changed", "update-status")
ONCE = ("-relation-departed", "-relation-broken")  # never queued twice for the same remote


def new_state(name: str) -> State:
    """Return the state of an empty model."""
    return {
        "name": name,
        "uuid": str(uuid.uuid4()),
        "created": timestamp(),
        "config": {},
        "next_machine": 0,
        "next_relation": 0,
        "next_task": 1,
        "apps": {},
        "units": {},
        "relations": {},
    }


def status(current: str, message: str = "") -> dict[str, str]:
    """Return a status record as stored in the state."""
    return {"current": current, "message": message, "since": timestamp()}


def event(hook: str, rid: int | None = None, remote: str = "", remote_app: str = "", **extra: Any) -> Event:
    """Build a queued hook."""
    return {"hook": hook, "rid": rid, "remote": remote, "remote_app": remote_app, **extra}


def enqueue(state: State, unit: str, ev: Event) -> None:
    """Queue ev on unit, unless an identical coalescable hook is already pending.

    departed and broken are coalesced too: a subordinate and its principal leaving each other
    both ask for them when they are removed together.
    """
    queue = state["units"][unit]["queue"]
    coalesce = ev["hook"] in COALESCED or ev["hook"].endswith(("-relation-changed", *ONCE))
    if coalesce and any(_same(q, ev) for q in queue):
        return
    queue.append(ev)


def _same(a: Event, b: Event) -> bool:
    return (a["hook"], a.get("rid"), a.get("remote"), a.get("remote_app")) == (
        b["hook"],
        b.get("rid"),
        b.get("remote"),
        b.get("remote_app"),
    )


def alive_units(state: State, app: str) -> list[str]:
    """Return the app's units that are not being removed, in number order."""
    units = [u for u, rec in state["units"].items() if rec["app"] == app and rec["life"] == "alive"]
    return sorted(units, key=unit_number)


def unit_number(unit: str) -> int:
    return int(unit.rsplit("/", 1)[1])


# --- subordinates ------------------------------------------------------------------------------


def is_subordinate_app(state: State, app: str) -> bool:
    """Whether app's charm says `subordinate: true`."""
    return bool(state["apps"][app].get("subordinate"))


def subordinates_of(state: State, unit: str) -> list[str]:
    """Return the subordinate units living on a principal unit's machine, in creation order."""
    subs = [u for u, rec in state["units"].items() if rec.get("principal") == unit]
    return sorted(subs, key=lambda u: (state["units"][u]["app"], unit_number(u)))


def principal_apps(state: State, app: str) -> list[str]:
    """The principal applications a subordinate app is attached to by alive container relations."""
    found = {
        end["app"]
        for rel in relations_of(state, app)
        if rel.get("container")
        for end in rel["ends"]
        if end["app"] != app and not is_subordinate_app(state, end["app"])
    }
    return sorted(found)


def takes_part(state: State, unit: str, rel: dict[str, Any]) -> bool:
    """Whether unit is part of rel: a subordinate unit takes part in a container relation only
    when the other side is its principal's application (or another subordinate one), as Juju's
    uniter ignores container relations with principals on other machines."""
    record = state["units"][unit]
    if not rel.get("container") or not record.get("principal"):
        return True
    principal_app = state["units"][record["principal"]]["app"]
    return any(
        end["app"] == principal_app or (end["app"] != record["app"] and is_subordinate_app(state, end["app"]))
        for end in rel["ends"]
    )


def _ensure_subordinate(state: State, principal: str, rel: dict[str, Any]) -> None:
    """Give a principal unit entering a container relation a unit of the subordinate side, unless
    it already has one (Juju creates subordinate units when their principal enters scope)."""
    if is_subordinate_app(state, state["units"][principal]["app"]):
        return
    for end in rel["ends"]:
        app = end["app"]
        if not is_subordinate_app(state, app):
            continue
        if not any(state["units"][u]["app"] == app for u in subordinates_of(state, principal)):
            add_unit(state, app, state["units"][principal]["address"], principal=principal)


def _lost_principal(state: State, sub: str, rel: dict[str, Any]) -> bool:
    """Whether removing rel leaves subordinate unit sub with no container relation to its principal."""
    principal_app = state["units"][state["units"][sub]["principal"]]["app"]
    if principal_app not in {end["app"] for end in rel["ends"]}:
        return False
    return not any(
        other is not rel and other.get("container") and principal_app in {end["app"] for end in other["ends"]}
        for other in relations_of(state, state["units"][sub]["app"])
    )


# --- relations ---------------------------------------------------------------------------------


def relation(state: State, rid: int | str) -> dict[str, Any]:
    return state["relations"][str(rid)]


def own_end(rel: dict[str, Any], app: str) -> dict[str, Any]:
    """Return the relation end that belongs to app."""
    return next(end for end in rel["ends"] if end["app"] == app)


def remote_app(rel: dict[str, Any], app: str) -> str:
    """Return the application on the other side (the app itself for a peer relation)."""
    others = [end["app"] for end in rel["ends"] if end["app"] != app]
    return others[0] if others else app


def relations_of(state: State, app: str, alive_only: bool = True) -> list[dict[str, Any]]:
    """Return the app's relations, oldest first."""
    rels = [
        rel
        for rel in state["relations"].values()
        if any(end["app"] == app for end in rel["ends"]) and (rel["life"] == "alive" or not alive_only)
    ]
    return sorted(rels, key=lambda rel: rel["id"])


def add_relation(state: State, ends: list[dict[str, Any]]) -> dict[str, Any]:
    """Create a relation between endpoints and queue -created on every unit of both sides.

    The relation is container-scoped when either endpoint says `scope: container`.
    """
    rid = state["next_relation"]
    state["next_relation"] += 1
    rel = {"id": rid, "ends": ends, "units": {}, "apps": {end["app"]: {} for end in ends}, "scope": [], "life": "alive",
           "container": any(end.get("scope") == "container" for end in ends)}  # fmt: skip
    state["relations"][str(rid)] = rel
    for end in ends:
        for unit in alive_units(state, end["app"]):
            if not takes_part(state, unit, rel):
                continue
            enqueue(
                state, unit, event(f"{end['endpoint']}-relation-created", rid, remote_app=remote_app(rel, end["app"]))
            )
    return rel


def enter_scope(state: State, unit: str, rel: dict[str, Any]) -> None:
    """Put a started unit in a relation's scope: it and every remote unit in scope meet.

    In a container relation only units on the same machine meet, and a principal unit entering
    it gets its subordinate unit.
    """
    if unit in rel["scope"] or rel["life"] != "alive" or not takes_part(state, unit, rel):
        return
    app = state["units"][unit]["app"]
    machine = state["units"][unit]["machine"]
    peer = len(rel["ends"]) == 1
    for other in list(rel["scope"]):
        other_app = state["units"][other]["app"]
        if rel.get("container") and state["units"][other]["machine"] != machine:
            continue
        if (peer and other_app == app) or (not peer and other_app != app):
            _meet(state, unit, other, rel)
            _meet(state, other, unit, rel)
    rel["scope"].append(unit)
    if rel.get("container") and state["units"][unit]["life"] == "alive":
        _ensure_subordinate(state, unit, rel)


def _meet(state: State, unit: str, remote: str, rel: dict[str, Any]) -> None:
    """Queue joined then changed of remote on unit."""
    endpoint = own_end(rel, state["units"][unit]["app"])["endpoint"]
    remote_app_name = state["units"][remote]["app"]
    for kind in ("joined", "changed"):
        state["units"][unit]["queue"].append(event(f"{endpoint}-relation-{kind}", rel["id"], remote, remote_app_name))


def leave_scope(state: State, unit: str, rel: dict[str, Any], broken: bool) -> None:
    """Take unit out of a relation: it departs from each member it knows, and they from it."""
    rid = rel["id"]
    if unit in rel["scope"]:
        rel["scope"].remove(unit)
    record = state["units"][unit]
    app = record["app"]
    endpoint = own_end(rel, app)["endpoint"]
    _drop_pending(record, rid, None)
    known = record["rel"].get(str(rid), [])
    for member in known:
        enqueue(
            state, unit, event(f"{endpoint}-relation-departed", rid, member, state_app(state, member), departing=member)
        )
    for other, other_rec in state["units"].items():
        if other == unit or (str(rid) not in other_rec["rel"] and not _pending_for(other_rec, rid)):
            continue
        _drop_pending(other_rec, rid, unit)
        if unit in other_rec["rel"].get(str(rid), []):
            other_end = own_end(rel, other_rec["app"])["endpoint"]
            enqueue(state, other, event(f"{other_end}-relation-departed", rid, unit, app, departing=unit))
    if broken:
        enqueue(state, unit, event(f"{endpoint}-relation-broken", rid, remote_app=remote_app(rel, app)))


def state_app(state: State, unit: str) -> str:
    return unit.rsplit("/", 1)[0]


def _pending_for(record: dict[str, Any], rid: int) -> bool:
    return any(ev.get("rid") == rid for ev in record["queue"])


def _drop_pending(record: dict[str, Any], rid: int, remote: str | None) -> None:
    """Forget queued joined/changed hooks of a relation (of one remote unit, or of all)."""
    record["queue"] = [
        ev
        for ev in record["queue"]
        if not (
            ev.get("rid") == rid
            and ev["hook"].endswith(("-relation-joined", "-relation-changed"))
            and (remote is None or ev.get("remote") == remote)
        )
    ]


def remove_relation(state: State, rel: dict[str, Any]) -> None:
    """Start removing a relation: every unit departs, then runs -broken.

    Subordinate units left without a container relation to their principal are removed, as Juju
    does.
    """
    rel["life"] = "dying"
    for unit, record in sorted(state["units"].items()):
        if record["app"] not in {end["app"] for end in rel["ends"]}:
            continue
        if str(rel["id"]) in record["rel"] or _pending_for(record, rel["id"]):
            leave_scope(state, unit, rel, broken=True)
    if rel.get("container"):
        for unit, record in sorted(state["units"].items()):
            if record.get("principal") and record["life"] == "alive" and _lost_principal(state, unit, rel):
                remove_unit(state, unit)


def forget_dead_relations(state: State) -> None:
    """Delete dying relations no unit is still in or has hooks queued for."""
    for key, rel in list(state["relations"].items()):
        if rel["life"] != "dying":
            continue
        busy = any(
            key in rec["rel"]
            or _pending_for(rec, rel["id"])
            or (rec.get("current") or {}).get("rid") == rel["id"]
            or (rec.get("error") or {}).get("rid") == rel["id"]
            for rec in state["units"].values()
        )
        if not busy:
            del state["relations"][key]


# --- applications and units --------------------------------------------------------------------


def add_application(state: State, name: str, charm: Charm, charm_dir: str, config: dict[str, Any]) -> None:
    """Record a deployed application and create its peer relations."""
    state["apps"][name] = {
        "name": name,
        "charm_name": charm.name,
        "charm_dir": charm_dir,
        "revision": 0,
        "config": config,
        "leader": None,
        "leader_settings": {},
        "status": None,
        "next_unit": 0,
        "version": "",
        "endpoints": endpoint_records(charm),
        "options": charm.options,
        "actions": charm.actions,
        "subordinate": charm.subordinate,
    }
    for peer in charm.peers:
        add_relation(state, [{"app": name, "endpoint": peer.name, "interface": peer.interface, "role": "peer"}])


def endpoint_records(charm: Charm) -> dict[str, dict[str, str]]:
    """The charm's endpoints as the state keeps them."""
    return {e.name: {"interface": e.interface, "role": e.role, "scope": e.scope} for e in charm.endpoints.values()}


def add_unit(state: State, app: str, address: str, principal: str | None = None) -> str:
    """Record a new unit and queue its first hooks (install to start).

    A principal unit gets a new machine; a subordinate unit lives on its principal's machine
    (same address and hostname).
    """
    record = state["apps"][app]
    unit = f"{app}/{record['next_unit']}"
    record["next_unit"] += 1
    if principal is None:
        machine = str(state["next_machine"])
        state["next_machine"] += 1
        hostname = f"juju-{state['uuid'][:6]}-{machine}"
    else:
        machine, hostname = state["units"][principal]["machine"], state["units"][principal]["hostname"]
    state["units"][unit] = {
        "name": unit,
        "app": app,
        "principal": principal,
        "charm_source": record["charm_dir"],
        "machine": machine,
        "address": address,
        "hostname": hostname,
        "revision": record["revision"],
        "queue": [],
        "current": None,
        "error": None,
        "life": "alive",
        "started": False,
        "workload": status("waiting", "waiting for machine"),
        "agent": status("allocating"),
        "status_set": False,
        "ports": [],
        "rel": {},
        "version": "",
        "pid": None,
        "start": None,
    }
    enqueue(state, unit, event("install"))
    for rel in relations_of(state, app):
        if not takes_part(state, unit, rel):
            continue
        end = own_end(rel, app)
        enqueue(state, unit, event(f"{end['endpoint']}-relation-created", rel["id"], remote_app=remote_app(rel, app)))
    if record["leader"] is None:
        record["leader"] = unit
        enqueue(state, unit, event("leader-elected"))
    else:
        enqueue(state, unit, event("leader-settings-changed"))
    enqueue(state, unit, event("config-changed"))
    enqueue(state, unit, event("start"))
    return unit


def remove_unit(state: State, unit: str) -> None:
    """Start removing a unit: departed/broken for its relations, then stop and remove.

    A principal's subordinate units are removed with it.
    """
    record = state["units"][unit]
    record["life"] = "dying"
    app = record["app"]
    for rel in relations_of(state, app):
        if str(rel["id"]) in record["rel"] or _pending_for(record, rel["id"]):
            leave_scope(state, unit, rel, broken=len(rel["ends"]) > 1)
    record["queue"] = [ev for ev in record["queue"] if ev["hook"] != "leader-settings-changed"]
    enqueue(state, unit, event("stop"))
    enqueue(state, unit, event("remove"))
    for sub in subordinates_of(state, unit):
        if state["units"][sub]["life"] == "alive":
            remove_unit(state, sub)


def unit_removed(state: State, unit: str) -> list[dict[str, Any]]:
    """A unit ran its remove hook: forget it; return the records whose machines must now end.

    A principal's machine outlives it until its subordinates are gone (Juju keeps a principal
    from dying while it has subordinates); the last of them to go takes the principal along.
    """
    record = state["units"][unit]
    record["removed"] = True
    if subordinates_of(state, unit):
        return []
    forget_unit(state, unit)
    ended = [record]
    principal = state["units"].get(record.get("principal") or "")
    if principal is not None and principal.get("removed") and not subordinates_of(state, principal["name"]):
        ended += unit_removed(state, principal["name"])
    return ended


def forget_unit(state: State, unit: str) -> None:
    """Delete a removed unit; if it led, the lowest-numbered remaining unit is elected."""
    record = state["units"].pop(unit)
    app = state["apps"].get(record["app"])
    for rel in state["relations"].values():
        if unit in rel["scope"]:
            rel["scope"].remove(unit)
    if app is None or app["leader"] != unit:
        return
    app["leader"] = None
    survivors = alive_units(state, record["app"])
    if survivors:
        elect(state, record["app"], survivors[0])


def elect(state: State, app: str, leader: str) -> None:
    """Make leader the app's leader: it runs leader-elected, the rest leader-settings-changed."""
    state["apps"][app]["leader"] = leader
    enqueue(state, leader, event("leader-elected"))
    for unit in alive_units(state, app):
        if unit != leader:
            enqueue(state, unit, event("leader-settings-changed"))


def leader_settings_changed(state: State, app: str) -> None:
    """Tell every alive non-leader unit that leader settings changed."""
    for unit in alive_units(state, app):
        if unit != state["apps"][app]["leader"]:
            enqueue(state, unit, event("leader-settings-changed"))


def effective_config(app: dict[str, Any]) -> dict[str, Any]:
    """Return the application's config: user values over charm defaults (None if neither)."""
    return {key: app["config"].get(key, option.get("default")) for key, option in app["options"].items()}


def config_changed(state: State, app: str) -> None:
    for unit in alive_units(state, app):
        enqueue(state, unit, event("config-changed"))


# --- committing a hook's changes ----------------------------------------------------------------


def commit(state: State, unit: str, ctx: dict[str, Any]) -> None:
    """Apply a successful hook's relation settings and port changes; queue -changed hooks."""
    for rid, bags in ctx.get("relation_sets", {}).items():
        rel = state["relations"].get(rid)
        if rel is None:
            continue
        if _apply(rel["units"].setdefault(unit, {}), bags.get("unit", {})):
            _unit_data_changed(state, unit, rel)
        app = state["units"][unit]["app"]
        if _apply(rel["apps"].setdefault(app, {}), bags.get("app", {})):
            _app_data_changed(state, app, rel)
    ports = state["units"][unit]["ports"]
    for port in ctx.get("ports", {}).get("open", []):
        if port not in ports:
            ports.append(port)
    for port in ctx.get("ports", {}).get("close", []):
        if port in ports:
            ports.remove(port)
    hooktools.commit_pending(state, unit, ctx)


def _apply(bag: dict[str, str], changes: dict[str, str | None]) -> bool:
    """Apply settings (None deletes) to a data bag; return whether anything changed."""
    before = dict(bag)
    for key, value in changes.items():
        if value is None:
            bag.pop(key, None)
        else:
            bag[key] = value
    return bag != before


def _unit_data_changed(state: State, unit: str, rel: dict[str, Any]) -> None:
    """Queue -changed(unit) on every unit that already knows unit in this relation."""
    for other, record in state["units"].items():
        if other != unit and unit in record["rel"].get(str(rel["id"]), []):
            endpoint = own_end(rel, record["app"])["endpoint"]
            enqueue(state, other, event(f"{endpoint}-relation-changed", rel["id"], unit, state_app(state, unit)))


def _app_data_changed(state: State, app: str, rel: dict[str, Any]) -> None:
    """Queue -changed on the units of the other side (the other peers for a peer relation)."""
    peer = len(rel["ends"]) == 1
    for other, record in state["units"].items():
        if str(rel["id"]) not in record["rel"] or (record["app"] == app) != peer:
            continue
        if peer and other == state["apps"][app]["leader"]:
            continue
        endpoint = own_end(rel, record["app"])["endpoint"]
        enqueue(state, other, event(f"{endpoint}-relation-changed", rel["id"], "", app))


def initial_unit_data(address: str) -> dict[str, str]:
    """The settings Juju puts in every unit's relation data bag."""
    return {"private-address": address, "ingress-address": address, "egress-subnets": f"{address}/32"}


def before_hook(state: State, unit: str, ev: Event) -> None:
    """Update what the unit knows just before a hook runs (relation members, statuses)."""
    record = state["units"][unit]
    hook, rid = ev["hook"], ev.get("rid")
    key = str(rid)
    if hook.endswith("-relation-created"):
        record["rel"].setdefault(key, [])
        state["relations"][key]["units"].setdefault(unit, initial_unit_data(record["address"]))
    elif hook.endswith("-relation-joined"):
        members = record["rel"].setdefault(key, [])
        if ev["remote"] not in members:
            members.append(ev["remote"])
    elif hook.endswith("-relation-departed"):
        members = record["rel"].get(key, [])
        if ev["remote"] in members:
            members.remove(ev["remote"])
    elif hook.endswith("-relation-broken"):
        record["rel"].pop(key, None)
    if hook == "install" and not record["status_set"]:
        record["workload"] = status("maintenance", "installing charm software")
    record["agent"] = status("executing", f"running {hook} hook")


def after_hook(state: State, unit: str, ev: Event) -> None:
    """Carry on after a hook succeeded: a started unit enters its relations' scopes."""
    record = state["units"][unit]
    record["agent"] = status("idle")
    if ev["hook"] == "install" and not record["status_set"]:
        record["workload"] = status("unknown")
    if ev["hook"] == "start" and not record["started"] and record["life"] == "alive":
        record["started"] = True
        for rel in relations_of(state, record["app"]):
            enter_scope(state, unit, rel)
