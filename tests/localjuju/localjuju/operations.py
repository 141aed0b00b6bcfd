"""What each `juju` command changes in a model: no argument parsing and no output here.

Every change is recorded in the state under its lock and the model's controller is woken (or
started) to run the hooks that follow; like Juju's, these functions return once the change is
recorded, not once the hooks have run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import charm, controller, lifecycle, model, tasks
from .hooktools import TOOLS
from .records import RelationEnd, Unit
from .state import LOCALJUJU_DIR, ModelDir, State, home, read, transaction, write


class CommandError(Exception):
    """A command failed; the message is printed as one `ERROR ...` line."""


def _recorded(mdl: ModelDir) -> None:
    """A change was recorded: the controller carries it out."""
    controller.ensure_running(mdl)


# --- models ------------------------------------------------------------------------------------


def bare_name(name: str) -> str:
    """Strip `controller:` and `user/` from a model reference."""
    return name.split(":", 1)[-1].split("/", 1)[-1]


def current_name() -> str:
    current = home() / "current-model"
    return current.read_text(encoding="utf-8").strip() if current.exists() else ""


def set_current(name: str) -> None:
    (home() / "current-model").write_text(name + "\n", encoding="utf-8")


def find_model(given: str | None) -> ModelDir:
    """The model named by --model, $JUJU_MODEL or the current-model file; it must exist."""
    name = given or os.environ.get("JUJU_MODEL") or current_name()
    if not name:
        raise CommandError("no current model, use --model or `juju switch`")
    mdl = ModelDir.named(bare_name(name))
    if not mdl.exists():
        raise CommandError(f'model "{bare_name(name)}" not found')
    return mdl


def model_names() -> list[str]:
    root = home() / "models"
    return sorted(p.name for p in root.iterdir() if (p / "state.json").exists()) if root.exists() else []


def add_model(name: str, config: dict[str, str], switch: bool) -> None:
    """Create an empty model: its directory (0700), hook tools and state."""
    if not name.replace("-", "").isalnum() or name != name.lower():
        raise CommandError(f'"{name}" is not a valid model name (lowercase letters, digits and hyphens)')
    mdl = ModelDir.named(name)
    if mdl.root.exists():
        raise CommandError(f'model "{name}" already exists (a stale one is removed by `juju destroy-model {name}`)')
    mdl.root.parent.mkdir(parents=True, exist_ok=True)
    mdl.root.mkdir(mode=0o700)
    os.chmod(mdl.root, 0o700)
    for sub in (mdl.tools, mdl.charms, mdl.contexts, mdl.logs, mdl.tasks, mdl.root / "units"):
        sub.mkdir(mode=0o700)
    os.chmod(mdl.tools, 0o755)
    for tool in TOOLS:
        (mdl.tools / tool).symlink_to(LOCALJUJU_DIR / "hooktool")
    state = model.new_state(name)
    state["config"] = config
    seed = os.environ.get("LOCALJUJU_SHUFFLE")
    if seed:
        state["shuffle"] = seed
    write(mdl, state)
    if switch:
        set_current(name)


def _kill_strays(mdl: ModelDir) -> None:
    """Kill any process still mentioning the model directory (a machine whose state was lost)."""
    needle = str(mdl.root).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes()
            if needle in cmdline and b"localjuju" in cmdline:
                os.kill(int(entry.name), signal.SIGKILL)


def destroy_model(name: str) -> None:
    """End the controller and every machine of a model, and delete it."""
    mdl = ModelDir.named(bare_name(name))
    if not mdl.root.exists():
        raise CommandError(f'model "{name}" not found')
    controller.stop(mdl)
    with contextlib.suppress(OSError, ValueError):
        lifecycle.end_all(mdl, read(mdl))
    _kill_strays(mdl)
    time.sleep(0.05)
    shutil.rmtree(mdl.root, ignore_errors=True)
    if mdl.root.exists():
        raise CommandError(f"could not remove {mdl.root}")
    if current_name() == mdl.name:
        (home() / "current-model").unlink()


def set_model_config(mdl: ModelDir, sets: dict[str, str], resets: list[str]) -> None:
    from .scheduler import duration

    if "update-status-hook-interval" in sets:
        try:
            duration(sets["update-status-hook-interval"])
        except ValueError as exc:
            raise CommandError(f"update-status-hook-interval: {exc}") from None
    with transaction(mdl) as state:
        state["config"].update(sets)
        for key in resets:
            state["config"].pop(key, None)
    _recorded(mdl)


def model_config(state: State) -> dict[str, Any]:
    """The model's config as `juju model-config` shows it."""
    return {"name": state["name"], "uuid": state["uuid"], "type": "localjuju", "update-status-hook-interval": "5m",
            "automatically-retry-hooks": "true", **state["config"]}  # fmt: skip


