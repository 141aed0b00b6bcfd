"""The `juju` command of the local model: the subset of Juju 3.6's CLI that jubilant uses.

Each command parses its arguments, calls one function of operations.py (which changes the
model) or reads the state, and prints what Juju prints. Commands that change the model return
once the change is recorded; the model's controller runs the hooks (see controller.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import yaml

from . import JUJU_VERSION, charm, machine, operations, render, tasks
from .operations import CommandError, find_model
from .state import read

EXEC_TIMEOUT = 300.0


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


def _flags(parser: argparse.ArgumentParser, *flags: str) -> None:
    """Accept flags that change nothing here (storage, prompts, placement)."""
    for flag in flags:
        parser.add_argument(flag, action="store_true")


def _options(parser: argparse.ArgumentParser, *options: str) -> None:
    for option in options:
        parser.add_argument(option, action="append")


def _print_data(data: Any, fmt: str) -> None:
    """Print data as JSON or YAML, as --format asks."""
    if fmt == "json":
        print(json.dumps(data))
    else:
        print(yaml.safe_dump(data, sort_keys=True), end="")


def _items(values: list[str]) -> list[str]:
    """Split comma-separated --reset values."""
    return [k for item in values for k in item.split(",") if k]


# --- models ------------------------------------------------------------------------------------


def cmd_add_model(argv: list[str]) -> None:
    parser = _parser("add-model", model_option=False)
    parser.add_argument("name")
    parser.add_argument("cloud", nargs="?")
    parser.add_argument("--no-switch", action="store_true")
    parser.add_argument("--config", action="append", default=[])
    parser.add_argument("--controller", "-c")
    parser.add_argument("--credential")
    args = parser.parse_args(argv)
    config = dict(item.split("=", 1) for item in args.config)
    operations.add_model(args.name, config, switch=not args.no_switch)
    print(f"Added '{args.name}' model on localhost/localhost with credential 'local' for user 'admin'", file=sys.stderr)


def cmd_destroy_model(argv: list[str]) -> None:
    parser = _parser("destroy-model", model_option=False)
    parser.add_argument("name")
    _flags(parser, "--no-prompt", "-y", "--destroy-storage", "--force", "--no-wait", "--release-storage")
    parser.add_argument("--timeout")
    operations.destroy_model(parser.parse_args(argv).name)


def cmd_models(argv: list[str]) -> None:
    parser = _parser("models", model_option=False)
    parser.add_argument("--format", default="tabular")
    args = parser.parse_args(argv)
    names, current = operations.model_names(), operations.current_name()
    if args.format == "json":
        models = [{"name": f"admin/{n}", "short-name": n, "owner": "admin", "type": "iaas",
                   "controller-name": "localjuju", "cloud": "localhost", "life": "alive"} for n in names]  # fmt: skip
        print(json.dumps({"models": models, "current-model": current}))
        return
    print("Controller: localjuju\n\nModel")
    for n in names:
        print(n + ("*" if n == current else ""))


def cmd_switch(argv: list[str]) -> None:
    parser = _parser("switch", model_option=False)
    parser.add_argument("name")
    operations.set_current(find_model(parser.parse_args(argv).name).name)


def cmd_show_model(argv: list[str]) -> None:
    parser = _parser("show-model")
    parser.add_argument("name", nargs="?")
    parser.add_argument("--format", default="yaml")
    args = parser.parse_args(argv)
    _print_data(render.show_model(read(find_model(args.name or args.model))), args.format)


def cmd_model_config(argv: list[str]) -> None:
    parser = _parser("model-config")
    parser.add_argument("--format", default="tabular")
    parser.add_argument("--reset", action="append", default=[])
    parser.add_argument("items", nargs="*")
    args = parser.parse_args(argv)
    mdl = find_model(args.model)
    sets = dict(item.split("=", 1) for item in args.items if "=" in item)
    if sets or args.reset:
        operations.set_model_config(mdl, sets, _items(args.reset))
        return
    values = operations.model_config(read(mdl))
    if args.items:
        print(values.get(args.items[0], ""))
    elif args.format == "json":
        print(json.dumps({k: {"Value": v, "Source": "model"} for k, v in values.items()}))
    else:
        for key, value in sorted(values.items()):
            print(f"{key}: {value}")


# --- applications and units --------------------------------------------------------------------


def cmd_deploy(argv: list[str]) -> None:
    parser = _parser("deploy")
    parser.add_argument("charm")
    parser.add_argument("app", nargs="?")
    parser.add_argument("-n", "--num-units", type=int, default=1)
    parser.add_argument("--config", action="append", default=[])
    _options(parser, "--base", "--series", "--channel", "--constraints", "--to", "--bind", "--resource", "--storage",
             "--revision", "--attach-storage", "--overlay")  # fmt: skip
    _flags(parser, "--force", "--trust")
    args = parser.parse_args(argv)
    mdl = find_model(args.model)
    source = Path(args.charm).resolve()
    deployed = operations.deploy(mdl, source, args.app, args.num_units, args.config, placed=bool(args.to))
    print(f'Deployed "{deployed.app}" from local charm "{deployed.charm_name}", revision 0', file=sys.stderr)


def cmd_add_unit(argv: list[str]) -> None:
    parser = _parser("add-unit")
    parser.add_argument("app")
    parser.add_argument("-n", "--num-units", type=int, default=1)
    _options(parser, "--to", "--attach-storage")
    args = parser.parse_args(argv)
    operations.add_unit(find_model(args.model), args.app, args.num_units)


def cmd_remove_unit(argv: list[str]) -> None:
    parser = _parser("remove-unit")
    parser.add_argument("units", nargs="+")
    _flags(parser, "--no-prompt", "--force", "--destroy-storage", "--no-wait")
    parser.add_argument("--num-units", type=int)
    args = parser.parse_args(argv)
    operations.remove_units(find_model(args.model), args.units, args.force)


def cmd_remove_application(argv: list[str]) -> None:
    parser = _parser("remove-application")
    parser.add_argument("apps", nargs="+")
    _flags(parser, "--no-prompt", "--force", "--destroy-storage", "--no-wait")
    args = parser.parse_args(argv)
    operations.remove_application(find_model(args.model), args.apps, args.force)


def cmd_config(argv: list[str]) -> None:
    parser = _parser("config")
    parser.add_argument("app")
    parser.add_argument("items", nargs="*")
    parser.add_argument("--format", default="yaml")
    parser.add_argument("--reset", action="append", default=[])
    parser.add_argument("--file")
    args = parser.parse_args(argv)
    mdl = find_model(args.model)
    sets = [i for i in args.items if "=" in i]
    if sets or args.reset or args.file:
        operations.set_config(mdl, args.app, sets + ([args.file] if args.file else []), _items(args.reset))
        return
    state = read(mdl)
    if args.app not in state["apps"]:
        raise CommandError(f'application "{args.app}" not found')
    data = render.config(state, args.app)
    if not args.items:
        _print_data(data, args.format)
        return
    entry = data["settings"].get(args.items[0])
    if entry is None:
        raise CommandError(f'key "{args.items[0]}" not found in "{args.app}" application config or charm settings.')
    value = entry.get("value", "")
    print(json.dumps(value) if args.format == "json" else value)


def cmd_refresh(argv: list[str]) -> None:
    parser = _parser("refresh")
    parser.add_argument("app")
    parser.add_argument("--path", required=True)
    parser.add_argument("--config", action="append", default=[])
    _options(parser, "--base", "--channel", "--revision", "--resource", "--storage")
    _flags(parser, "--force", "--force-base", "--force-units", "--trust")
    args = parser.parse_args(argv)
    name, revision = operations.refresh(find_model(args.model), args.app, Path(args.path), args.config)
    print(f'Added local charm "{name}", revision {revision}, to the model', file=sys.stderr)


def cmd_expose(argv: list[str], exposed: bool = True) -> None:
    parser = _parser("expose" if exposed else "unexpose")
    parser.add_argument("app")
    parser.add_argument("--endpoints")
    args = parser.parse_args(argv)
    operations.expose(find_model(args.model), args.app, exposed)


def cmd_local_move_leader(argv: list[str]) -> None:
    """Local-only (no such Juju command): move leadership, as when a leader's lease lapses."""
    parser = _parser("local-move-leader")
    parser.add_argument("unit")
    args = parser.parse_args(argv)
    operations.move_leader(find_model(args.model), args.unit)


