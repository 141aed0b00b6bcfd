"""redis.conf: what to render, and how a change from the running file must be applied.

The rendered file is the single source of truth: the charm decides what a change
needs by comparing the directives of the file Redis runs with (parsed back) to
the directives of the new rendering. Directives Redis can change at runtime go
through CONFIG SET; any other difference needs one restart.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from charms.layer.redis.settings import Settings
from charms.layer.redis.users import AclUser

if TYPE_CHECKING:
    from charms.layer.redis.tls import Files

# Directives this charm renders that CONFIG SET changes on a running server
# (src/config.c marks the others IMMUTABLE or they are only read at start-up).
LIVE_DIRECTIVES = frozenset(
    {
        "requirepass",
        "masterauth",
        "loglevel",
        "timeout",
        "tcp-keepalive",
        "save",
        "appendonly",
        "appendfsync",
        "maxmemory",
        "maxmemory-policy",
        # TLS: CONFIG SET of any of these rebuilds the TLS context from the files
        # (measured on Redis 7.0), so a renewed certificate is loaded live.
        "tls-port",
        "tls-cert-file",
        "tls-key-file",
        "tls-ca-cert-file",
        "tls-auth-clients",
        "tls-replication",
        "tls-cluster",
    }
)
# What the charm renders and watches on the running server (CONFIG GET), to
# put back live when something else changed it.
WATCHED_DIRECTIVES = LIVE_DIRECTIVES | {"port", "bind", "protected-mode"}
# `user` lines are applied live with ACL SETUSER (admin.sync_users), never by a restart.
USER_DIRECTIVE = "user"
# The config option behind each directive, to name it in a status message.
OPTION_OF = {
    "requirepass": "password",
    "user": "client-permissions",
    "masterauth": "password",
    "loglevel": "log-level",
    "cluster-enabled": "cluster-enabled",
    "cluster-announce-ip": "the unit's address",
    "bind": "the unit's address",
    # Where the files are is the installation's: only install-source moves them.
    "dir": "install-source",
    "logfile": "install-source",
    "pidfile": "install-source",
    "unixsocket": "install-source",
    "tls-cert-file": "the certificates relation",
    "tls-key-file": "the certificates relation",
    "tls-ca-cert-file": "the certificates relation",
    "tls-auth-clients": "the certificates relation",
    "tls-replication": "the certificates relation",
    "tls-cluster": "the certificates relation",
}
# CONFIG SET port re-opens the listener, reliably from Redis 7 on.
LIVE_PORT_SINCE = (7, 0, 0)
TEMPLATES = Path(__file__).resolve().parents[4] / "templates"


@dataclass(frozen=True)
class Layout:
    """Where an installation of Redis keeps its files and how systemd names it."""

    service: str
    binary: str
    conf: Path
    data_dir: Path
    logfile: Path
    unixsocket: Path
    pidfile: Path
    group: str = "redis"


@dataclass(frozen=True)
class Plan:
    """How to get from the running configuration to the rendered one."""

    live: dict[str, str] = field(default_factory=dict)
    restart: bool = False
    # The directives that differ, to name what a refused or failed change was about.
    changed: tuple[str, ...] = field(default=(), compare=False)
    # The ACL users differ: set them live before the file is written.
    users: bool = False

    @property
    def unchanged(self) -> bool:
        return not self.live and not self.restart and not self.users


def bind_addresses(ingress: str) -> list[str]:
    """The ingress address, plus loopback unless the ingress address is itself loopback."""
    if ipaddress.ip_address(ingress).is_loopback:
        return [ingress]
    return [ingress, "127.0.0.1"]


def plain_port(settings: Settings, tls: Files | None) -> int:
    """The port Redis serves without TLS: 0 (none) once TLS is up, unless the operator keeps it.

    A cluster node keeps it: its peers, its replicas and the charm's cluster
    steps reach it there (the cluster bus is that port + 10000, fixed at forming).
    """
    kept = settings.tls_keep_plain_port or settings.cluster_enabled
    return settings.port if tls is None or kept else 0


def served_ports(settings: Settings, tls: Files | None) -> list[int]:
    """The TCP ports Redis listens on for clients, plain first."""
    ports = [plain_port(settings, tls)] + ([settings.tls_port] if tls is not None else [])
    return [port for port in ports if port]


def render(
    settings: Settings,
    password: str,
    ingress: str,
    layout: Layout,
    tls: Files | None = None,
    users: Sequence[AclUser] = (),
) -> str:
    """The complete redis.conf for these settings and ACL users (with TLS when `tls` names the certificate files)."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    bind = bind_addresses(ingress)
    return environment.get_template("redis.conf.j2").render(
        bind=bind,
        loopback=len(bind) > 1,
        port=plain_port(settings, tls),
        tls=tls,
        tls_port=settings.tls_port,
        timeout=settings.timeout,
        tcp_keepalive=settings.tcp_keepalive,
        loglevel=settings.loglevel,
        databases=settings.databases,
        password=password,
        user_lines=[user.config_line() for user in users],
        cluster_enabled=settings.cluster_enabled,
        announce_ip=ingress,
        unixsocket=layout.unixsocket,
        pidfile=layout.pidfile,
        logfile=layout.logfile,
        data_dir=layout.data_dir,
        save=" ".join(f"{seconds} {changes}" for seconds, changes in settings.save) or '""',
        appendonly=settings.appendonly,
        appendfsync=settings.appendfsync,
        maxmemory=settings.maxmemory,
        maxmemory_policy=settings.maxmemory_policy,
    )