# --- applications and units --------------------------------------------------------------------


def config_values(ch: charm.Charm, app: str, items: list[str]) -> dict[str, Any]:
    """Parse --config k=v items and YAML files ({app: {k: v}})."""
    values: dict[str, Any] = {}
    for item in items:
        if "=" in item:
            key, _, raw = item.partition("=")
            values[key] = charm.parse_option(ch, key, raw)
            continue
        loaded = yaml.safe_load(Path(item).read_text(encoding="utf-8")) or {}
        for key, value in (loaded.get(app) or {}).items():
            values[key] = charm.coerce_option(ch, key, value)
    return values


def _add_units(mdl: ModelDir, state: State, app: str, count: int) -> list[str]:
    """Record count new units of app; the controller starts their machines."""
    units = []
    for _ in range(count):
        placeholder = f"{app}/{state['apps'][app]['next_unit']}"
        units.append(model.add_unit(state, app, lifecycle.allocate_address(mdl, placeholder)))
    return units


@dataclass(frozen=True)
class Deployed:
    app: str
    charm_name: str


def deploy(mdl: ModelDir, source: Path, name: str | None, num_units: int, config: list[str], placed: bool) -> Deployed:
    """Copy a local charm into the model and record its application and units."""
    if not source.exists():
        raise CommandError(f'cannot deploy "{source}": only local charm paths are supported here')
    staging = mdl.charms / f".staging-{os.getpid()}"
    charm.copy(source, staging)
    try:
        ch = charm.load(staging)
        app = name or ch.name
        if ch.subordinate and (num_units != 1 or placed):
            raise CommandError("cannot use --num-units or --to with subordinate application")
        values = config_values(ch, app, config)
        target = mdl.charms / f"{app}-0"
        with transaction(mdl) as state:
            if app in state["apps"]:
                raise CommandError(f'cannot add application "{app}": application already exists')
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
            model.add_application(state, app, ch, str(target), values)
            if not ch.subordinate:
                _add_units(mdl, state, app, num_units)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _recorded(mdl)
    return Deployed(app, ch.name)


def add_unit(mdl: ModelDir, app: str, count: int) -> list[str]:
    with transaction(mdl) as state:
        if app not in state["apps"]:
            raise CommandError(f'application "{app}" not found')
        if model.is_subordinate_app(state, app):
            raise CommandError(f'cannot add unit to application "{app}": application is subordinate')
        units = _add_units(mdl, state, app, count)
    _recorded(mdl)
    return units


def resolve_unit(state: State, name: str) -> str:
    """Accept app/N and app/leader."""
    app, _, number = name.partition("/")
    leader = state["apps"][app]["leader"] if app in state["apps"] else None
    if number == "leader" and leader:
        return leader
    if name not in state["units"]:
        raise CommandError(f'unit "{name}" not found')
    return name


def remove_units(mdl: ModelDir, names: list[str], force: bool) -> None:
    """Queue the removal hooks of principal units (with force, end units in error at once)."""
    with transaction(mdl) as state:
        for name in names:
            if state["units"][resolve_unit(state, name)].get("principal"):
                raise CommandError(
                    f'unit "{name}" is a subordinate, to remove use remove-relation. '
                    "Note: this will remove all units of the subordinate application"
                )
        forced = _start_removing(state, [resolve_unit(state, n) for n in names], force)
    _end_forced(mdl, forced)
    _recorded(mdl)


def _start_removing(state: State, units: list[str], force: bool) -> list[Unit]:
    """Mark units dying (queueing their teardown hooks); return the records force ends now."""
    forced: list[Unit] = []
    for unit in units:
        if unit not in state["units"]:
            continue
        if state["units"][unit]["life"] == "alive":
            model.remove_unit(state, unit)
        if force and state["units"][unit]["error"] is not None:
            for sub in [*model.subordinates_of(state, unit), unit]:
                forced.append(state["units"][sub])
                model.forget_unit(state, sub)
    return forced


def _end_forced(mdl: ModelDir, forced: list[Unit]) -> None:
    for record in forced:
        lifecycle.end_unit(mdl, record, graceful=False)


def remove_application(mdl: ModelDir, apps: list[str], force: bool) -> None:
    """Mark applications dying: their relations and units go; the app is forgotten with its last unit."""
    with transaction(mdl) as state:
        for app in apps:
            if app not in state["apps"]:
                raise CommandError(f'application "{app}" not found')
        for app in apps:
            model.remove_application(state, app)
        units = [u for u, r in state["units"].items() if r["app"] in apps]
        forced = _start_removing(state, units, force)
        model.forget_dead_applications(state)
    _end_forced(mdl, forced)
    _recorded(mdl)


