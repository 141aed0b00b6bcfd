"""A fake Juju for one unit, in process: hook tools answered from memory, hooks dispatched by charms.reactive.

`FakeJuju` holds what Juju holds for a unit (config, leadership, relations,
opened ports, status) and answers the hook tools charmhelpers runs, in the
formats Juju's tools print. `run_hook()` then runs a hook as the charm's hook
files do (charms.layer.basic.run_hook, so charms.reactive discovers the real
reactive/ and interface modules and dispatches), in a fresh charms.reactive,
with the unit's state database kept on disk between hooks as on a unit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
JUJUD = "/var/lib/juju/tools/machine-0/jujud"
# Everything discovered from the charm directory is imported anew for each
# hook, as each hook is a new process on a unit.
PER_HOOK_MODULES = ("charms.leadership", "reactive", "relations")
# What importing charms.reactive registers with charmhelpers: [start steps, exit steps].
IMPORT_TIME_STEPS: list[list[Any]] = []
CHARM_DIR_NAME = "fake-charm-dir"


def config_defaults() -> dict[str, Any]:
    """The charm's options at their defaults, as config-get prints them."""
    options = yaml.safe_load((ROOT / "config.yaml").read_text())["options"]
    return {name: spec.get("default") for name, spec in options.items()}


@dataclass
class Relation:
    endpoint: str
    remote_app: str
    units: dict[str, dict[str, str]] = field(default_factory=dict)
    local: dict[str, str] = field(default_factory=dict)
    # The remote application's data bag.
    app: dict[str, str] = field(default_factory=dict)
    # This application's data bag (what the leader wrote with relation-set --app).
    local_app: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeJuju:
    """What Juju knows about one unit, and the hook tools that read and change it."""

    config: dict[str, Any]
    unit: str = "redis/0"
    leader: bool = True
    model: str = "prod"
    model_uuid: str = "4d5f7a1e-0c3b-4f7e-9a51-2b8c6d0e1f23"
    address: str = "127.1.2.3"  # the ingress address network-get gives
    private_address: str = "127.1.9.9"  # unit-get private-address: another interface of the machine
    leader_settings: dict[str, str] = field(default_factory=dict)
    relations: dict[str, Relation] = field(default_factory=dict)
    ports: set[str] = field(default_factory=set)
    statuses: list[tuple[str, str]] = field(default_factory=list)
    version: str = ""
    logs: list[str] = field(default_factory=list)
    calls: list[list[str]] = field(default_factory=list)
    # Juju refuses leader-set although is-leader said yes (the lease lapsed during the hook).
    leadership_lapses: bool = False
    # The application's secrets: id → revisions' content (the latest last), and their labels.
    secrets: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    secret_labels: dict[str, str] = field(default_factory=dict)
    # goal-state's units of this application and each one's status ("active", "dying", ...).
    goal_units: dict[str, str] = field(default_factory=dict)
    # Revisions removed with secret-remove, as (secret id, revision).
    removed_revisions: list[tuple[str, int]] = field(default_factory=list)

    @property
    def status(self) -> tuple[str, str]:
        return self.statuses[-1] if self.statuses else ("unknown", "")

    def relate(self, endpoint: str, remote_unit: str, data: Mapping[str, str] | None = None) -> str:
        """Add a relation with one remote unit; its relation id."""
        rid = f"{endpoint}:{len(self.relations) + 1}"
        self.relations[rid] = Relation(endpoint, remote_unit.split("/")[0], {remote_unit: dict(data or {})})
        return rid

    def tool(self, argv: list[str]) -> str:
        """Run one hook tool: its standard output, or CalledProcessError as the real tool fails."""
        self.calls.append(list(argv))
        name, args = Path(argv[0]).name, [a for a in argv[1:] if not a.startswith("--format")]
        handler = getattr(self, "tool_" + name.replace("-", "_"), None)
        if handler is None:
            raise AssertionError(f"the fake Juju has no hook tool {name} (called as {argv})")
        return handler(args)

    def tool_jujud(self, args: list[str]) -> str:
        return "3.6.4-ubuntu-amd64"

    def tool_config_get(self, args: list[str]) -> str:
        return json.dumps(self.config)

    def tool_is_leader(self, args: list[str]) -> str:
        return json.dumps(self.leader)

    def tool_leader_get(self, args: list[str]) -> str:
        key = args[0] if args else "-"
        return json.dumps(dict(self.leader_settings) if key == "-" else self.leader_settings.get(key))

    def tool_leader_set(self, args: list[str]) -> str:
        if not self.leader or self.leadership_lapses:
            raise subprocess.CalledProcessError(1, ["leader-set", *args], b"", b"cannot write leadership settings")
        for pair in args:
            key, _, value = pair.partition("=")
            if value:
                self.leader_settings[key] = value
            else:
                self.leader_settings.pop(key, None)
        return ""

    def tool_secret_add(self, args: list[str]) -> str:
        if not self.leader:
            raise subprocess.CalledProcessError(1, ["secret-add"], b"", b"permission denied")
        ident = f"secret:fake{len(self.secrets) + 1:016d}"
        self.secrets[ident] = [secret_content(args)]
        if "--label" in args:
            self.secret_labels[ident] = option(args, "--label")
        return ident + "\n"

    def tool_secret_set(self, args: list[str]) -> str:
        if not self.leader:
            raise subprocess.CalledProcessError(1, ["secret-set"], b"", b"permission denied")
        self.secrets[args[0]].append(secret_content(args))
        return ""

    def tool_secret_remove(self, args: list[str]) -> str:
        if not self.leader or args[0] not in self.secrets:
            raise subprocess.CalledProcessError(1, ["secret-remove", *args], b"", b"permission denied")
        self.removed_revisions.append((args[0], int(option(args, "--revision"))))
        return ""

    def tool_secret_get(self, args: list[str]) -> str:
        if args[0] not in self.secrets:
            # As the real tool does while the hook that adds it runs elsewhere: the unit waits, then gives up.
            raise subprocess.CalledProcessError(1, ["secret-get", args[0]], b"", b"secret not found")
        return json.dumps(self.secrets[args[0]][-1])  # this application owns it: the latest revision

    def generated_password(self) -> str:
        """The default user's password the leader generated, as its secret's latest revision holds it."""
        return self.secrets[self.leader_settings["password-secret"]][-1]["password"]

    def secret_content(self) -> dict[str, str]:
        """The latest revision of the passwords' secret."""
        return self.secrets[self.leader_settings["password-secret"]][-1]

    def share_password(self, password: str) -> None:
        """What another unit, the leader, does: a new revision of the passwords' secret, shared."""
        ident = next(iter(self.secrets), "secret:fake0000000000000001")
        revisions = self.secrets.setdefault(ident, [])
        revisions.append({"password": password, "revision": str(len(revisions) + 1)})
        self.leader_settings.update({"password-secret": ident, "password-secret-revision": str(len(revisions))})

    def tool_goal_state(self, args: list[str]) -> str:
        units = {name: {"status": status, "since": "2026-01-01 00:00:00Z"} for name, status in self.goal_units.items()}
        return json.dumps({"units": units, "relations": {}})

    def tool_juju_log(self, args: list[str]) -> str:
        self.logs.append(args[-1])
        return ""

    def tool_status_set(self, args: list[str]) -> str:
        self.statuses.append((args[-2], args[-1]))
        return ""

    def tool_application_version_set(self, args: list[str]) -> str:
        self.version = args[0]
        return ""

    def tool_unit_get(self, args: list[str]) -> str:
        return json.dumps(self.private_address)

    def tool_network_get(self, args: list[str]) -> str:
        if args[0] not in yaml.safe_load((ROOT / "metadata.yaml").read_text())["provides"]:
            raise subprocess.CalledProcessError(1, ["network-get", *args], b"", b"no network config found for binding")
        # The first ingress address is the one to give out; a machine may have more.
        return yaml.safe_dump({"bind-addresses": [], "ingress-addresses": [self.address, "192.0.2.1"]})

    def tool_opened_ports(self, args: list[str]) -> str:
        return json.dumps(sorted(self.ports))

    def tool_open_port(self, args: list[str]) -> str:
        self.ports.add(args[0].lower())
        return ""

    def tool_close_port(self, args: list[str]) -> str:
        self.ports.discard(args[0].lower())
        return ""

    def tool_relation_ids(self, args: list[str]) -> str:
        return json.dumps([rid for rid, relation in self.relations.items() if relation.endpoint == args[0]])

    def tool_relation_list(self, args: list[str]) -> str:
        return json.dumps(sorted(self.relations[option(args, "-r")].units))

    def tool_relation_get(self, args: list[str]) -> str:
        relation = self.relations[option(args, "-r")]
        positional = [a for a in args if a not in ("-r", option(args, "-r"), "--app")]
        if "--app" in args:
            return json.dumps(dict(relation.app) if positional[1:] == [relation.remote_app] else {})
        key, unit = positional[0], positional[1]
        data = relation.local if unit == self.unit else relation.units.get(unit, {})
        return json.dumps(dict(data) if key == "-" else data.get(key))

    def tool_relation_set(self, args: list[str]) -> str:
        if "--help" in args:
            return "usage: relation-set [options] key=value [key=value ...]\n  --file  (= )\n"
        relation = self.relations[option(args, "-r")]
        settings = yaml.safe_load(Path(option(args, "--file")).read_text()) or {}
        bag = relation.local_app if "--app" in args else relation.local
        for key, value in settings.items():
            if value in (None, ""):
                bag.pop(key, None)
            else:
                bag[key] = str(value)
        return ""


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def secret_content(args: list[str]) -> dict[str, str]:
    """The content secret-add and secret-set were given, in a YAML file (--file) only."""
    assert not [a for a in args if "=" in a], f"secret content in process arguments: {args}"
    return {key: str(value) for key, value in yaml.safe_load(Path(option(args, "--file")).read_text()).items()}