def directives(text: str) -> dict[str, str]:
    """The directives of a redis.conf as {name: value}; repeated names are joined by newlines."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition(" ")
        name = name.lower()
        found[name] = f"{found[name]}\n{value.strip()}" if name in found else value.strip()
    return found


def live_value(value: str) -> str:
    """A directive's value as CONFIG SET takes it and CONFIG GET gives it ('""' is empty)."""
    return "" if value == '""' else value


def watched(text: str) -> dict[str, str]:
    """The watched directives of a redis.conf, as CONFIG GET shows them on a server running it."""
    return {name: live_value(value) for name, value in directives(text).items() if name in WATCHED_DIRECTIVES}


def options_of(names: set[str] | list[str] | tuple[str, ...]) -> list[str]:
    """The config options behind these directives, each once, sorted."""
    return sorted({OPTION_OF.get(name, name) for name in names})


def describe(names: tuple[str, ...]) -> str:
    """The options a change is about, for a status message ("the new configuration" when unknown)."""
    return ", ".join(options_of(names)) or "the new configuration"


def changed_directives(running: str | None, rendered: str) -> set[str]:
    """The directives whose value differs between two renderings (all of them without a running file)."""
    after = directives(rendered)
    if running is None:
        return set(after)
    before = directives(running)
    return {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}


def plan(running: str | None, rendered: str, version: Sequence[int]) -> Plan:
    """What applying `rendered` over the `running` file needs on Redis `version`."""
    if running is None:
        return Plan(restart=True)
    after = directives(rendered)
    changed = changed_directives(running, rendered)
    users = USER_DIRECTIVE in changed
    changed.discard(USER_DIRECTIVE)
    live_here = LIVE_DIRECTIVES | ({"port"} if tuple(version) >= LIVE_PORT_SINCE else set())
    if not changed <= live_here or any(name not in after for name in changed):
        return Plan(restart=True, changed=tuple(sorted(changed)), users=users)
    live = {name: live_value(after[name]) for name in sorted(changed)}
    return Plan(live=live, changed=tuple(sorted(changed | ({USER_DIRECTIVE} if users else set()))), users=users)


def parse_version(text: str) -> tuple[int, int, int]:
    """(7, 0, 15) from `redis-server --version` output or an INFO redis_version value."""
    for token in text.replace("=", " ").split():
        parts = token.lstrip("v").split(".")
        if len(parts) == 3 and all(part.isdigit() for part in parts):
            return (int(parts[0]), int(parts[1]), int(parts[2]))
    raise ValueError(f"no Redis version in {text!r}")
