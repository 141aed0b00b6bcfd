"""The `juju` command of the local model: the subset of Juju 3.6's CLI that jubilant uses."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import yaml

from . import JUJU_VERSION, actionparams, charm, lifecycle, machine, model, render, scheduler, toolserver
from .hooktools import TOOLS
from .state import ModelDir, State, home, operation_lock, read, transaction, write

EXEC_TIMEOUT = 300.0


class CommandError(Exception):
    """A command failed; the message is printed as one `ERROR ...` line."""


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad option as one readable line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"ERROR {self.prog}: {message}", file=sys.stderr)
        sys.exit(2)


def _parser(name: str, model_option: bool = True) -> Parser:
    parser = Parser(prog=f"juju {name}")
    if model_option:
        parser.add_argument("-m", "--model")
    return parser


# --- models ------------------------------------------------------------------------------------


def _bare_name(name: str) -> str:
    """Strip `controller:` and `user/` from a model reference."""
    return name.split(":", 1)[-1].split("/", 1)[-1]


def current_model(given: str | None) -> ModelDir:
    """The model named by --model, $JUJU_MODEL or the current-model file; it must exist."""
    name = given or os.environ.get("JUJU_MODEL")
    if not name:
        current = home() / "current-model"
        name = current.read_text(encoding="utf-8").strip() if current.exists() else ""
    if not name:
        raise CommandError("no current model, use --model or `juju switch`")
    mdl = ModelDir.named(_bare_name(name))
    if not mdl.exists():
        raise CommandError(f'model "{_bare_name(name)}" not found')
    return mdl


def cmd_add_model(argv: list[str]) -> None:
    parser = _parser("add-model", model_option=False)
    parser.add_argument("name")
    parser.add_argument("cloud", nargs="?")
    parser.add_argument("--no-switch", action="store_true")
    parser.add_argument("--config", action="append", default=[])
    parser.add_argument("--controller", "-c")
    parser.add_argument("--credential")
    args = parser.parse_args(argv)
    name = args.name
    if not name.replace("-", "").isalnum() or name != name.lower():
        raise CommandError(f'"{name}" is not a valid model name (lowercase letters, digits and hyphens)')
    mdl = ModelDir.named(name)
    if mdl.root.exists():
        raise CommandError(f'model "{name}" already exists (a stale one is removed by `juju destroy-model {name}`)')
    mdl.root.mkdir(parents=True)
    for sub in (mdl.tools, mdl.charms, mdl.contexts, mdl.logs, mdl.root / "units"):
        sub.mkdir()
    program = toolserver.tool_program()
    for tool in TOOLS:
        (mdl.tools / tool).symlink_to(program)
    state = model.new_state(name)
    state["config"] = dict(item.split("=", 1) for item in args.config)
    write(mdl, state)
    if not args.no_switch:
        (home() / "current-model").write_text(name + "\n", encoding="utf-8")
    print(f"Added '{name}' model on localhost/localhost with credential 'local' for user 'admin'", file=sys.stderr)


def _kill_strays(mdl: ModelDir) -> None:
    """Kill any process still mentioning the model directory (a machine whose state was lost)."""
    needle = str(mdl.root).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if needle in (entry / "cmdline").read_bytes() and b"localjuju" in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)


def cmd_destroy_model(argv: list[str]) -> None:
    parser = _parser("destroy-model", model_option=False)
    parser.add_argument("name")
    for flag in ("--no-prompt", "-y", "--destroy-storage", "--force", "--no-wait", "--release-storage"):
        parser.add_argument(flag, action="store_true")
    parser.add_argument("--timeout")
    args = parser.parse_args(argv)
    mdl = ModelDir.named(_bare_name(args.name))
    if not mdl.root.exists():
        raise CommandError(f'model "{args.name}" not found')
    with contextlib.suppress(OSError, ValueError):
        state = read(mdl)
        lifecycle.end_all(mdl, state)
    _kill_strays(mdl)
    time.sleep(0.05)
    shutil.rmtree(mdl.root, ignore_errors=True)
    if mdl.root.exists():
        raise CommandError(f"could not remove {mdl.root}")
    current = home() / "current-model"
    if current.exists() and current.read_text(encoding="utf-8").strip() == mdl.name:
        current.unlink()


def cmd_models(argv: list[str]) -> None:
    parser = _parser("models", model_option=False)
    parser.add_argument("--format", default="tabular")
    args = parser.parse_args(argv)
    root = home() / "models"
    names = sorted(p.name for p in root.iterdir() if (p / "state.json").exists()) if root.exists() else []
    current = home() / "current-model"
    current_name = current.read_text(encoding="utf-8").strip() if current.exists() else ""
    if args.format == "json":
        models = [{"name": f"admin/{n}", "short-name": n, "owner": "admin", "type": "iaas",
                   "controller-name": "localjuju", "cloud": "localhost", "life": "alive"} for n in names]  # fmt: skip
        print(json.dumps({"models": models, "current-model": current_name}))
        return
    print("Controller: localjuju\n\nModel")
    for n in names:
        print(n + ("*" if n == current_name else ""))


def cmd_switch(argv: list[str]) -> None:
    parser = _parser("switch", model_option=False)
    parser.add_argument("name")
    mdl = current_model(parser.parse_args(argv).name)
    (home() / "current-model").write_text(mdl.name + "\n", encoding="utf-8")


def cmd_show_model(argv: list[str]) -> None:
    parser = _parser("show-model")
    parser.add_argument("name", nargs="?")
    parser.add_argument("--format", default="yaml")
    args = parser.parse_args(argv)
    state = read(current_model(args.name or args.model))
    info = {state["name"]: {"name": f"admin/{state['name']}", "short-name": state["name"], "model-uuid":
            state["uuid"], "model-type": "iaas", "controller-uuid": str(uuid.UUID(int=0)), "controller-name":
            "localjuju", "is-controller": False, "owner": "admin", "cloud": "localhost", "region": "localhost",
            "type": "localjuju", "life": "alive", "status": {"current": "available", "since": state["created"]},
            "agent-version": JUJU_VERSION}}  # fmt: skip
    print(
        json.dumps(info) if args.format == "json" else yaml.safe_dump(info), end="\n" if args.format == "json" else ""
    )


def cmd_model_config(argv: list[str]) -> None:
    parser = _parser("model-config")
    parser.add_argument("--format", default="tabular")
    parser.add_argument("--reset", action="append", default=[])
    parser.add_argument("items", nargs="*")
    args = parser.parse_args(argv)
    mdl = current_model(args.model)
    with operation_lock(mdl), transaction(mdl) as state:
        sets = [i for i in args.items if "=" in i]
        for item in sets:
            key, _, value = item.partition("=")
            state["config"][key] = value
        for key in ",".join(args.reset).split(","):
            state["config"].pop(key, None)
        if sets or args.reset:
            return
        values = {"name": state["name"], "uuid": state["uuid"], "type": "localjuju",
                  "update-status-hook-interval": "5m", **state["config"]}  # fmt: skip
    if args.items:
        print(values.get(args.items[0], ""))
    elif args.format == "json":
        print(json.dumps({k: {"Value": v, "Source": "model"} for k, v in values.items()}))
    else:
        for key, value in sorted(values.items()):
            print(f"{key}: {value}")


# --- applications and units --------------------------------------------------------------------


def _config_values(ch: charm.Charm, app: str, items: list[str]) -> dict[str, Any]:
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


def _start_units(mdl: ModelDir, units: list[str]) -> None:
    """Start the machines of new units in parallel and record their pids."""
    state = read(mdl)
    results: dict[str, tuple[int, str] | Exception] = {}

    def start(unit: str) -> None:
        record = state["units"][unit]
        try:
            results[unit] = lifecycle.start_unit(mdl, record, record["charm_source"])
        except (machine.MachineError, OSError) as exc:
            results[unit] = exc

    threads = [threading.Thread(target=start, args=(u,)) for u in units]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with transaction(mdl) as current:
        for unit, result in results.items():
            if isinstance(result, Exception):
                current["units"][unit]["workload"] = model.status("error", f"machine failed to start: {result}")
            else:
                current["units"][unit]["pid"], current["units"][unit]["start"] = result
    failed = [f"{u}: {r}" for u, r in results.items() if isinstance(r, Exception)]
    if failed:
        raise CommandError("; ".join(failed))


def _add_units(mdl: ModelDir, state: State, app: str, count: int) -> list[str]:
    """Record count new units of app (their machines are started afterwards)."""
    units = []
    for _ in range(count):
        placeholder = f"{app}/{state['apps'][app]['next_unit']}"
        units.append(model.add_unit(state, app, lifecycle.allocate_address(mdl, placeholder)))
    return units


def cmd_deploy(argv: list[str]) -> None:
    parser = _parser("deploy")
    parser.add_argument("charm")
    parser.add_argument("app", nargs="?")
    parser.add_argument("-n", "--num-units", type=int, default=1)
    parser.add_argument("--config", action="append", default=[])
    for option in ("--base", "--series", "--channel", "--constraints", "--to", "--bind", "--resource", "--storage",
                   "--revision", "--attach-storage", "--overlay"):  # fmt: skip
        parser.add_argument(option, action="append")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--trust", action="store_true")
    args = parser.parse_args(argv)
    mdl = current_model(args.model)
    source = Path(args.charm).resolve()
    if not source.exists():
        raise CommandError(f'cannot deploy "{args.charm}": only local charm paths are supported here')
    with operation_lock(mdl):
        staging = mdl.charms / f".staging-{os.getpid()}"
        charm.copy(source, staging)
        try:
            ch = charm.load(staging)
        except charm.CharmError:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        app = args.app or ch.name
        if ch.subordinate and (args.num_units != 1 or args.to):
            shutil.rmtree(staging, ignore_errors=True)
            raise CommandError("cannot use --num-units or --to with subordinate application")
        values = _config_values(ch, app, args.config)
        target = mdl.charms / f"{app}-0"
        with transaction(mdl) as state:
            if app in state["apps"]:
                shutil.rmtree(staging, ignore_errors=True)
                raise CommandError(f'cannot add application "{app}": application already exists')
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
            model.add_application(state, app, ch, str(target), values)
            units = [] if ch.subordinate else _add_units(mdl, state, app, args.num_units)
        print(f'Deployed "{app}" from local charm "{ch.name}", revision 0', file=sys.stderr)
        _start_units(mdl, units)
        scheduler.settle(mdl)


def cmd_add_unit(argv: list[str]) -> None:
    parser = _parser("add-unit")
    parser.add_argument("app")
    parser.add_argument("-n", "--num-units", type=int, default=1)
    parser.add_argument("--to", action="append")
    parser.add_argument("--attach-storage", action="append")
    args = parser.parse_args(argv)
    mdl = current_model(args.model)
    with operation_lock(mdl):
        with transaction(mdl) as state:
            if args.app not in state["apps"]:
                raise CommandError(f'application "{args.app}" not found')
            if model.is_subordinate_app(state, args.app):
                raise CommandError(f'cannot add unit to application "{args.app}": application is subordinate')
            units = _add_units(mdl, state, args.app, args.num_units)
        _start_units(mdl, units)
        scheduler.settle(mdl)


def _resolve_unit(state: State, name: str) -> str:
    """Accept app/N and app/leader."""
    app, _, number = name.partition("/")
    if number == "leader" and app in state["apps"] and state["apps"][app]["leader"]:
        return state["apps"][app]["leader"]
    if name not in state["units"]:
        raise CommandError(f'unit "{name}" not found')
    return name


def cmd_remove_unit(argv: list[str]) -> None:
    parser = _parser("remove-unit")
    parser.add_argument("units", nargs="+")
    for flag in ("--no-prompt", "--force", "--destroy-storage", "--no-wait"):
        parser.add_argument(flag, action="store_true")
    parser.add_argument("--num-units", type=int)
    args = parser.parse_args(argv)
    mdl = current_model(args.model)
    with operation_lock(mdl):
        state = read(mdl)
        for name in args.units:
            if state["units"][_resolve_unit(state, name)].get("principal"):
                raise CommandError(
                    f'unit "{name}" is a subordinate, to remove use remove-relation. '
                    "Note: this will remove all units of the subordinate application"
                )
        _remove_units(mdl, args.units, args.force)


def _remove_units(mdl: ModelDir, names: list[str], force: bool) -> None:
    """Queue the removal hooks of units (or, with force, end units in error at once)."""
    forced: list[dict[str, Any]] = []
    with transaction(mdl) as state:
        units = [_resolve_unit(state, n) for n in names]
        for unit in units:
            if state["units"][unit]["life"] == "alive":
                model.remove_unit(state, unit)
            if force and state["units"][unit]["error"] is not None:
                for sub in [*model.subordinates_of(state, unit), unit]:
                    forced.append(state["units"][sub])
                    model.forget_unit(state, sub)
    for record in forced:
        lifecycle.end_unit(mdl, record, graceful=False)
    scheduler.settle(mdl)


def cmd_remove_application(argv: list[str]) -> None:
    parser = _parser("remove-application")
    parser.add_argument("apps", nargs="+")
    for flag in ("--no-prompt", "--force", "--destroy-storage", "--no-wait"):
        parser.add_argument(flag, action="store_true")
    args = parser.parse_args(argv)
    mdl = current_model(args.model)
    with operation_lock(mdl):
        with transaction(mdl) as state:
            for app in args.apps:
                if app not in state["apps"]:
                    raise CommandError(f'application "{app}" not found')
                for rel in model.relations_of(state, app):
                    if len(rel["ends"]) > 1:
                        model.remove_relation(state, rel)
            units = [u for u, r in state["units"].items() if r["app"] in args.apps]
        _remove_units(mdl, units, args.force)
        with transaction(mdl) as state:
            for app in args.apps:
                if not any(r["app"] == app for r in state["units"].values()):
                    del state["apps"][app]
                    for key, rel in list(state["relations"].items()):
                        if any(e["app"] == app for e in rel["ends"]):
                            del state["relations"][key]


def cmd_config(argv: list[str]) -> None:
    parser = _parser("config")
    parser.add_argument("app")
    parser.add_argument("items", nargs="*")
    parser.add_argument("--format", default="yaml")
    parser.add_argument("--reset", action="append", default=[])
    parser.add_argument("--file")
    args = parser.parse_args(argv)
    mdl = current_model(args.model)
    state = read(mdl)
    if args.app not in state["apps"]:
        raise CommandError(f'application "{args.app}" not found')
    sets = [i for i in args.items if "=" in i]
    if not sets and not args.reset and not args.file:
        _print_config(state, args.app, args.items, args.format)
        return
    with operation_lock(mdl):
        with transaction(mdl) as state:
            app = state["apps"][args.app]
            ch = charm.Charm(Path(app["charm_dir"]), app["charm_name"], {}, app["options"])
            before = model.effective_config(app)
            values = _config_values(ch, args.app, sets + ([args.file] if args.file else []))
            app["config"].update(values)
            for key in (k for item in args.reset for k in item.split(",") if k):
                if key not in app["options"]:
                    raise CommandError(f'unknown option "{key}"')
                app["config"].pop(key, None)
            if model.effective_config(app) != before:
                model.config_changed(state, args.app)
        scheduler.settle(mdl)


def _print_config(state: State, app: str, keys: list[str], fmt: str) -> None:
    data = render.config(state, app)
    if keys:
        entry = data["settings"].get(keys[0])
        if entry is None:
            raise CommandError(f'key "{keys[0]}" not found in "{app}" application config or charm settings.')
        value = entry.get("value", "")
        print(json.dumps(value) if fmt == "json" else value)
        return
    print(
        json.dumps(data) if fmt == "json" else yaml.safe_dump(data, sort_keys=True), end="\n" if fmt == "json" else ""
    )


# --- relations ---------------------------------------------------------------------------------


def _endpoint_candidates(state: State, spec: str) -> list[dict[str, str]]:
    app, _, endpoint = spec.partition(":")
    if app not in state["apps"]:
        raise CommandError(f'application "{app}" not found')
    eps = state["apps"][app]["endpoints"]
    return [
        {
            "app": app,
            "endpoint": name,
            "interface": ep["interface"],
            "role": ep["role"],
            "scope": ep.get("scope", "global"),
        }
        for name, ep in eps.items()
        if ep["role"] != "peer" and (not endpoint or name == endpoint)
    ]


def _match(state: State, spec1: str, spec2: str) -> tuple[dict[str, str], dict[str, str]]:
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
    container = "container" in (a["scope"], b["scope"])
    if container and not any(model.is_subordinate_app(state, end["app"]) for end in (a, b)):
        raise CommandError(
            f'cannot add relation "{a["app"]}:{a["endpoint"]} {b["app"]}:{b["endpoint"]}": '
            "container scoped relation requires at least one subordinate application"
        )
    return a, b


def _find_relation(state: State, a: dict[str, str], b: dict[str, str]) -> dict[str, Any] | None:
    for rel in state["relations"].values():
        ends = {(e["app"], e["endpoint"]) for e in rel["ends"]}
        if ends == {(a["app"], a["endpoint"]), (b["app"], b["endpoint"])} and rel["life"] == "alive":
            return rel
    return None


def cmd_integrate(argv: list[str], name: str = "integrate") -> None:
    parser = _parser(name)
    parser.add_argument("app1")
    parser.add_argument("app2")
    parser.add_argument("--via")
    args = parser.parse_args(argv)
    mdl = current_model(args.model)
    with operation_lock(mdl):
        with transaction(mdl) as state:
            a, b = _match(state, args.app1, args.app2)
            if _find_relation(state, a, b):
                raise CommandError(f"relation {a['app']}:{a['endpoint']} {b['app']}:{b['endpoint']} already exists")
            rel = model.add_relation(state, [a, b])
            for end in (a, b):
                for unit in model.alive_units(state, end["app"]):
                    if state["units"][unit]["started"]:
                        model.enter_scope(state, unit, rel)
        scheduler.settle(mdl)


def cmd_remove_relation(argv: list[str]) -> None:
    parser = _parser("remove-relation")
    parser.add_argument("app1")
    parser.add_argument("app2", nargs="?")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    mdl = current_model(args.model)
    with operation_lock(mdl):
        with transaction(mdl) as state:
            if args.app2 is None and args.app1.isdigit():
                rel = state["relations"].get(args.app1)
            else:
                rel = _find_relation(state, *_match(state, args.app1, args.app2 or ""))
            if rel is None:
                raise CommandError(f'relation "{args.app1} {args.app2 or ""}" not found')
            model.remove_relation(state, rel)
        scheduler.settle(mdl)


# --- status ------------------------------------------------------------------------------------


def cmd_status(argv: list[str]) -> None:
    parser = _parser("status")
    parser.add_argument("filters", nargs="*")
    parser.add_argument("--format", default="tabular")
    for flag in ("--relations", "--storage", "--integrations", "--color", "--no-color", "--watch"):
        parser.add_argument(flag, action="store_true")
    args = parser.parse_args(argv)
    state = read(current_model(args.model))
    if args.format == "json":
        print(json.dumps(render.status(state)))
    elif args.format == "yaml":
        print(yaml.safe_dump(render.status(state)), end="")
    else:
        print(render.status_table(state), end="")


def cmd_show_unit(argv: list[str]) -> None:
    parser = _parser("show-unit")
    parser.add_argument("units", nargs="+")
    parser.add_argument("--format", default="yaml")
    for flag in ("--app", "--endpoint", "--related-unit"):
        parser.add_argument(flag)
    args = parser.parse_args(argv)
    state = read(current_model(args.model))
    data = {u: render.show_unit(state, u) for u in (_resolve_unit(state, n) for n in args.units)}
    print(
        json.dumps(data) if args.format == "json" else yaml.safe_dump(data), end="\n" if args.format == "json" else ""
    )


def cmd_debug_log(argv: list[str]) -> None:
    parser = _parser("debug-log")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--include", action="append", default=[])
    for flag in ("--replay", "--no-tail", "--tail", "--color"):
        parser.add_argument(flag, action="store_true")
    args = parser.parse_args(argv)
    mdl = current_model(args.model)
    lines: list[str] = []
    for log in sorted(mdl.logs.glob("unit-*.log")):
        include = {i.replace("/", "-") for i in args.include}
        if include and not any(log.stem in (f"unit-{i}", i) or log.stem.startswith(f"unit-{i}-") for i in include):
            continue
        lines += log.read_text(encoding="utf-8").splitlines()
    for line in lines[-args.limit :] if args.limit else lines:
        print(line)


def cmd_version(argv: list[str]) -> None:
    parser = _parser("version", model_option=False)
    parser.add_argument("--format", default="smart")
    parser.add_argument("--all", action="store_true")
    args = parser.parse_args(argv)
    full = f"{JUJU_VERSION}-genericlinux-amd64"
    if args.format == "json":
        print(json.dumps({"version": full, "git-commit": "", "git-tree-state": "clean", "compiler": "localjuju"}))
    else:
        print(full)


# --- running things in units -------------------------------------------------------------------


def _wait_seconds(text: str | None) -> float:
    if not text:
        return EXEC_TIMEOUT
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for suffix in ("ms", "s", "m", "h"):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * units[suffix]
    return float(text)


def _run_in_context(
    mdl: ModelDir, unit: str, argv: list[str], kind: str, extra: dict[str, Any], env: dict[str, str], timeout: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run a command in a unit with a hook context; commit its changes if it exits 0."""
    state = read(mdl)
    ctx_id = scheduler.new_context(mdl, unit, kind, extra)
    full_env = scheduler.base_env(state, mdl, unit, ctx_id) | env
    request = {"op": "run", "argv": argv, "env": full_env, "cwd": lifecycle.charm_dir(unit), "timeout": timeout}
    try:
        reply = machine.request(mdl, unit, request)
    except machine.MachineError as exc:
        scheduler.read_context(mdl, ctx_id)
        raise CommandError(str(exc)) from None
    ctx = scheduler.read_context(mdl, ctx_id)
    # Juju commits what a `juju exec` command changed whatever its exit status; a hook's or an
    # action's changes only when it succeeds.
    if (reply["rc"] == 0 or kind == "exec") and not reply.get("timed_out"):
        with transaction(mdl) as state:
            model.commit(state, unit, ctx)
    return reply, ctx


