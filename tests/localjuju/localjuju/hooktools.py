"""The hook tools (config-get, relation-set, leader-set, ...) as one program named after each.

Every tool in a model's tools/ directory is a symlink to tests/localjuju/hooktool, which calls
main() here; the tool is chosen by argv[0], as Juju's jujuc does. A tool finds its hook through
JUJU_CONTEXT_ID and the model through LOCALJUJU_MODEL_DIR, and reads and writes the model state
under its lock. Relation settings and ports go to the hook's context and are committed by the
scheduler only when the hook exits 0; leader-set and status-set take effect at once.
Exit codes follow juju/cmd: 2 for bad arguments, 1 for errors while running.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .state import ModelDir, State, flock, read, timestamp, transaction

Context = dict[str, Any]
WORKLOAD_STATES = ("maintenance", "blocked", "waiting", "active")


class ToolError(Exception):
    """A tool failed; code is its exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


FORMAT = {"--format", "-o", "--output"}
TRUE_WORDS = {"1", "t", "T", "TRUE", "true", "True"}
FALSE_WORDS = {"0", "f", "F", "FALSE", "false", "False"}


class Args:
    """Arguments parsed as juju/gnuflag parses a hook tool's: `--` ends the options, an option
    takes its value as `--x=v` or `--x v` (`-x v`, `-x=v`, `-xv` when short), a boolean may be
    given as `--b=true|false`, and options and positionals may be interleaved."""

    def __init__(self, argv: list[str], flags: set[str], options: set[str]) -> None:
        self.flags: dict[str, bool] = {}
        self.options: dict[str, str] = {}
        self.positional: list[str] = []
        items = iter(argv)
        for item in items:
            if item == "--":
                self.positional.extend(items)
            elif item.startswith("--") or (item.startswith("-") and len(item) > 1 and not _is_number(item)):
                self._option(item, items, flags, options)
            else:
                self.positional.append(item)
        fmt = self.get("--format")
        if fmt is not None and fmt not in ("smart", "json", "yaml"):
            raise ToolError(f'invalid value "{fmt}" for flag --format: unknown format "{fmt}"', 2)

    def _option(self, item: str, rest: Iterator[str], flags: set[str], options: set[str]) -> None:
        if item.startswith("--"):
            name, eq, value = item.partition("=")
            given = value if eq else None
        else:
            name, tail = item[:2], item[2:]
            given = tail[1:] if tail.startswith("=") else (tail or None)
        if name in flags:
            self.flags[name] = _boolean(name, given)
        elif name in options:
            if given is None:
                given = next(rest, None)
                if given is None:
                    raise ToolError(f"flag needs an argument: {name}", 2)
            self.options[name] = given
        else:
            raise ToolError(f"flag provided but not defined: {name}", 2)

    def get(self, *names: str) -> str | None:
        return next((self.options[n] for n in names if n in self.options), None)

    def has(self, *names: str) -> bool:
        return any(self.flags.get(n, False) for n in names)

    def no_positionals(self, keep: int = 0) -> None:
        """Refuse positionals beyond the first keep, as juju/cmd's CheckEmpty does."""
        if len(self.positional) > keep:
            raise ToolError(f"unrecognized args: {json.dumps(self.positional[keep:])[1:-1]}", 2)


def _boolean(name: str, given: str | None) -> bool:
    if given is None or given in TRUE_WORDS:
        return True
    if given in FALSE_WORDS:
        return False
    raise ToolError(f'invalid boolean value "{given}" for flag {name}', 2)


def _is_number(text: str) -> bool:
    return text[1:].replace(".", "", 1).isdigit()


def user_path(path: str) -> str:
    """Where the calling process's file `path` is, seen from this process: itself, or through
    /proc/PID/root and /proc/PID/cwd when the call was forwarded from a unit's machine."""
    caller = os.environ.get("LOCALJUJU_CALLER_PID")
    if not caller:
        return path
    base = f"/proc/{caller}/root" if path.startswith("/") else f"/proc/{caller}/cwd/"
    return base + path