class HookTools:
    """Stands in for the `subprocess` module inside charmhelpers.core.hookenv: hook tools go to FakeJuju."""

    CalledProcessError = subprocess.CalledProcessError
    STDOUT = subprocess.STDOUT
    PIPE = subprocess.PIPE

    def __init__(self, juju: FakeJuju) -> None:
        self.juju = juju

    def check_output(self, argv: list[str], **kwargs: Any) -> Any:
        output = self.juju.tool(argv)
        return output if kwargs.get("universal_newlines") or kwargs.get("text") else output.encode()

    def check_call(self, argv: list[str], **kwargs: Any) -> int:
        self.juju.tool(argv)
        return 0

    def call(self, argv: list[str], **kwargs: Any) -> int:
        try:
            self.juju.tool(argv)
        except subprocess.CalledProcessError as error:
            return error.returncode
        return 0


def make_charm_dir(path: Path) -> Path:
    """A charm directory laid out as the built charm's, whose files are the project's own sources."""
    (path / "reactive").mkdir(parents=True)
    (path / "hooks" / "relations").mkdir(parents=True)
    (path / "reactive" / "redis.py").symlink_to(ROOT / "reactive" / "redis.py")
    (path / "reactive" / "leadership.py").symlink_to(ROOT / "layers" / "leadership" / "reactive" / "leadership.py")
    for interface in ("redis", "redis-peers", "nrpe-external-master", "tls-certificates", "prometheus_scrape", "http"):
        (path / "hooks" / "relations" / interface).symlink_to(ROOT / "interfaces" / interface)
    for name in ("metadata.yaml", "config.yaml"):
        (path / name).symlink_to(ROOT / name)
    return path


