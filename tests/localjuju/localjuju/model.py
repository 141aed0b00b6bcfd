"""The model's bookkeeping: applications, units, relations and the hook queues Juju would build.

Everything here is a pure function of the state document (see state.py), so the CLI, the
scheduler and the hook tools share one set of rules for which hooks follow which change.
Hook orders follow juju's uniter (see ../shared/research/juju-hook-semantics.md, section 3).
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from .charm import Charm
from .records import Application, Event, HookContext, Relation, RelationEnd, Status, Unit
from .state import State, timestamp

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


def status(current: str, message: str = "") -> Status:
    """Return a status record as stored in the state."""
    return {"current": current, "message": message, "since": timestamp()}


def event(hook: str, rid: int | None = None, remote: str = "", remote_app: str = "", *, departing: str = "",
          swap: int | None = None) -> Event:  # fmt: skip
    """Build a queued hook."""
    ev: Event = {"hook": hook, "rid": rid, "remote": remote, "remote_app": remote_app}
    if departing:
        ev["departing"] = departing
    if swap is not None:
        ev["swap"] = swap
    return ev


def enqueue(state: State, unit: str, ev: Event) -> None:
    """Queue ev on unit, unless an identical coalescable hook is already pending.

    departed and broken are coalesced too: a subordinate and its principal leaving each other
    both ask for them when they are removed together.
    """
    queue = state["units"][unit]["queue"]
    coalesce = ev["hook"] in COALESCED or ev["hook"].endswith(("-relation-changed", *ONCE))
    if coalesce and any(_same(q, ev) for q in queue):
        return
    if ev["remote"] and ev["hook"].endswith(("-relation-joined", "-relation-changed")) and _departing(queue, ev):
        return
    queue.append(ev)


def _departing(queue: list[Event], ev: Event) -> bool:
    """Whether a -departed for ev's remote unit is already queued: Juju's uniter never names a unit
    in a relation hook after its -departed (relation/statetracker.go keeps no member it departed)."""
    return any(q["hook"].endswith("-relation-departed") and q["rid"] == ev["rid"] and q["remote"] == ev["remote"]
               for q in queue)  # fmt: skip


LEADERSHIP_HOOKS = ("leader-elected", "leader-settings-changed")
RELATION_HOOKS = ("-relation-joined", "-relation-changed", "-relation-departed", "-relation-broken")


def enqueue_leadership(state: State, unit: str, hook: str) -> None:
    """Queue a leadership hook ahead of pending relation hooks, as Juju's resolver handles
    leadership before relations (resolver.go): a new leader may run leader-elected before the
    -departed hooks it has pending."""
    queue = state["units"][unit]["queue"]
    if hook == "leader-elected":
        queue[:] = [q for q in queue if q["hook"] not in LEADERSHIP_HOOKS]
    elif any(q["hook"] in LEADERSHIP_HOOKS for q in queue):
        return
    at = next((i for i, q in enumerate(queue) if q["hook"].endswith(RELATION_HOOKS)), len(queue))
    queue.insert(at, event(hook))


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
    """The principal applications a subordinate app is attached to by container relations, and
    those its remaining units still live on while they are torn down (so their units show)."""
    found = {
        end["app"]
        for rel in relations_of(state, app, alive_only=False)
        if rel.get("container")
        for end in rel["ends"]
        if end["app"] != app and not is_subordinate_app(state, end["app"])
    }
    found |= {state["units"][r["principal"]]["app"] for r in state["units"].values()
              if r["app"] == app and r["principal"] in state["units"]}  # fmt: skip
    return sorted(found)


def takes_part(state: State, unit: str, rel: Relation) -> bool:
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


def _ensure_subordinate(state: State, principal: str, rel: Relation) -> None:
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


def _lost_principal(state: State, sub: str, rel: Relation) -> bool:
    """Whether removing rel leaves subordinate unit sub with no container relation to its principal."""
    principal_app = state["units"][state["units"][sub]["principal"]]["app"]
    if principal_app not in {end["app"] for end in rel["ends"]}:
        return False
    return not any(
        other is not rel and other.get("container") and principal_app in {end["app"] for end in other["ends"]}
        for other in relations_of(state, state["units"][sub]["app"])
    )


# --- relations ---------------------------------------------------------------------------------


def relation(state: State, rid: int | str) -> Relation:
    return state["relations"][str(rid)]


def own_end(rel: Relation, app: str) -> RelationEnd:
    """Return the relation end that belongs to app."""
    return next(end for end in rel["ends"] if end["app"] == app)


def remote_app(rel: Relation, app: str) -> str:
    """Return the application on the other side (the app itself for a peer relation)."""
    others = [end["app"] for end in rel["ends"] if end["app"] != app]
    return others[0] if others else app


def relations_of(state: State, app: str, alive_only: bool = True) -> list[Relation]:
    """Return the app's relations, oldest first."""
    rels = [
        rel
        for rel in state["relations"].values()
        if any(end["app"] == app for end in rel["ends"]) and (rel["life"] == "alive" or not alive_only)
    ]
    return sorted(rels, key=lambda rel: rel["id"])