def read_input(source: str) -> str:
    """Read a --file argument: a path in the caller's file system, or `-` for standard input."""
    if source == "-":
        return sys.stdin.read()
    try:
        with open(user_path(source), encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise ToolError(f"open {source}: {(exc.strerror or str(exc)).lower()}") from None


def emit(value: Any, args: Args) -> None:
    """Print value as juju/cmd does: compact JSON for --format=json, YAML for yaml, else a
    'smart' rendering; -o/--output writes it to a file instead."""
    fmt = args.get("--format")
    if fmt == "json":
        text = json.dumps(value, separators=(",", ":")) + "\n"
    elif fmt == "yaml" or isinstance(value, dict):
        import yaml

        text = yaml.safe_dump(value, default_flow_style=False) if value is not None else ""
    elif isinstance(value, bool):
        text = ("True" if value else "False") + "\n"
    elif isinstance(value, str | int | float):
        text = f"{value}\n"
    elif isinstance(value, list):
        text = "".join(f"{item}\n" for item in value)
    else:
        text = ""
    target = args.get("-o", "--output")
    if target:
        with open(user_path(target), "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


class Hook:
    """The running hook a tool belongs to: its unit, context file and the model."""

    def __init__(self) -> None:
        ctx_id = os.environ.get("JUJU_CONTEXT_ID")
        root = os.environ.get("LOCALJUJU_MODEL_DIR")
        if not ctx_id or not root:
            raise ToolError("JUJU_CONTEXT_ID not set: not running in a hook context")
        self.model = ModelDir(Path(root))
        self.ctx_file = self.model.contexts / f"{ctx_id}.json"
        self.unit = os.environ["JUJU_UNIT_NAME"]
        self.app = self.unit.rsplit("/", 1)[0]

    def state(self) -> State:
        return read(self.model)

    def context(self) -> Context:
        with open(self.ctx_file, encoding="utf-8") as f:
            return json.load(f)

    def save_context(self, ctx: Context) -> None:
        """Replace the context file, readable by root only (it may hold secret content)."""
        tmp = self.ctx_file.with_suffix(f".tmp{os.getpid()}")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as f:
            f.write(json.dumps(ctx))
        os.replace(tmp, self.ctx_file)

    def is_leader(self, state: State, ctx: Context) -> bool:
        return not ctx.get("leader_lost") and state["apps"][self.app]["leader"] == self.unit

    def relation_id(self, state: State, given: str | None) -> str:
        """Resolve -r (ep:id or id), defaulting to the hook's relation; exit 2 if unknown."""
        value = given if given is not None else os.environ.get("JUJU_RELATION_ID", "")
        if not value:
            raise ToolError("no relation id specified", 2)
        rid = value.rsplit(":", 1)[-1]
        if not rid.isdigit() or rid not in state["relations"]:
            raise ToolError(f'invalid value "{value}" for option -r: relation not found', 2)
        return rid


def _relation_name(state: State, rid: str, app: str) -> str:
    rel = state["relations"][rid]
    end = next((e for e in rel["ends"] if e["app"] == app), rel["ends"][0])
    return f"{end['endpoint']}:{rid}"


# --- tools -------------------------------------------------------------------------------------


def config_get(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, {"--all", "-a"}, FORMAT)
    app = hook.state()["apps"][hook.app]
    values = {k: app["config"].get(k, opt.get("default")) for k, opt in app["options"].items()}
    if args.positional:
        emit(values.get(args.positional[0]), args)
        return
    if not args.has("--all", "-a"):
        values = {k: v for k, v in values.items() if v is not None}
    emit(values, args)


def relation_ids(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, set(), FORMAT)
    endpoint = args.positional[0] if args.positional else os.environ.get("JUJU_RELATION", "")
    state = hook.state()
    unit = state["units"][hook.unit]
    ids = []
    for rid in unit["rel"]:
        rel = state["relations"].get(rid)
        if rel and any(e["app"] == hook.app and e["endpoint"] == endpoint for e in rel["ends"]):
            ids.append(f"{endpoint}:{rid}")
    emit(sorted(ids), args)


def relation_list(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, {"--app"}, FORMAT | {"-r", "--relation"})
    state = hook.state()
    rid = hook.relation_id(state, args.get("-r", "--relation"))
    if args.has("--app"):
        rel = state["relations"][rid]
        others = [e["app"] for e in rel["ends"] if e["app"] != hook.app]
        emit(others[0] if others else hook.app, args)
        return
    args.no_positionals()
    # Juju's relation cache lists members sorted as strings (MemberNames).
    emit(sorted(state["units"][hook.unit]["rel"].get(rid, [])), args)


def relation_get(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, {"--app"}, FORMAT | {"-r", "--relation"})
    state = hook.state()
    rid = hook.relation_id(state, args.get("-r", "--relation"))
    key = args.positional[0] if args.positional else "-"
    target = args.positional[1] if len(args.positional) > 1 else os.environ.get("JUJU_REMOTE_UNIT", "")
    rel = state["relations"][rid]
    if args.has("--app"):
        app = (target or os.environ.get("JUJU_REMOTE_APP", "")).rsplit("/", 1)[0]
        peer = len(rel["ends"]) == 1
        if app == hook.app and not peer and not hook.is_leader(state, hook.context()):
            raise ToolError("permission denied: only the leader can read its own application data")
        data = dict(rel["apps"].get(app, {}))
        if app == hook.app:
            data.update(hook.context().get("relation_sets", {}).get(rid, {}).get("app", {}))
    else:
        if not target:
            raise ToolError("no unit id specified", 2)
        data = dict(rel["units"].get(target, {}))
        if target == hook.unit:
            data.update(hook.context().get("relation_sets", {}).get(rid, {}).get("unit", {}))
    data = {k: v for k, v in data.items() if v is not None}
    emit(data if key == "-" else data.get(key), args)


RELATION_SET_HELP = """Usage: relation-set [options] key=value [key=value ...]

Set relation settings.

Options:
--app  (= false)
    pick whether you are setting "application" settings or "unit" settings
--file  (= )
    file containing key-value pairs
--format (= "")
    deprecated format flag
-r, --relation  (= %s)
    specify a relation by id
"""


def relation_set(hook: Hook, argv: list[str]) -> None:
    if "--help" in argv or "-h" in argv:
        print(RELATION_SET_HELP % os.environ.get("JUJU_RELATION_ID", ""))
        return
    args = Args(argv, {"--app"}, {"--format", "-r", "--relation", "--file"})
    settings = _settings(args)
    with transaction(hook.model) as state:
        rid = hook.relation_id(state, args.get("-r", "--relation"))
        ctx = hook.context()
        bag = "app" if args.has("--app") else "unit"
        if bag == "app" and not hook.is_leader(state, ctx):
            raise ToolError("cannot write relation settings: permission denied (unit is not the leader)")
        ctx.setdefault("relation_sets", {}).setdefault(rid, {}).setdefault(bag, {}).update(settings)
        hook.save_context(ctx)


def _settings(args: Args, empty_deletes: bool = True) -> dict[str, str | None]:
    """Read --file (a YAML map, its scalars kept as the strings written, as Go's yaml does when
    decoding into strings) then key=value arguments; empty values delete keys."""
    settings: dict[str, str] = {}
    source = args.get("--file")
    if source:
        import yaml

        loaded = yaml.load(read_input(source), Loader=yaml.BaseLoader) or {}
        if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
            raise ToolError("expected YAML map of settings", 2)
        settings.update(loaded)
    for item in args.positional:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ToolError(f'expected "key=value", got "{item}"', 2)
        settings[key] = value
    return {k: (None if v == "" and empty_deletes else v) for k, v in settings.items()}


def leader_get(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, set(), FORMAT)
    settings = hook.state()["apps"][hook.app]["leader_settings"]
    key = args.positional[0] if args.positional else "-"
    emit(dict(settings) if key == "-" else settings.get(key), args)


def leader_set(hook: Hook, argv: list[str]) -> None:
    from .model import leader_settings_changed

    args = Args(argv, set(), {"--file"})
    settings = _settings(args)
    with transaction(hook.model) as state:
        if not hook.is_leader(state, hook.context()):
            raise ToolError("cannot write leadership settings: cannot write settings: not the leader")
        current = state["apps"][hook.app]["leader_settings"]
        before = dict(current)
        for key, value in settings.items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value
        if current != before:
            leader_settings_changed(state, hook.app)


def is_leader(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, set(), FORMAT)
    ctx = hook.context()
    leader = hook.is_leader(hook.state(), ctx)
    if not leader and not ctx.get("leader_lost"):
        # Once false, false for the rest of the hook (Juju's isMinion), even if elected meanwhile.
        with flock(hook.model.root / "state.lock"):
            ctx = hook.context()
            ctx["leader_lost"] = True
            hook.save_context(ctx)
    emit(leader, args)


def unit_get(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, set(), FORMAT)
    if not args.positional or args.positional[0] not in ("private-address", "public-address"):
        raise ToolError("unit-get: expected private-address or public-address", 2)
    emit(hook.state()["units"][hook.unit]["address"], args)


def network_get(hook: Hook, argv: list[str]) -> None:
    flags = {"--primary-address", "--bind-address", "--ingress-address", "--egress-subnets"}
    args = Args(argv, flags, FORMAT | {"-r", "--relation"})
    state = hook.state()
    if not args.positional:
        raise ToolError("no endpoint specified", 2)
    binding = args.positional[0]
    if binding not in state["apps"][hook.app]["endpoints"] and binding not in ("juju-info", ""):
        raise ToolError(f'no network config found for binding "{binding}"')
    address = state["units"][hook.unit]["address"]
    if args.has("--primary-address", "--bind-address", "--ingress-address"):
        emit(address, args)
        return
    if args.has("--egress-subnets"):
        emit(f"{address}/32", args)
        return
    info = {
        "bind-addresses": [
            {
                "mac-address": "",
                "interface-name": "lo",
                "addresses": [{"hostname": "", "value": address, "cidr": f"{address}/32", "address": address}],
                "macaddress": "",
                "interfacename": "lo",
            }
        ],
        "egress-subnets": [f"{address}/32"],
        "ingress-addresses": [address],
    }
    emit(info, args)


def _port(spec: str) -> str:
    """Normalise a port spec (80, 80/TCP, 8000-8080/udp, icmp) as opened-ports prints it."""
    spec = spec.lower()
    if spec == "icmp":
        return "icmp"
    number, _, proto = spec.partition("/")
    proto = proto or "tcp"
    bounds = number.split("-")
    if proto not in ("tcp", "udp") or not all(b.isdigit() and 0 < int(b) < 65536 for b in bounds) or len(bounds) > 2:
        raise ToolError(f'invalid port "{spec}"', 2)
    return f"{number}/{proto}"


def _port_change(kind: str) -> Callable[[Hook, list[str]], None]:
    def tool(hook: Hook, argv: list[str]) -> None:
        args = Args(argv, set(), {"--endpoints", "--format"})
        if len(args.positional) != 1:
            raise ToolError(f"{kind}-port: expected one port or range", 2)
        port = _port(args.positional[0])
        with flock(hook.model.root / "state.lock"):
            ctx = hook.context()
            ports = ctx.setdefault("ports", {"open": [], "close": []})
            other = "close" if kind == "open" else "open"
            if port in ports[other]:
                ports[other].remove(port)
            if port not in ports[kind]:
                ports[kind].append(port)
            hook.save_context(ctx)

    return tool


def opened_ports(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, {"--endpoints"}, FORMAT)
    ports = list(hook.state()["units"][hook.unit]["ports"])
    pending = hook.context().get("ports", {})
    ports = [p for p in ports if p not in pending.get("close", [])] + [
        p for p in pending.get("open", []) if p not in ports
    ]
    emit(ports, args)


def status_set(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, {"--application"}, {"--message"})
    if not args.positional or args.positional[0] not in WORKLOAD_STATES:
        raise ToolError(f"invalid status, expected one of {', '.join(WORKLOAD_STATES)}", 2)
    record = {"current": args.positional[0], "message": " ".join(args.positional[1:]), "since": timestamp()}
    with transaction(hook.model) as state:
        if args.has("--application"):
            if not hook.is_leader(state, hook.context()):
                raise ToolError("setting application status: this unit is not the leader")
            state["apps"][hook.app]["status"] = record
        else:
            unit = state["units"][hook.unit]
            unit["workload"] = record
            unit["status_set"] = True


def _status_details(record: dict[str, str], include_data: bool) -> dict[str, Any]:
    """One status as status-get prints it (jujuc status-get.go toDetails)."""
    details: dict[str, Any] = {"status": record["current"]}
    if include_data:
        details |= {"message": record["message"], "status-data": {}}
    return details


def status_get(hook: Hook, argv: list[str]) -> None:
    """The unit's (or with --application, the application's and its units') workload status:
    the bare status in the smart format, else an object (jujuc status-get.go)."""
    args = Args(argv, {"--include-data", "--application"}, FORMAT)
    args.no_positionals()
    include, smart = args.has("--include-data"), args.get("--format") in (None, "smart")
    state = hook.state()
    unit = state["units"][hook.unit]
    if not args.has("--application"):
        record = unit["workload"]
        emit(record["current"] if smart and not include else _status_details(record, include), args)
        return
    if not hook.is_leader(state, hook.context()):
        raise ToolError("finding application status: this unit is not the leader")
    app = state["apps"][hook.app]["status"] or unit["workload"]
    if smart and not include:
        emit(app["current"], args)
        return
    units = {u: _status_details(r["workload"], include) for u, r in state["units"].items() if r["app"] == hook.app}
    emit({"application-status": _status_details(app, include) | {"units": units}}, args)


def application_version_set(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, set(), set())
    if len(args.positional) != 1:
        raise ToolError("application-version-set: expected one version", 2)
    with transaction(hook.model) as state:
        state["units"][hook.unit]["version"] = args.positional[0]
        state["apps"][hook.app]["version"] = args.positional[0]


def juju_log(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, {"--debug"}, {"-l", "--log-level", "--format"})
    level = (args.get("-l", "--log-level") or ("DEBUG" if args.has("--debug") else "INFO")).upper()
    message = " ".join(args.positional)
    rel = os.environ.get("JUJU_RELATION_ID")
    if rel:
        message = f"{rel}: {message}"
    write_log(hook.model, hook.unit, level, "juju-log", message)


def write_log(model: ModelDir, unit: str, level: str, source: str, message: str) -> None:
    """Append a line in debug-log's format to the unit's log."""
    model.logs.mkdir(exist_ok=True)
    stamp = time.strftime("%H:%M:%S", time.gmtime())
    name = unit.replace("/", "-")
    lines = "".join(
        f"unit-{name}: {stamp} {level} unit.{unit}.{source} {line}\n" for line in message.splitlines() or [""]
    )
    with open(model.unit_log(unit), "a", encoding="utf-8") as f:
        f.write(lines)


def _action(hook: Hook) -> Context:
    ctx = hook.context()
    if "action" not in ctx:
        raise ToolError("not running an action")
    return ctx


def action_get(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, set(), FORMAT)
    value: Any = _action(hook)["action"]["params"]
    if args.positional:
        for part in args.positional[0].split("."):
            value = value.get(part) if isinstance(value, dict) else None
    emit(value, args)


ACTION_KEY = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
RESERVED_ACTION_KEYS = ("stdout", "stdout-encoding", "stderr", "stderr-encoding")


def action_set(hook: Hook, argv: list[str]) -> None:
    """Add results; each dot-separated part of a key follows jujuc action-set.go's keyRule."""
    args = Args(argv, set(), set())
    updates = []
    for item in args.positional:
        key, eq, value = item.partition("=")
        if not eq:
            raise ToolError(f'argument "{item}" must be of the form key...=value', 2)
        parts = key.split(".")
        for part in parts:
            if not ACTION_KEY.match(part):
                raise ToolError(
                    f'key "{part}" must start and end with lowercase alphanumeric, '
                    "and contain only lowercase alphanumeric, hyphens and periods",
                    2,
                )
        if parts[0] in RESERVED_ACTION_KEYS:
            raise ToolError(f'cannot set reserved action key "{parts[0]}"', 2)
        updates.append((parts, value))
    with flock(hook.model.root / "state.lock"):
        ctx = _action(hook)
        for (*parents, leaf), value in updates:
            node = ctx["action"]["results"]
            for part in parents:
                if not isinstance(node.get(part), dict):
                    node[part] = {}
                node = node[part]
            node[leaf] = value
        hook.save_context(ctx)


def action_fail(hook: Hook, argv: list[str]) -> None:
    with flock(hook.model.root / "state.lock"):
        ctx = _action(hook)
        ctx["action"]["failed"] = " ".join(argv) or "action failed without reason given, check action for errors"
        hook.save_context(ctx)


def action_log(hook: Hook, argv: list[str]) -> None:
    with flock(hook.model.root / "state.lock"):
        ctx = _action(hook)
        ctx["action"]["log"].append(" ".join(argv))
        hook.save_context(ctx)


def _goal_units(state: State, app: str, caller: str) -> dict[str, dict[str, str]]:
    """An application's units as goal-state shows them: their workload status, or `dying`;
    subordinate units of other principals are left out (apiserver uniter goalStateUnits)."""
    units = {}
    for name, rec in state["units"].items():
        if rec["app"] != app or (rec.get("principal") and rec["principal"] != caller):
            continue
        status = "dying" if rec["life"] != "alive" else rec["workload"]["current"]
        units[name] = {"status": status, "since": rec["workload"]["since"]}
    return units


def goal_state(hook: Hook, argv: list[str]) -> None:
    """The unit's application's units and, per endpoint of each non-peer relation, the remote
    application (the relation's status) and all of its units, joined or not yet."""
    args = Args(argv, set(), FORMAT)
    args.no_positionals()
    state = hook.state()
    relations: dict[str, dict[str, dict[str, str]]] = {}
    for rel in state["relations"].values():
        end = next((e for e in rel["ends"] if e["app"] == hook.app), None)
        if end is None or len(rel["ends"]) == 1 or rel["life"] != "alive":
            continue
        entry = relations.setdefault(end["endpoint"], {})
        for other in rel["ends"]:
            if other["app"] == hook.app:
                continue
            status = "joined" if rel["scope"] else "joining"
            entry[other["app"]] = {"status": status, "since": state["created"]}
            entry.update(_goal_units(state, other["app"], hook.unit))
    emit({"units": _goal_units(state, hook.app, hook.unit), "relations": relations}, args)


def storage_list(hook: Hook, argv: list[str]) -> None:
    emit([], Args(argv, set(), FORMAT))


def unsupported(name: str) -> Callable[[Hook, list[str]], None]:
    def tool(hook: Hook, argv: list[str]) -> None:
        raise ToolError(f"{name} is not supported by the local model")

    return tool


def _charm_state(hook: Hook) -> tuple[dict[str, str], Context]:
    """The unit's charm state as this hook sees it: committed values with its own changes."""
    ctx = hook.context()
    store = dict(hook.state()["units"][hook.unit].get("charm_state", {}))
    for key, value in ctx.get("charm_state", {}).items():
        if value is None:
            store.pop(key, None)
        else:
            store[key] = value
    return store, ctx


def state_get(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, {"--strict"}, FORMAT)
    args.no_positionals(1)
    key = args.positional[0] if args.positional and args.positional[0] != "-" else ""
    store, _ = _charm_state(hook)
    if key and key not in store and args.has("--strict"):
        raise ToolError(f'"{key}" not found')
    emit(store.get(key) if key else store, args)


def state_set(hook: Hook, argv: list[str]) -> None:
    """Set charm state values; like relation-set, they are committed when the hook succeeds."""
    args = Args(argv, set(), {"--file"})
    _change_charm_state(hook, _settings(args, empty_deletes=False))


def state_delete(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, set(), set())
    if len(args.positional) != 1:
        raise ToolError("state-delete: expected one key", 2)
    _change_charm_state(hook, {args.positional[0]: None})


def _change_charm_state(hook: Hook, values: dict[str, str | None]) -> None:
    with flock(hook.model.root / "state.lock"):
        ctx = hook.context()
        ctx.setdefault("charm_state", {}).update(values)
        hook.save_context(ctx)


def commit_pending(state: State, unit: str, ctx: Context) -> None:
    """Commit what a successful hook (or any `juju exec`) left pending besides relation settings
    and ports: its charm state and secret changes."""
    store = state["units"][unit].setdefault("charm_state", {})
    for key, value in ctx.get("charm_state", {}).items():
        if value is None:
            store.pop(key, None)
        else:
            store[key] = value
    if ctx.get("secret_ops"):
        from . import secrets

        secrets.commit(state, ctx["secret_root"], ctx["secret_ops"])


TOOLS: dict[str, Callable[[Hook, list[str]], None]] = {
    "config-get": config_get,
    "relation-ids": relation_ids,
    "relation-list": relation_list,
    "relation-get": relation_get,
    "relation-set": relation_set,
    "leader-get": leader_get,
    "leader-set": leader_set,
    "is-leader": is_leader,
    "unit-get": unit_get,
    "network-get": network_get,
    "open-port": _port_change("open"),
    "close-port": _port_change("close"),
    "opened-ports": opened_ports,
    "status-set": status_set,
    "status-get": status_get,
    "application-version-set": application_version_set,
    "juju-log": juju_log,
    "action-get": action_get,
    "action-set": action_set,
    "action-fail": action_fail,
    "action-log": action_log,
    "goal-state": goal_state,
    "storage-list": storage_list,
    "storage-get": unsupported("storage-get"),
    "resource-get": unsupported("resource-get"),
    "credential-get": unsupported("credential-get"),
    "state-get": state_get,
    "state-set": state_set,
    "state-delete": state_delete,
    "juju-reboot": unsupported("juju-reboot"),
}


def main(argv: list[str]) -> int:
    """Run the tool named by argv[0]."""
    name = os.path.basename(argv[0])
    tool = TOOLS.get(name)
    if tool is None:
        print(f"ERROR unknown hook tool {name}", file=sys.stderr)
        return 2
    try:
        tool(Hook(), argv[1:])
    except ToolError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return exc.code
    return 0


def _add_secret_tools() -> None:
    from .secrettools import TOOLS as SECRET_TOOLS

    TOOLS.update(SECRET_TOOLS)


_add_secret_tools()