def _app_charm(state: State, app: str) -> charm.Charm:
    record = state["apps"][app]
    return charm.Charm(Path(record["charm_dir"]), record["charm_name"], {}, record["options"])


def set_config(mdl: ModelDir, app: str, items: list[str], resets: list[str]) -> None:
    """Change an application's config; its units run config-changed if the result differs."""
    with transaction(mdl) as state:
        if app not in state["apps"]:
            raise CommandError(f'application "{app}" not found')
        record = state["apps"][app]
        before = model.effective_config(record)
        record["config"].update(config_values(_app_charm(state, app), app, items))
        for key in resets:
            if key not in record["options"]:
                raise CommandError(f'unknown option "{key}"')
            record["config"].pop(key, None)
        if model.effective_config(record) != before:
            model.config_changed(state, app)
    _recorded(mdl)


def refresh(mdl: ModelDir, app: str, path: Path, config: list[str]) -> tuple[str, int]:
    """Put a new revision of a charm in place; its units run upgrade-charm then config-changed."""
    state = read(mdl)
    if app not in state["apps"]:
        raise CommandError(f'application "{app}" not found')
    revision = state["apps"][app]["revision"] + 1
    target = mdl.charms / f"{app}-{revision}"
    shutil.rmtree(target, ignore_errors=True)
    charm.copy(path.resolve(), target)
    ch = charm.load(target)
    with transaction(mdl) as state:
        record = state["apps"][app]
        record.update(revision=revision, charm_dir=str(target), options=ch.options, actions=ch.actions)
        record["endpoints"] = model.endpoint_records(ch)
        record["config"].update(config_values(ch, app, config))
        for unit in model.alive_units(state, app):
            model.enqueue(state, unit, model.event("upgrade-charm", swap=revision))
            model.enqueue(state, unit, model.event("config-changed"))
    _recorded(mdl)
    return ch.name, revision


def expose(mdl: ModelDir, app: str, exposed: bool) -> None:
    with transaction(mdl) as state:
        if app not in state["apps"]:
            raise CommandError(f'application "{app}" not found')
        state["apps"][app]["exposed"] = exposed


def move_leader(mdl: ModelDir, unit_name: str) -> None:
    """Local-only: make a unit its application's leader, as when the old leader's lease lapses."""
    with transaction(mdl) as state:
        unit = resolve_unit(state, unit_name)
        record = state["units"][unit]
        if record["life"] != "alive":
            raise CommandError(f'unit "{unit}" is dying and cannot become leader')
        if state["apps"][record["app"]]["leader"] == unit:
            return
        model.elect(state, record["app"], unit)
    _recorded(mdl)


# --- relations ---------------------------------------------------------------------------------


def _endpoint_candidates(state: State, spec: str) -> list[RelationEnd]:
    app, _, endpoint = spec.partition(":")
    if app not in state["apps"]:
        raise CommandError(f'application "{app}" not found')
    return [
        {"app": app, "endpoint": name, "interface": ep["interface"], "role": ep["role"],
         "scope": ep.get("scope", "global")}
        for name, ep in state["apps"][app]["endpoints"].items()
        if ep["role"] != "peer" and (not endpoint or name == endpoint)
    ]  # fmt: skip


def _match(state: State, spec1: str, spec2: str) -> tuple[RelationEnd, RelationEnd]:
    """Find the one provider/requirer pair with the same interface between two app[:endpoint]s."""
    pairs = [
        (a, b)
        for a in _endpoint_candidates(state, spec1)
        for b in _endpoint_candidates(state, spec2)
        if a["interface"] == b["interface"] and {a["role"], b["role"]} == {"provider", "requirer"}
    ]
    if not pairs:
        raise CommandError(f'no relations found between "{spec1}" and "{spec2}"')
    if len(pairs) > 1:
        options = ", ".join(f"{a['app']}:{a['endpoint']} {b['app']}:{b['endpoint']}" for a, b in pairs)
        raise CommandError(f'ambiguous relation: "{spec1} {spec2}" could refer to {options}')
    a, b = pairs[0]
    container = "container" in (a.get("scope"), b.get("scope"))
    if container and not any(model.is_subordinate_app(state, end["app"]) for end in (a, b)):
        raise CommandError(
            f'cannot add relation "{a["app"]}:{a["endpoint"]} {b["app"]}:{b["endpoint"]}": '
            "container scoped relation requires at least one subordinate application"
        )
    return a, b