def add_relation(state: State, ends: list[RelationEnd]) -> Relation:
    """Create a relation between endpoints and queue -created on every unit of both sides.

    The relation is container-scoped when either endpoint says `scope: container`.
    """
    rid = state["next_relation"]
    state["next_relation"] += 1
    rel: Relation = {
        "id": rid,
        "ends": ends,
        "units": {},
        "apps": {end["app"]: {} for end in ends},
        "scope": [],
        "life": "alive",
        "container": any(end.get("scope") == "container" for end in ends),
    }
    state["relations"][str(rid)] = rel
    for end in ends:
        for unit in alive_units(state, end["app"]):
            if not takes_part(state, unit, rel):
                continue
            enqueue(
                state, unit, event(f"{end['endpoint']}-relation-created", rid, remote_app=remote_app(rel, end["app"]))
            )
    return rel


def in_scope_ready(record: Unit) -> bool:
    """Whether a unit has entered its relations' scopes: once its install hook has run, as Juju's
    uniter joins relations after install, not after start (relation/statetracker.go)."""
    return bool(record.get("installed")) and record["life"] == "alive"


def enter_scope(state: State, unit: str, rel: Relation) -> None:
    """Put an installed unit in a relation's scope: it and every remote unit in scope meet.

    In a container relation only units on the same machine meet, and a principal unit entering
    it gets its subordinate unit.
    """
    if unit in rel["scope"] or rel["life"] != "alive" or not takes_part(state, unit, rel):
        return
    rel["units"].setdefault(unit, initial_unit_data(state["units"][unit]["address"]))
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


def _meet(state: State, unit: str, remote: str, rel: Relation) -> None:
    """Queue joined then changed of remote on unit."""
    endpoint = own_end(rel, state["units"][unit]["app"])["endpoint"]
    remote_app_name = state["units"][remote]["app"]
    for kind in ("joined", "changed"):
        state["units"][unit]["queue"].append(event(f"{endpoint}-relation-{kind}", rel["id"], remote, remote_app_name))


def leave_scope(state: State, unit: str, rel: Relation, broken: bool) -> None:
    """Take unit out of a relation: it departs from each member it knows, and they from it."""
    rid = rel["id"]
    if unit in rel["scope"]:
        rel["scope"].remove(unit)
    record = state["units"][unit]
    app = record["app"]
    endpoint = own_end(rel, app)["endpoint"]
    _drop_pending(record, rid, None)
    known = record["rel"].get(str(rid), [])
    # Juju's relation resolver names the local unit as the departing one when it (or its
    # application) is dying, and the remote unit otherwise (relation/resolver.go).
    self_departing = record["life"] != "alive" or state["apps"][app].get("life", "alive") != "alive"
    for member in known:
        departee = unit if self_departing else member
        enqueue(state, unit, event(f"{endpoint}-relation-departed", rid, member, state_app(state, member),
                                   departing=departee))  # fmt: skip
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


def _pending_for(record: Unit, rid: int) -> bool:
    return any(ev.get("rid") == rid for ev in record["queue"])


def _drop_pending(record: Unit, rid: int, remote: str | None) -> None:
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


def remove_relation(state: State, rel: Relation) -> None:
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


