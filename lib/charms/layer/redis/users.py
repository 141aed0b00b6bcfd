"""The ACL users of the charm's Redis: who may connect, with which passwords and which rights.

- `default`: the user of clients that send only a password (`AUTH <password>`).
  It takes the `password` option's password (or the generated one) and, so that
  every existing consumer keeps working unmodified, each related application's
  own password too.
- `app-<application>`: one user per related application, with that
  application's password and the rights of the `client-permissions` option.
  A client that sends a username (`AUTH app-<application> <password>`) gets
  exactly those rights.

Users hold password hashes only: a user can be rendered into redis.conf
(`user` lines, which Redis loads at start-up, so a restart keeps them) and
compared with what Redis runs without a plaintext password in either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

CLIENT_PREFIX = "app-"
# Every key and channel, every command but the administrative and dangerous
# ones (CONFIG, ACL, SHUTDOWN, REPLICAOF, DEBUG, MONITOR, KEYS, FLUSHALL, ...);
# INFO stays, as client libraries and dashboards read it.
DEFAULT_CLIENT_PERMISSIONS = "~* &* +@all -@admin -@dangerous +info"
# The default user keeps every right, as before users existed.
DEFAULT_USER_RULES = ("~*", "&*", "+@all")


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
) -> tuple[AclUser, ...]:
    """The default user and one user per client (username → password), in a stable order.

    `old` holds (username, password) pairs of passwords a client user still
    accepts during a rotation: its user and the default user take them too.
    `old_default` are the default user's own passwords that it still accepts.
    """
    names = sorted(clients)
    accepted = {name: (clients[name], *(p for user, p in old if user == name)) for name in names}
    everyone = (default_password, *old_default, *(p for name in names for p in accepted[name]))
    default = AclUser("default", tuple(dict.fromkeys(map(password_hash, everyone))), DEFAULT_USER_RULES)
    return (default, *(AclUser(name, tuple(map(password_hash, accepted[name])), rules) for name in names))