def _next_task(mdl: ModelDir) -> str:
    with transaction(mdl) as state:
        task = state["next_task"]
        state["next_task"] += 1
    return str(task)


def _task_failed(task: str, code: int) -> None:
    print(f'ERROR the following task failed:\n id "{task}" with return code {code}\n\n'
          "use 'juju show-task' to inspect the failure", file=sys.stderr)  # fmt: skip


def cmd_exec(argv: list[str]) -> int:
    if "--" in argv:
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1 :]
    else:
        command = []
    parser = _parser("exec")
    parser.add_argument("--unit", "-u", action="append", default=[])
    parser.add_argument("--machine", action="append", default=[])
    parser.add_argument("--application", "-a", action="append", default=[])
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--format", default="plain")
    parser.add_argument("--wait")
    parser.add_argument("--background", action="store_true")
    parser.add_argument("command", nargs="*")
    args = parser.parse_args(argv)
    command = args.command + command
    if not command:
        raise CommandError("no commands specified")
    mdl = current_model(args.model)
    with operation_lock(mdl):
        state = read(mdl)
        units = [_resolve_unit(state, u) for u in args.unit]
        units += [u for u, r in state["units"].items() if r["machine"] in args.machine]
        units += [u for a in args.application for u in model.alive_units(state, a)]
        if args.all:
            units += list(state["units"])
        if not units:
            raise CommandError("you must specify a target, either through --all, --machine, --application or --unit")
        results, worst = {}, 0
        for unit in dict.fromkeys(units):
            task = _next_task(mdl)
            reply, _ = _run_in_context(mdl, unit, ["/bin/sh", "-c", " ".join(command)], "exec", {}, {},
                                       _wait_seconds(args.wait))  # fmt: skip
            if reply.get("timed_out"):
                print(f"ERROR timed out waiting for results from: unit {unit}", file=sys.stderr)
                return 1
            results[unit] = {"id": task, "unit": unit, "status": "completed",
                             "results": {"return-code": reply["rc"], "stdout": reply["stdout"],
                                         "stderr": reply["stderr"]}}  # fmt: skip
            worst = worst or reply["rc"]
            if reply["rc"] != 0:
                _task_failed(task, reply["rc"])
        scheduler.settle(mdl)
    if args.format == "json":
        print(json.dumps(results))
    elif args.format == "yaml":
        print(yaml.safe_dump(results), end="")
    else:
        for result in results.values():
            sys.stdout.write(result["results"]["stdout"])
            sys.stderr.write(result["results"]["stderr"])
    return 1 if worst else 0


