"""Password rotation: a user's new password is added while its old ones keep working until they expire.

Everything lives in the passwords' secret content (a map of strings), so every
unit applies the same users: the current password under the user's name (as
before rotation existed), and the passwords it replaced under `old-<user>`, a
JSON list of `{"password": ..., "expires": <unix time>}`. Nothing here asks Juju
or Redis: the functions take the content and the time and return new content.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

OLD_PREFIX = "old-"
# The default user's password as the leader last saw it in effect (the `password` option, else the
# generated one): when the option changes, the leader keeps this one as the default user's old password.
DEFAULT_USER = "default"
DEFAULT_IN_EFFECT = "default-in-effect"


@dataclass(frozen=True)
class OldPassword:
    """A password a user replaced, accepted until `expires` (unix time)."""

    password: str
    expires: float


def old_key(username: str) -> str:
    return f"{OLD_PREFIX}{username}"


def owner(key: str) -> str | None:
    """The user whose old passwords `key` holds (None: not a key of old passwords)."""
    return key[len(OLD_PREFIX) :] if key.startswith(OLD_PREFIX) else None


def old_passwords(content: Mapping[str, str], username: str) -> tuple[OldPassword, ...]:
    """The old passwords kept for `username`, oldest first (none if the stored value is unreadable)."""
    try:
        entries = json.loads(content.get(old_key(username), "[]"))
        return tuple(OldPassword(str(entry["password"]), float(entry["expires"])) for entry in entries)
    except (ValueError, TypeError, KeyError):
        return ()


def with_old(content: Mapping[str, str], username: str, kept: Iterable[OldPassword]) -> dict[str, str]:
    """The content with `kept` as `username`'s old passwords (the key gone when there are none)."""
    result = {key: value for key, value in content.items() if key != old_key(username)}
    entries = [{"password": old.password, "expires": old.expires} for old in kept]
    if entries:
        result[old_key(username)] = json.dumps(entries)
    return result


def rotate(
    content: Mapping[str, str], usernames: Iterable[str], now: float, grace: float, generate: Callable[[], str]
) -> dict[str, str]:
    """Each of `usernames` gets a new password; its current one is kept as old until `now + grace`."""
    result = dict(content)
    for username in usernames:
        current = result[username]
        kept = (*old_passwords(result, username), OldPassword(current, now + grace))
        result = with_old(result, username, kept)
        result[username] = generate()
    return result


def old_users(content: Mapping[str, str]) -> list[str]:
    return [name for name in map(owner, content) if name is not None]


def forget_expired(content: Mapping[str, str], now: float) -> dict[str, str]:
    """The content without the old passwords that expired at or before `now`."""
    result = dict(content)
    for username in old_users(content):
        result = with_old(result, username, (old for old in old_passwords(content, username) if old.expires > now))
    return result


def forget_all(content: Mapping[str, str]) -> dict[str, str]:
    """The content without any old password: only the current ones work."""
    return {key: value for key, value in content.items() if owner(key) is None}


def accepted(content: Mapping[str, str], username: str, now: float) -> tuple[str, ...]:
    """The passwords `username` accepts at `now`: the current one first, then the unexpired old ones."""
    current = content.get(username)
    kept = tuple(old.password for old in old_passwords(content, username) if old.expires > now)
    return (current, *kept) if current else kept


def follow_default(content: Mapping[str, str], in_effect: str, now: float, grace: float) -> dict[str, str]:
    """The content once the default user's password is `in_effect`: the one it replaces kept until `now + grace`."""
    result = dict(content)
    previous = result.get(DEFAULT_IN_EFFECT)
    result[DEFAULT_IN_EFFECT] = in_effect
    if previous and previous != in_effect and grace > 0:
        kept = (*old_passwords(result, DEFAULT_USER), OldPassword(previous, now + grace))
        result = with_old(result, DEFAULT_USER, kept)
    return result


def old_default_passwords(content: Mapping[str, str]) -> tuple[str, ...]:
    """The default user's other passwords: its old ones (until the leader forgets them), and the one last in effect.

    The one last in effect stays accepted until the leader has recorded the change: a unit
    may apply a new `password` option before the leader has kept the old one.
    """
    previous = content.get(DEFAULT_IN_EFFECT)
    kept = tuple(old.password for old in old_passwords(content, DEFAULT_USER))
    return tuple(dict.fromkeys((*kept, *((previous,) if previous else ()))))