def remove_application(state: State, app: str) -> None:
    """Start removing an application: it is dying, so its units depart naming themselves, and its
    relations go."""
    state["apps"][app]["life"] = "dying"
    for rel in relations_of(state, app):
        if len(rel["ends"]) > 1:
            remove_relation(state, rel)


def forget_dead_applications(state: State) -> None:
    """Delete dying applications whose last unit is gone, with their relations."""
    for app, record in list(state["apps"].items()):
        if record.get("life") != "dying" or any(r["app"] == app for r in state["units"].values()):
            continue
        if any(len(rel["ends"]) > 1 for rel in relations_of(state, app, alive_only=False)):
            continue  # the other side still has -departed/-broken to run
        del state["apps"][app]
        for key, rel in list(state["relations"].items()):
            if any(e["app"] == app for e in rel["ends"]):
                del state["relations"][key]


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


def unit_removed(state: State, unit: str) -> list[Unit]:
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
        elect(state, record["app"], next_leader(state, survivors))


def next_leader(state: State, survivors: list[str]) -> str:
    """The survivor that wins the next leadership claim: any of them may in Juju (the lease goes to
    the first agent that claims it); the lowest-numbered here, or one drawn from the shuffle seed."""
    seed = state.get("shuffle")
    if not seed:
        return survivors[0]
    return random.Random(f"{seed}:{','.join(survivors)}").choice(survivors)


def elect(state: State, app: str, leader: str) -> None:
    """Make leader the app's leader: it runs leader-elected, the other alive units
    leader-settings-changed (a dying unit skips it, as in Juju)."""
    state["apps"][app]["leader"] = leader
    enqueue_leadership(state, leader, "leader-elected")
    for unit in alive_units(state, app):
        if unit != leader:
            enqueue_leadership(state, unit, "leader-settings-changed")


def leader_settings_changed(state: State, app: str) -> None:
    """Tell every alive non-leader unit that leader settings changed."""
    for unit in alive_units(state, app):
        if unit != state["apps"][app]["leader"]:
            enqueue(state, unit, event("leader-settings-changed"))


def effective_config(app: Application) -> dict[str, Any]:
    """Return the application's config: user values over charm defaults (None if neither)."""
    return {key: app["config"].get(key, option.get("default")) for key, option in app["options"].items()}


def config_changed(state: State, app: str) -> None:
    for unit in alive_units(state, app):
        enqueue(state, unit, event("config-changed"))


# --- committing a hook's changes ----------------------------------------------------------------


def commit(state: State, unit: str, ctx: HookContext) -> None:
    """Apply a successful hook's relation settings and port changes; queue -changed hooks."""
    for rid, bags in ctx.get("relation_sets", {}).items():
        rel = state["relations"].get(rid)
        if rel is None:
            continue
        if _publishes(state, unit, rel) and _apply(rel["units"].setdefault(unit, {}), bags.get("unit", {})):
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


def _publishes(state: State, unit: str, rel: Relation) -> bool:
    """Whether a unit's relation settings reach the others: not once it has left the relation's
    scope (a dying unit's teardown hooks write to a relation the others no longer see it in)."""
    return state["units"][unit]["life"] == "alive" or unit in rel["scope"]


def _apply(bag: dict[str, str], changes: dict[str, str | None]) -> bool:
    """Apply settings (None deletes) to a data bag; return whether anything changed."""
    before = dict(bag)
    for key, value in changes.items():
        if value is None:
            bag.pop(key, None)
        else:
            bag[key] = value
    return bag != before


def _unit_data_changed(state: State, unit: str, rel: Relation) -> None:
    """Queue -changed(unit) on every unit that already knows unit in this relation."""
    for other, record in state["units"].items():
        if other != unit and unit in record["rel"].get(str(rel["id"]), []):
            endpoint = own_end(rel, record["app"])["endpoint"]
            enqueue(state, other, event(f"{endpoint}-relation-changed", rel["id"], unit, state_app(state, unit)))


def _app_data_changed(state: State, app: str, rel: Relation) -> None:
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
    if ev["hook"] == "install" and not record.get("installed"):
        record["installed"] = True
        if in_scope_ready(record):
            for rel in relations_of(state, record["app"]):
                enter_scope(state, unit, rel)
    if ev["hook"] == "start":
        record["started"] = True