def _action_params(state: State, unit: str, action: str, items: list[str], params_file: str | None) -> dict[str, Any]:
    """Action parameters: declared defaults, then --params file, then key=value (YAML values)."""
    spec = state["apps"][state["units"][unit]["app"]]["actions"].get(action) or {}
    params = {k: v["default"] for k, v in (spec.get("params") or {}).items() if isinstance(v, dict) and "default" in v}
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


def cmd_run(argv: list[str]) -> int:
    parser = _parser("run")
    parser.add_argument("unit")
    parser.add_argument("action")
    parser.add_argument("params", nargs="*")
    parser.add_argument("--format", default="yaml")
    parser.add_argument("--wait")
    parser.add_argument("--params", dest="params_file")
    parser.add_argument("--background", action="store_true")
    args = parser.parse_args(argv)
    mdl = current_model(args.model)
    with operation_lock(mdl):
        state = read(mdl)
        unit = _resolve_unit(state, args.unit)
        app = state["apps"][state["units"][unit]["app"]]
        if args.action not in app["actions"]:
            raise CommandError(f'action "{args.action}" not defined for unit "{unit}". (not found)')
        params = _action_params(state, unit, args.action, args.params, args.params_file)
        invalid = actionparams.check(app["actions"][args.action] or {}, params)
        if invalid:
            raise CommandError(invalid)
        task = _next_task(mdl)
        source = Path(app["charm_dir"])
        script = "dispatch" if os.access(source / "dispatch", os.X_OK) else f"actions/{args.action}"
        env = {
            "JUJU_ACTION_NAME": args.action,
            "JUJU_ACTION_UUID": str(uuid.uuid4()),
            "JUJU_ACTION_TAG": f"action-{task}",
            "JUJU_DISPATCH_PATH": f"actions/{args.action}",
        }
        extra = {"action": {"name": args.action, "params": params, "results": {}, "failed": None, "log": []}}
        argv_run = [f"{lifecycle.charm_dir(unit)}/{script}"]
        reply, ctx = _run_in_context(mdl, unit, argv_run, "action", extra, env, _wait_seconds(args.wait))
        scheduler.settle(mdl)
    action = ctx["action"]
    failed = action["failed"] is not None or reply["rc"] != 0
    results = {**action["results"], "return-code": reply["rc"]}
    for stream in ("stdout", "stderr"):
        if reply.get(stream):
            results[stream] = reply[stream]
    out: dict[str, Any] = {"id": task, "unit": unit, "status": "failed" if failed else "completed", "results": results,
                           "log": action["log"]}  # fmt: skip
    if failed:
        out["message"] = action["failed"] or f"exit status {reply['rc']}"
        _task_failed(task, reply["rc"])
    print(
        json.dumps({unit: out}) if args.format == "json" else yaml.safe_dump({unit: out}),
        end="\n" if args.format == "json" else "",
    )
    return 1 if failed else 0