def _find_relation(state: State, a: RelationEnd, b: RelationEnd) -> model.Relation | None:
    for rel in state["relations"].values():
        ends = {(e["app"], e["endpoint"]) for e in rel["ends"]}
        if ends == {(a["app"], a["endpoint"]), (b["app"], b["endpoint"])} and rel["life"] == "alive":
            return rel
    return None


def integrate(mdl: ModelDir, spec1: str, spec2: str) -> None:
    with transaction(mdl) as state:
        a, b = _match(state, spec1, spec2)
        if _find_relation(state, a, b):
            raise CommandError(f"relation {a['app']}:{a['endpoint']} {b['app']}:{b['endpoint']} already exists")
        rel = model.add_relation(state, [a, b])
        for end in (a, b):
            for unit in model.alive_units(state, end["app"]):
                if model.in_scope_ready(state["units"][unit]):
                    model.enter_scope(state, unit, rel)
    _recorded(mdl)


def remove_relation(mdl: ModelDir, spec1: str, spec2: str | None) -> None:
    with transaction(mdl) as state:
        if spec2 is None and spec1.isdigit():
            rel = state["relations"].get(spec1)
        else:
            rel = _find_relation(state, *_match(state, spec1, spec2 or ""))
        if rel is None:
            raise CommandError(f'relation "{spec1} {spec2 or ""}" not found')
        model.remove_relation(state, rel)
    _recorded(mdl)


# --- tasks -------------------------------------------------------------------------------------


def exec_targets(state: State, units: list[str], machines: list[str], apps: list[str], everything: bool) -> list[str]:
    targets = [resolve_unit(state, u) for u in units]
    targets += [u for u, r in state["units"].items() if r["machine"] in machines]
    targets += [u for a in apps for u in model.alive_units(state, a)]
    if everything:
        targets += list(state["units"])
    if not targets:
        raise CommandError("you must specify a target, either through --all, --machine, --application or --unit")
    return list(dict.fromkeys(targets))


def queue_exec(mdl: ModelDir, units: list[str], machines: list[str], apps: list[str], everything: bool,
               command: str, timeout: float | None) -> list[tuple[str, str]]:  # fmt: skip
    """Queue a command on each target unit; return (unit, task id) pairs."""
    with transaction(mdl) as state:
        chosen = exec_targets(state, units, machines, apps, everything)
        queued = [(u, tasks.create(mdl, state, u, "exec", "juju-exec", command=command, timeout=timeout))
                  for u in chosen]  # fmt: skip
    _recorded(mdl)
    return queued


def action_params(spec: dict[str, Any], items: list[str], params_file: str | None) -> dict[str, Any]:
    """Action parameters: declared defaults, then --params file, then key=value (YAML values)."""
    declared = spec.get("params") or {}
    params = {k: v["default"] for k, v in declared.items() if isinstance(v, dict) and "default" in v}
    if params_file:
        params.update(yaml.safe_load(Path(params_file).read_text(encoding="utf-8")) or {})
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise CommandError(f'argument "{item}" must be of the form key=value')
        node = params
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value) if value else ""
    return params


def queue_action(mdl: ModelDir, unit_name: str, action: str, items: list[str], params_file: str | None,
                 timeout: float | None) -> tuple[str, str]:  # fmt: skip
    """Queue an action on a unit; return (unit, task id)."""
    with transaction(mdl) as state:
        unit = resolve_unit(state, unit_name)
        actions = state["apps"][state["units"][unit]["app"]]["actions"]
        if action not in actions:
            raise CommandError(f'action "{action}" not defined for unit "{unit}". (not found)')
        params = action_params(actions.get(action) or {}, items, params_file)
        task_id = tasks.create(mdl, state, unit, "action", action, params=params, timeout=timeout)
    _recorded(mdl)
    return unit, task_id


def resolve(mdl: ModelDir, names: list[str], everything: bool, no_retry: bool) -> None:
    """Leave the error state; the failed hook runs again at once unless --no-retry."""
    from .scheduler import retry

    with transaction(mdl) as state:
        units = list(state["units"]) if everything else [resolve_unit(state, u) for u in names]
        for unit in units:
            record = state["units"][unit]
            if record["error"] is None:
                if not everything:
                    raise CommandError(f'unit "{unit}" is not in an error state')
                continue
            if no_retry:  # the hook counts as done, as Juju marks it (an install skipped still installs)
                model.after_hook(state, unit, record["error"])
                record["error"] = None
                record.pop("retry_at", None)
                record["workload"] = record.pop("saved_workload", model.status("unknown"))
            else:
                retry(record)
            record.pop("retry_delay", None)
    _recorded(mdl)
