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
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .state import ModelDir, State, flock, read, timestamp, transaction, write

Context = dict[str, Any]
WORKLOAD_STATES = ("maintenance", "blocked", "waiting", "active")


class ToolError(Exception):
    """A tool failed; code is its exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class Args:
    """A tiny juju/cmd-style argument parser: flags, options (--x v, --x=v) and positionals."""

    def __init__(self, argv: list[str], flags: set[str], options: set[str]) -> None:
        self.flags: set[str] = set()
        self.options: dict[str, str] = {}
        self.positional: list[str] = []
        items = iter(argv)
        for item in items:
            name, eq, value = item.partition("=")
            if item.startswith("-") and item != "-" and name in options:
                self.options[name] = value if eq else next(items, "")
            elif item in flags:
                self.flags.add(item)
            elif item.startswith("-") and item != "-" and not _is_number(item):
                raise ToolError(f"flag provided but not defined: {name}", 2)
            else:
                self.positional.append(item)

    def get(self, *names: str) -> str | None:
        return next((self.options[n] for n in names if n in self.options), None)

    def has(self, *names: str) -> bool:
        return any(n in self.flags for n in names)


def _is_number(text: str) -> bool:
    return text[1:].replace(".", "", 1).isdigit()


def emit(value: Any, fmt: str | None) -> None:
    """Print value as juju does: compact JSON for --format=json, else a 'smart' rendering."""
    if fmt == "json":
        print(json.dumps(value, separators=(",", ":")))
    elif fmt == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump(value, default_flow_style=False) if value is not None else "")
    elif isinstance(value, bool):
        print("True" if value else "False")
    elif isinstance(value, str | int | float):
        print(value)
    elif isinstance(value, list):
        for item in value:
            print(item)
    elif value is not None:
        import yaml

        sys.stdout.write(yaml.safe_dump(value, default_flow_style=False))


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
        tmp = self.ctx_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(ctx), encoding="utf-8")
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
    args = Args(argv, {"--all", "-a"}, {"--format", "-o", "--output"})
    app = hook.state()["apps"][hook.app]
    values = {k: app["config"].get(k, opt.get("default")) for k, opt in app["options"].items()}
    if args.positional:
        emit(values.get(args.positional[0]), args.get("--format"))
        return
    if not args.has("--all", "-a"):
        values = {k: v for k, v in values.items() if v is not None}
    emit(values, args.get("--format"))


def relation_ids(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, set(), {"--format", "-o"})
    endpoint = args.positional[0] if args.positional else os.environ.get("JUJU_RELATION", "")
    state = hook.state()
    unit = state["units"][hook.unit]
    ids = []
    for rid in unit["rel"]:
        rel = state["relations"].get(rid)
        if rel and any(e["app"] == hook.app and e["endpoint"] == endpoint for e in rel["ends"]):
            ids.append(f"{endpoint}:{rid}")
    emit(sorted(ids), args.get("--format"))


def relation_list(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, {"--app"}, {"--format", "-o", "-r", "--relation"})
    state = hook.state()
    rid = hook.relation_id(state, args.get("-r", "--relation"))
    if args.has("--app"):
        rel = state["relations"][rid]
        others = [e["app"] for e in rel["ends"] if e["app"] != hook.app]
        emit(others[0] if others else hook.app, args.get("--format"))
        return
    emit(list(state["units"][hook.unit]["rel"].get(rid, [])), args.get("--format"))


def relation_get(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, {"--app"}, {"--format", "-o", "-r", "--relation"})
    state = hook.state()
    rid = hook.relation_id(state, args.get("-r", "--relation"))
    key = args.positional[0] if args.positional else "-"
    target = args.positional[1] if len(args.positional) > 1 else os.environ.get("JUJU_REMOTE_UNIT", "")
    rel = state["relations"][rid]
    if args.has("--app"):
        app = (target or os.environ.get("JUJU_REMOTE_APP", "")).rsplit("/", 1)[0]
        if app == hook.app and not hook.is_leader(state, hook.context()):
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
    emit(data if key == "-" else data.get(key), args.get("--format"))


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


def _settings(args: Args) -> dict[str, str | None]:
    """Read key=value arguments and --file (YAML map); empty or null values delete keys."""
    settings: dict[str, Any] = {}
    source = args.get("--file")
    if source:
        import yaml

        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        loaded = yaml.safe_load(text) or {}
        if not isinstance(loaded, dict):
            raise ToolError("expected YAML map of settings", 2)
        settings.update(loaded)
    for item in args.positional:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ToolError(f'expected "key=value", got "{item}"', 2)
        settings[key] = value
    return {str(k): (None if v in ("", None) else str(v)) for k, v in settings.items()}


def leader_get(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, set(), {"--format", "-o"})
    settings = hook.state()["apps"][hook.app]["leader_settings"]
    key = args.positional[0] if args.positional else "-"
    emit(dict(settings) if key == "-" else settings.get(key), args.get("--format"))


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
    args = Args(argv, set(), {"--format", "-o"})
    with transaction(hook.model) as state:
        ctx = hook.context()
        leader = hook.is_leader(state, ctx)
        if not leader and not ctx.get("leader_lost"):
            ctx["leader_lost"] = True
            hook.save_context(ctx)
    emit(leader, args.get("--format"))


def unit_get(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, set(), {"--format", "-o"})
    if not args.positional or args.positional[0] not in ("private-address", "public-address"):
        raise ToolError("unit-get: expected private-address or public-address", 2)
    emit(hook.state()["units"][hook.unit]["address"], args.get("--format"))


def network_get(hook: Hook, argv: list[str]) -> None:
    flags = {"--primary-address", "--bind-address", "--ingress-address", "--egress-subnets"}
    args = Args(argv, flags, {"--format", "-o", "-r", "--relation"})
    state = hook.state()
    if not args.positional:
        raise ToolError("no endpoint specified", 2)
    binding = args.positional[0]
    if binding not in state["apps"][hook.app]["endpoints"] and binding not in ("juju-info", ""):
        raise ToolError(f'no network config found for binding "{binding}"')
    address = state["units"][hook.unit]["address"]
    if args.has("--primary-address", "--bind-address", "--ingress-address"):
        emit(address, args.get("--format"))
        return
    if args.has("--egress-subnets"):
        emit(f"{address}/32", args.get("--format"))
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
    emit(info, args.get("--format") or "yaml")


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
    args = Args(argv, {"--endpoints"}, {"--format", "-o"})
    ports = list(hook.state()["units"][hook.unit]["ports"])
    pending = hook.context().get("ports", {})
    ports = [p for p in ports if p not in pending.get("close", [])] + [
        p for p in pending.get("open", []) if p not in ports
    ]
    emit(ports, args.get("--format"))


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


def status_get(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, {"--include-data", "--application"}, {"--format", "-o"})
    state = hook.state()
    unit = state["units"][hook.unit]
    own = {"status": unit["workload"]["current"], "message": unit["workload"]["message"], "status-data": {}}
    if args.has("--application"):
        app = state["apps"][hook.app]["status"] or unit["workload"]
        value: Any = {
            "application-status": {
                "status": app["current"],
                "message": app["message"],
                "status-data": {},
                "units": {hook.unit: own},
            }
        }
    else:
        value = own if args.has("--include-data") else own["status"]
    emit(value, args.get("--format"))


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
    args = Args(argv, set(), {"--format", "-o"})
    value: Any = _action(hook)["action"]["params"]
    if args.positional:
        for part in args.positional[0].split("."):
            value = value.get(part) if isinstance(value, dict) else None
    emit(value, args.get("--format"))


def action_set(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, set(), set())
    with flock(hook.model.root / "state.lock"):
        ctx = _action(hook)
        results = ctx["action"]["results"]
        for item in args.positional:
            key, eq, value = item.partition("=")
            if not eq:
                raise ToolError(f'argument "{item}" must be of the form key=value', 2)
            if key in ("stdout", "stderr", "stdout-encoding", "stderr-encoding"):
                raise ToolError(f'cannot set reserved action key "{key}"', 2)
            *parents, leaf = key.split(".")
            node = results
            for part in parents:
                node = node.setdefault(part, {})
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


def goal_state(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, set(), {"--format", "-o"})
    state = hook.state()
    units = {
        u: {"status": "active" if rec["life"] == "alive" else "dying", "since": rec["workload"]["since"]}
        for u, rec in state["units"].items()
        if rec["app"] == hook.app
    }
    relations: dict[str, Any] = {}
    for rid, rel in state["relations"].items():
        end = next((e for e in rel["ends"] if e["app"] == hook.app), None)
        if end is None or rel["life"] != "alive":
            continue
        entry = relations.setdefault(end["endpoint"], {})
        for other in rel["ends"]:
            if other["app"] != hook.app or len(rel["ends"]) == 1:
                entry[other["app"]] = {"status": "joined", "since": state["created"]}
        for member in state["units"][hook.unit]["rel"].get(rid, []):
            entry[member] = {"status": "active", "since": state["created"]}
    emit({"units": units, "relations": relations}, args.get("--format") or "yaml")


def storage_list(hook: Hook, argv: list[str]) -> None:
    emit([], Args(argv, set(), {"--format", "-o"}).get("--format"))


def unsupported(name: str) -> Callable[[Hook, list[str]], None]:
    def tool(hook: Hook, argv: list[str]) -> None:
        raise ToolError(f"{name} is not supported by the local model")

    return tool


def state_tool(kind: str) -> Callable[[Hook, list[str]], None]:
    """state-get/state-set/state-delete: the unit's charm state kept by the agent."""

    def tool(hook: Hook, argv: list[str]) -> None:
        args = Args(argv, set(), {"--format", "-o", "--file"})
        with flock(hook.model.root / "state.lock"):
            state = read(hook.model)
            store = state["units"][hook.unit].setdefault("charm_state", {})
            if kind == "get":
                key = args.positional[0] if args.positional else None
                emit(store.get(key) if key else store, args.get("--format"))
                return
            for item in args.positional:
                key, _, value = item.partition("=")
                if kind == "set":
                    store[key] = value
                else:
                    store.pop(key, None)
            write(hook.model, state)

    return tool


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
    "state-get": state_tool("get"),
    "state-set": state_tool("set"),
    "state-delete": state_tool("delete"),
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