# --- relations ---------------------------------------------------------------------------------


def cmd_integrate(argv: list[str], name: str = "integrate") -> None:
    parser = _parser(name)
    parser.add_argument("app1")
    parser.add_argument("app2")
    parser.add_argument("--via")
    args = parser.parse_args(argv)
    operations.integrate(find_model(args.model), args.app1, args.app2)


def cmd_remove_relation(argv: list[str]) -> None:
    parser = _parser("remove-relation")
    parser.add_argument("app1")
    parser.add_argument("app2", nargs="?")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    operations.remove_relation(find_model(args.model), args.app1, args.app2)


# --- status ------------------------------------------------------------------------------------


def cmd_status(argv: list[str]) -> None:
    parser = _parser("status")
    parser.add_argument("filters", nargs="*")
    parser.add_argument("--format", default="tabular")
    _flags(parser, "--relations", "--storage", "--integrations", "--color", "--no-color", "--watch")
    args = parser.parse_args(argv)
    state = read(find_model(args.model))
    if args.format in ("json", "yaml"):
        _print_data(render.status(state), args.format)
    else:
        print(render.status_table(state), end="")


def cmd_show_unit(argv: list[str]) -> None:
    parser = _parser("show-unit")
    parser.add_argument("units", nargs="+")
    parser.add_argument("--format", default="yaml")
    for flag in ("--app", "--endpoint", "--related-unit"):
        parser.add_argument(flag)
    args = parser.parse_args(argv)
    state = read(find_model(args.model))
    units = [operations.resolve_unit(state, n) for n in args.units]
    _print_data({u: render.show_unit(state, u) for u in units}, args.format)


