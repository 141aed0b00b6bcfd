"""The ACL users of the charm's Redis: who may connect, with which passwords and which rights.

- `default`: the user of clients that send only a password (`AUTH <password>`).
  It takes the `password` option's password (or the generated one) and, so that
  every existing consumer keeps working unmodified, each related application's
  own password too.
  Once the charm's own users exist it has the rights of `client-permissions`
  (before that, on a unit upgraded from a revision without them, every right).
- `app-<application>`: one user per related application, with that
  application's password and the rights of the `client-permissions` option.
  A client that sends a username (`AUTH app-<application> <password>`) gets
  exactly those rights.
- `charm-admin`: every right; the charm's own connections (hooks and actions)
  authenticate as it. Never published on a relation.
- `charm-replication`: only what a replica asks of its master (`masteruser`).
- `charm-monitoring`: what the Nagios check and the Prometheus exporter read,
  whose password files the nagios and prometheus groups can read.

Users hold password hashes only: a user can be rendered into redis.conf
(`user` lines, which Redis loads at start-up, so a restart keeps them) and
compared with what Redis runs without a plaintext password in either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

CLIENT_PREFIX = "app-"
# Every key and channel, every command but the administrative and dangerous
# ones (CONFIG, ACL, SHUTDOWN, REPLICAOF, DEBUG, MONITOR, KEYS, FLUSHALL, ...);
# INFO stays, as client libraries and dashboards read it.
DEFAULT_CLIENT_PERMISSIONS = "~* &* +@all -@admin -@dangerous +info"
# The default user's rights before the charm's own admin user exists (as before users existed).
DEFAULT_USER_RULES = ("~*", "&*", "+@all")
ADMIN_USER = "charm-admin"
REPLICATION_USER = "charm-replication"
MONITORING_USER = "charm-monitoring"
ADMIN_RULES = ("~*", "&*", "+@all")
# What a replica sends its master (Redis 7.0's replication.c: PING, AUTH, REPLCONF, PSYNC; SYNC
# only to masters older than 2.8, which Ubuntu and Debian do not ship). No key, no channel.
REPLICATION_RULES = ("+psync", "+replconf", "+ping")
# PING, INFO, CLUSTER INFO (the Nagios check) and what prometheus-redis-exporter reads beside INFO.
# Not CONFIG GET: `CONFIG GET *` shows requirepass and masterauth, the passwords of stronger users.
MONITORING_RULES = (
    "+ping",
    "+info",
    "+cluster|info",
    "+client|list",
    "+slowlog|get",
    "+slowlog|len",
    "+latency|latest",
)
# The charm's own users, in the order they are made (the admin user first: it makes the others).
CHARM_USERS = (ADMIN_USER, REPLICATION_USER, MONITORING_USER)
CHARM_RULES = {ADMIN_USER: ADMIN_RULES, REPLICATION_USER: REPLICATION_RULES, MONITORING_USER: MONITORING_RULES}


def password_hash(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


@dataclass(frozen=True)
class AclUser:
    """A user as the charm wants Redis to have it: enabled, these password hashes, these rules."""

    name: str
    password_hashes: tuple[str, ...]
    rules: tuple[str, ...]

    def modifiers(self) -> tuple[str, ...]:
        """ACL SETUSER's arguments after the name: the whole user, from scratch."""
        return ("reset", "on", *(f"#{digest}" for digest in self.password_hashes), *self.rules)

    def config_line(self) -> str:
        """The redis.conf `user` line that makes this user at start-up."""
        return " ".join(("user", self.name, *self.modifiers()))


@dataclass(frozen=True)
class Login:
    """A user and one of its passwords, as a connection authenticates (the password never in a repr)."""

    username: str
    password: str = field(repr=False)


def client_username(application: str) -> str:
    return f"{CLIENT_PREFIX}{application}"


def is_client_username(name: str) -> bool:
    return name.startswith(CLIENT_PREFIX)


def wanted(
    default_password: str,
    clients: Mapping[str, str],
    rules: tuple[str, ...],
    old: Sequence[tuple[str, str]] = (),
    old_default: Sequence[str] = (),
    charm: Mapping[str, Sequence[str]] | None = None,
) -> tuple[AclUser, ...]:
    """The default user, one user per client (username → password), then the charm's own users.

    `old` holds (username, password) pairs of passwords a client user still
    accepts during a rotation: its user and the default user take them too.
    `old_default` are the default user's own passwords that it still accepts.
    `charm` maps each of the charm's own users to the passwords it accepts
    (current first); with the admin user among them the default user has the
    client rules, else every right.
    """
    names = sorted(clients)
    accepted = {name: (clients[name], *(p for user, p in old if user == name)) for name in names}
    everyone = (default_password, *old_default, *(p for name in names for p in accepted[name]))
    charm = charm or {}
    default_rules = rules if ADMIN_USER in charm else DEFAULT_USER_RULES
    default = AclUser("default", tuple(dict.fromkeys(map(password_hash, everyone))), default_rules)
    clients_users = (AclUser(name, tuple(map(password_hash, accepted[name])), rules) for name in names)
    return (default, *clients_users, *charm_users(charm))


def charm_users(charm: Mapping[str, Sequence[str]]) -> tuple[AclUser, ...]:
    """The charm's own users that have passwords, with their fixed rules."""
    return tuple(
        AclUser(name, tuple(dict.fromkeys(map(password_hash, charm[name]))), CHARM_RULES[name])
        for name in CHARM_USERS
        if charm.get(name)
    )


def from_conf(text: str) -> tuple[AclUser, ...]:
    """The users a redis.conf's `user` lines (as `AclUser.config_line` writes them) make."""
    found = []
    for line in text.splitlines():
        tokens = line.split()
        if len(tokens) < 3 or tokens[0] != "user":
            continue
        modifiers = [token for token in tokens[2:] if token not in ("reset", "on")]
        hashes = tuple(token[1:] for token in modifiers if token.startswith("#"))
        found.append(AclUser(tokens[1], hashes, tuple(token for token in modifiers if not token.startswith("#"))))
    return tuple(found)