@dataclass
class Unit:
    """One unit's charm directory and state database, and the hooks run on it."""

    juju: FakeJuju
    charm_dir: Path
    monkeypatch: pytest.MonkeyPatch

    def run_hook(self, hook: str, relation_id: str | None = None, remote_unit: str | None = None) -> None:
        from charmhelpers.core import hookenv, unitdata

        environment = {
            "JUJU_HOOK_NAME": hook,
            "JUJU_UNIT_NAME": self.juju.unit,
            "JUJU_MODEL_NAME": self.juju.model,
            "JUJU_MODEL_UUID": self.juju.model_uuid,
            "CHARM_DIR": str(self.charm_dir),
            "JUJU_CHARM_DIR": str(self.charm_dir),
            "UNIT_STATE_DB": str(self.charm_dir / ".unit-state.db"),
        }
        for name, value in environment.items():
            self.monkeypatch.setenv(name, value)
        for name in ("JUJU_RELATION", "JUJU_RELATION_ID", "JUJU_REMOTE_UNIT", "JUJU_REMOTE_APP"):
            self.monkeypatch.delenv(name, raising=False)
        if relation_id is not None:
            self.monkeypatch.setenv("JUJU_RELATION", relation_id.split(":")[0])
            self.monkeypatch.setenv("JUJU_RELATION_ID", relation_id)
        if remote_unit is not None:
            self.monkeypatch.setenv("JUJU_REMOTE_UNIT", remote_unit)
            self.monkeypatch.setenv("JUJU_REMOTE_APP", remote_unit.split("/")[0])
        fresh_process(hookenv, unitdata)
        from charms.layer import basic

        try:
            basic.run_hook()
        finally:
            unitdata.kv().close()
            unitdata._KV = None

    def flags(self) -> set[str]:
        """The flags set when the last hook ended."""
        from charmhelpers.core import unitdata

        try:
            return set(unitdata.kv().getrange("reactive.states.", strip=True))
        finally:
            unitdata.kv().close()
            unitdata._KV = None

    def kv(self, key: str) -> Any:
        from charmhelpers.core import unitdata

        try:
            return unitdata.kv().get(key)
        finally:
            unitdata.kv().close()
            unitdata._KV = None