def cmd_debug_log(argv: list[str]) -> None:
    parser = _parser("debug-log")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--include", action="append", default=[])
    _flags(parser, "--replay", "--no-tail", "--tail", "--color")
    args = parser.parse_args(argv)
    mdl = find_model(args.model)
    for line in render.debug_log(mdl, args.include, args.limit):
        print(line, flush=True)
    if args.tail:
        for line in render.follow_log(mdl, args.include):
            print(line, flush=True)


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


# --- tasks: exec, run, show-task, resolve ------------------------------------------------------


def _wait_seconds(text: str | None) -> float:
    if not text:
        return EXEC_TIMEOUT
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for suffix in ("ms", "s", "m", "h"):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * units[suffix]
    return float(text)


def _task_failed(task: str, code: int) -> None:
    print(f'ERROR the following task failed:\n id "{task}" with return code {code}\n\n'
          "use 'juju show-task' to inspect the failure", file=sys.stderr)  # fmt: skip


def _scheduled(task_id: str) -> None:
    print(f"Scheduled operation {task_id} with task {task_id}\n"
          f"Check operation status with 'juju show-operation {task_id}'\n"
          f"Check task status with 'juju show-task {task_id}'", file=sys.stderr)  # fmt: skip


def cmd_exec(argv: list[str]) -> int:
    command: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1 :]
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
    mdl = find_model(args.model)
    timeout = _wait_seconds(args.wait)
    queued = operations.queue_exec(mdl, args.unit, args.machine, args.application, args.all, " ".join(command),
                                   timeout)  # fmt: skip
    if args.background:
        for _, task_id in queued:
            _scheduled(task_id)
        return 0
    results: dict[str, Any] = {}
    worst = 0
    deadline = time.monotonic() + timeout + 30
    for unit, task_id in queued:
        task = tasks.wait(mdl, task_id, max(deadline - time.monotonic(), 0))
        if task is None or task["results"].get("timed-out"):
            print(f"ERROR timed out waiting for results from: unit {unit}", file=sys.stderr)
            return 1
        if task["status"] == "aborted":
            print(f"ERROR task {task_id} on {unit} aborted: {task['message']}", file=sys.stderr)
            return 1
        code = task["results"]["return-code"]
        results[unit] = {"id": task_id, "unit": unit, "status": "completed",
                         "results": {"return-code": code, "stdout": task["results"].get("stdout", ""),
                                     "stderr": task["results"].get("stderr", "")}}  # fmt: skip
        worst = worst or code
        if code != 0:
            _task_failed(task_id, code)
    if args.format in ("json", "yaml"):
        _print_data(results, args.format)
    else:
        for result in results.values():
            sys.stdout.write(result["results"]["stdout"])
            sys.stderr.write(result["results"]["stderr"])
    return 1 if worst else 0


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
    mdl = find_model(args.model)
    timeout = _wait_seconds(args.wait)
    unit, task_id = operations.queue_action(mdl, args.unit, args.action, args.params, args.params_file, None)
    if args.background:
        _scheduled(task_id)
        return 0
    task = tasks.wait(mdl, task_id, timeout)
    if task is None:
        print(f"ERROR timed out waiting for results from: unit {unit}", file=sys.stderr)
        return 1
    if task["status"] == "aborted":
        print(f"ERROR task {task_id} on {unit} aborted: {task['message']}", file=sys.stderr)
        return 1
    out = render.run_result(task)
    if task["status"] == "failed":
        _task_failed(task_id, task["results"]["return-code"])
    _print_data({unit: out}, args.format)
    return 1 if task["status"] == "failed" else 0