def cmd_resolve(argv: list[str]) -> None:
    parser = _parser("resolve")
    parser.add_argument("units", nargs="*")
    parser.add_argument("--no-retry", action="store_true")
    parser.add_argument("--all", action="store_true")
    args = parser.parse_args(argv)
    mdl = current_model(args.model)
    with operation_lock(mdl):
        with transaction(mdl) as state:
            names = list(state["units"]) if args.all else [_resolve_unit(state, u) for u in args.units]
            for unit in names:
                record = state["units"][unit]
                if record["error"] is None:
                    if not args.all:
                        raise CommandError(f'unit "{unit}" is not in an error state')
                    continue
                if not args.no_retry:
                    record["queue"].insert(0, record["error"])
                record["error"] = None
                record["workload"] = record.pop("saved_workload", model.status("unknown"))
        scheduler.settle(mdl)


def cmd_refresh(argv: list[str]) -> None:
    parser = _parser("refresh")
    parser.add_argument("app")
    parser.add_argument("--path", required=True)
    parser.add_argument("--config", action="append", default=[])
    for option in ("--base", "--channel", "--revision", "--resource", "--storage"):
        parser.add_argument(option, action="append")
    for flag in ("--force", "--force-base", "--force-units", "--trust"):
        parser.add_argument(flag, action="store_true")
    args = parser.parse_args(argv)
    mdl = current_model(args.model)
    with operation_lock(mdl):
        state = read(mdl)
        if args.app not in state["apps"]:
            raise CommandError(f'application "{args.app}" not found')
        revision = state["apps"][args.app]["revision"] + 1
        target = mdl.charms / f"{args.app}-{revision}"
        shutil.rmtree(target, ignore_errors=True)
        charm.copy(Path(args.path).resolve(), target)
        ch = charm.load(target)
        with transaction(mdl) as state:
            app = state["apps"][args.app]
            app.update(revision=revision, charm_dir=str(target), options=ch.options, actions=ch.actions)
            app["endpoints"] = model.endpoint_records(ch)
            app["config"].update(_config_values(ch, args.app, args.config))
            for unit in model.alive_units(state, args.app):
                model.enqueue(state, unit, model.event("upgrade-charm", swap=revision))
                model.enqueue(state, unit, model.event("config-changed"))
        print(f'Added local charm "{ch.name}", revision {revision}, to the model', file=sys.stderr)
        scheduler.settle(mdl)