def fresh_process(hookenv: Any, unitdata: Any) -> None:
    """Forget what an earlier hook left in this process, as a new hook process would not have it.

    charms.reactive itself is imported once: its import-time start and exit
    steps are kept and put back for every hook, and its registries emptied,
    which is what importing it again would give, in a fraction of the time.
    The charm's own modules (handlers, interfaces, charms.leadership) are
    imported anew, so each hook registers its handlers as a new process does.
    """
    hookenv.cache.clear()
    hookenv._cache_config = None
    unitdata._KV = None
    if not IMPORT_TIME_STEPS:
        del hookenv._atstart[:]
        del hookenv._atexit[:]
        forget_modules(("charms.reactive", "charmhelpers.cli"))  # an earlier test may have imported them
        import charms.reactive  # noqa: F401  (registers its start and exit steps)

        IMPORT_TIME_STEPS.extend([list(hookenv._atstart), list(hookenv._atexit)])
    hookenv._atstart[:] = IMPORT_TIME_STEPS[0]
    hookenv._atexit[:] = IMPORT_TIME_STEPS[1]
    from charms.reactive import bus, endpoints, flags, relations

    bus.Handler._HANDLERS = {}
    endpoints.Endpoint._endpoints = {}
    flags.TRIGGER_CALLBACKS.clear()
    relations.RelationBase._cache = {}
    relations.RelationFactory._factories = []
    forget_modules(PER_HOOK_MODULES)
    # charms.reactive puts the charm directory on sys.path; an earlier test's must not shadow this one's.
    sys.path[:] = [entry for entry in sys.path if CHARM_DIR_NAME not in Path(entry).parts]


def forget_modules(prefixes: tuple[str, ...]) -> None:
    for name in list(sys.modules):
        if any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes):
            del sys.modules[name]


def attach(monkeypatch: pytest.MonkeyPatch, juju: FakeJuju, workspace: Path) -> Unit:
    """Let charmhelpers reach `juju` instead of real hook tools; a unit whose hooks run against it."""
    from charmhelpers.core import hookenv

    from charms.layer.redis import credentials

    monkeypatch.setattr(hookenv, "subprocess", HookTools(juju))
    monkeypatch.setattr(credentials, "subprocess", HookTools(juju))
    # A hook here never waits for another unit's hook to end (there is none).
    monkeypatch.setattr(credentials, "REVISION_WAIT", 0.0)
    # charmhelpers finds the Juju version through the agent binary on the machine.
    monkeypatch.setattr(hookenv, "glob", SimpleNamespace(glob=lambda pattern: [JUJUD]))
    return Unit(juju, make_charm_dir(workspace / CHARM_DIR_NAME), monkeypatch)