def cmd_show_task(argv: list[str]) -> int:
    parser = _parser("show-task")
    parser.add_argument("id")
    parser.add_argument("--format", default="yaml")
    parser.add_argument("--wait")
    _flags(parser, "--watch")
    args = parser.parse_args(argv)
    mdl = find_model(args.model)
    task = tasks.load(mdl, args.id)
    if task is None:
        raise CommandError(f'task "{args.id}" not found')
    if args.wait or args.watch:
        task = tasks.wait(mdl, args.id, _wait_seconds(args.wait)) or task
    _print_data(render.show_task(mdl, task), args.format)
    return 0


def cmd_resolve(argv: list[str]) -> None:
    parser = _parser("resolve")
    parser.add_argument("units", nargs="*")
    parser.add_argument("--no-retry", action="store_true")
    parser.add_argument("--all", action="store_true")
    args = parser.parse_args(argv)
    operations.resolve(find_model(args.model), args.units, args.all, args.no_retry)


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
    "show-task": cmd_show_task,
    "resolve": cmd_resolve,
    "resolved": cmd_resolve,
    "refresh": cmd_refresh,
    "debug-log": cmd_debug_log,
    "version": cmd_version,
    "expose": cmd_expose,
    "unexpose": lambda argv: cmd_expose(argv, exposed=False),
    "local-move-leader": cmd_local_move_leader,
}
READ_ONLY = ("version", "models", "status", "show-unit", "show-task", "debug-log", "show-model")


def main(argv: list[str]) -> int:
    """Run one juju command."""
    if not argv or argv[0] in ("-h", "--help", "help"):
        print("usage: juju COMMAND [options]\ncommands: " + ", ".join(sorted(COMMANDS)))
        return 0
    command = COMMANDS.get(argv[0])
    if command is None:
        print(f'ERROR juju: "{argv[0]}" is not a juju command supported by the local model', file=sys.stderr)
        return 1
    if os.geteuid() != 0 and argv[0] not in READ_ONLY:
        print("ERROR the local model needs root (namespaces and overlay mounts)", file=sys.stderr)
        return 1
    try:
        return command(argv[1:]) or 0
    except (CommandError, charm.CharmError, machine.MachineError) as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 1