def cmd_expose(argv: list[str], exposed: bool = True) -> None:
    parser = _parser("expose" if exposed else "unexpose")
    parser.add_argument("app")
    parser.add_argument("--endpoints")
    args = parser.parse_args(argv)
    with transaction(current_model(args.model)) as state:
        state["apps"][args.app]["exposed"] = exposed


COMMANDS: dict[str, Callable[[list[str]], int | None]] = {
    "add-model": cmd_add_model,
    "destroy-model": cmd_destroy_model,
    "models": cmd_models,
    "switch": cmd_switch,
    "show-model": cmd_show_model,
    "model-config": cmd_model_config,
    "deploy": cmd_deploy,
    "add-unit": cmd_add_unit,
    "remove-unit": cmd_remove_unit,
    "remove-application": cmd_remove_application,
    "config": cmd_config,
    "integrate": cmd_integrate,
    "relate": lambda argv: cmd_integrate(argv, "relate"),
    "remove-relation": cmd_remove_relation,
    "status": cmd_status,
    "show-unit": cmd_show_unit,
    "exec": cmd_exec,
    "run": cmd_run,
    "resolve": cmd_resolve,
    "resolved": cmd_resolve,
    "refresh": cmd_refresh,
    "debug-log": cmd_debug_log,
    "version": cmd_version,
    "expose": cmd_expose,
    "unexpose": lambda argv: cmd_expose(argv, exposed=False),
}


def main(argv: list[str]) -> int:
    """Run one juju command."""
    if not argv or argv[0] in ("-h", "--help", "help"):
        print("usage: juju COMMAND [options]\ncommands: " + ", ".join(sorted(COMMANDS)))
        return 0
    command = COMMANDS.get(argv[0])
    if command is None:
        print(f'ERROR juju: "{argv[0]}" is not a juju command supported by the local model', file=sys.stderr)
        return 1
    if os.geteuid() != 0 and argv[0] not in ("version", "models", "status"):
        print("ERROR the local model needs root (namespaces and overlay mounts)", file=sys.stderr)
        return 1
    try:
        return command(argv[1:]) or 0
    except (CommandError, charm.CharmError, machine.MachineError) as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 1


def _add_secret_commands() -> None:
    from .secretcli import COMMANDS as SECRET_COMMANDS

    COMMANDS.update(SECRET_COMMANDS)


_add_secret_commands()
