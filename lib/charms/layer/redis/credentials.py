"""The passwords the charm generates, kept in a Juju secret owned by the application.

The leader creates the secret with `secret-add --file` (the content goes
through a 0600 file, never through a process's arguments) and shares only its
id and revision with `leader_set`. Every unit reads the content with
`secret-get` when that id or revision is new to it, and keeps what it read in a
0600 cache file, so a hook where nothing changed asks Juju nothing more.

Earlier revisions of the charm kept the generated password itself in the
leader setting `password`; an upgraded leader moves that value into the
secret, so the password stays the same.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from charms.layer.redis import rotation, settings, users

# Leader settings: the secret's id and the revision that holds the current content.
SECRET_ID = "password-secret"
SECRET_REVISION = "password-secret-revision"
# The leader setting in which earlier revisions kept the generated password itself.
LEGACY_PASSWORD = "password"
# Key of the default user's generated password in the secret's content.
DEFAULT_PASSWORD = "password"
# Key of the revision number the leader wrote the content as. Juju writes leader
# settings at once but a secret's new revision only when the leader's hook
# ends: a unit may hear of a revision before it can read it.
REVISION = "revision"
# How long a hook waits for the revision the leader announced to be readable.
REVISION_WAIT = 60.0
LABEL = "redis-passwords"
CACHE_NAME = ".redis-passwords.json"


class SecretError(RuntimeError):
    """A secret tool failed; the message names the tool, never a value."""


@dataclass(frozen=True)
class SecretRef:
    """Which secret holds the passwords, and the revision the leader last wrote."""

    id: str
    revision: int


def ref_from(leader_settings: Mapping[str, str | None]) -> SecretRef | None:
    """The secret the leader shared (None before it did, or if what it shared is unreadable)."""
    ident, revision = leader_settings.get(SECRET_ID), leader_settings.get(SECRET_REVISION)
    if not ident or not revision or not revision.isdigit():
        return None
    return SecretRef(ident, int(revision))


def leader_values(ref: SecretRef, seen: Mapping[str, str | None]) -> dict[str, str | None]:
    """The leader settings that share `ref` (ids and numbers only), and delete an earlier revision's password."""
    values: dict[str, str | None] = {SECRET_ID: ref.id, SECRET_REVISION: str(ref.revision)}
    if seen.get(LEGACY_PASSWORD) is not None:
        values[LEGACY_PASSWORD] = None
    return values


def generate_password() -> str:
    """32 random bytes, URL-safe; never one a JSON decoder would read as a number, boolean or null."""
    while True:
        candidate = secrets.token_urlsafe(32)
        if not settings.reads_as_json_value(candidate):
            return candidate


class SecretTools(Protocol):
    """The Juju secret tools the charm uses."""

    def add(self, content: Mapping[str, str], label: str) -> str: ...

    def set(self, ident: str, content: Mapping[str, str]) -> None: ...

    def get(self, ident: str) -> dict[str, str]: ...

    def remove_revision(self, ident: str, revision: int) -> None: ...


class HookSecretTools:
    """secret-add, secret-set and secret-get, the content always passed in a 0600 file or on stdout."""

    def add(self, content: Mapping[str, str], label: str) -> str:
        output = self._with_content_file(["secret-add", "--label", label], content)
        return output.strip()

    def set(self, ident: str, content: Mapping[str, str]) -> None:
        self._with_content_file(["secret-set", ident], content)

    def get(self, ident: str) -> dict[str, str]:
        output = self._run(["secret-get", ident, "--format", "json"])
        content = json.loads(output)
        if not isinstance(content, dict) or not all(isinstance(v, str) for v in content.values()):
            raise SecretError(f"secret-get {ident} gave no map of strings")
        return content

    def remove_revision(self, ident: str, revision: int) -> None:
        self._run(["secret-remove", ident, "--revision", str(revision)])

    def _with_content_file(self, command: list[str], content: Mapping[str, str]) -> str:
        handle, name = tempfile.mkstemp(prefix="secret-", suffix=".yaml")  # created 0600
        try:
            with os.fdopen(handle, "w") as file:
                # JSON strings are YAML strings: no value can be read as anything else.
                file.writelines(f"{key}: {json.dumps(value)}\n" for key, value in content.items())
            return self._run([*command, "--file", name])
        finally:
            os.unlink(name)

    @staticmethod
    def _run(command: list[str]) -> str:
        try:
            return subprocess.check_output(command, stderr=subprocess.PIPE, text=True)
        except (OSError, subprocess.CalledProcessError) as error:
            code = getattr(error, "returncode", None)
            raise SecretError(f"{command[0]} failed (exit status {code})") from None


class Cache:
    """What this unit last read from the secret, in a file only root can read."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self, ref: SecretRef) -> dict[str, str] | None:
        """The cached content if it is that of `ref`, else None."""
        try:
            cached = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(cached, dict) or cached.get("id") != ref.id or cached.get("revision") != ref.revision:
            return None
        content = cached.get("content")
        return content if isinstance(content, dict) else None

    def write(self, ref: SecretRef, content: Mapping[str, str]) -> None:
        """Replace the cache atomically; the file is never readable by others, not even briefly."""
        handle, name = tempfile.mkstemp(prefix=".passwords-", dir=self.path.parent)  # created 0600
        with os.fdopen(handle, "w") as file:
            json.dump({"id": ref.id, "revision": ref.revision, "content": dict(content)}, file)
        os.replace(name, self.path)


def revision_of(content: Mapping[str, str]) -> int:
    value = content.get(REVISION, "1")  # the first revision may predate the key
    return int(value) if value.isdigit() else 0


def read(
    ref: SecretRef,
    tools: SecretTools,
    cache: Cache,
    wait: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, str]:
    """The secret's content at `ref`: from the cache, or from Juju (and then cached).

    Waits up to `wait` seconds for the leader's hook to commit the revision;
    SecretError if it is still not readable then (the next hook tries again).
    """
    content = cache.read(ref)
    wait = REVISION_WAIT if wait is None else wait
    waited = 0.0
    while content is None:
        try:
            found = tools.get(ref.id)
        except SecretError:
            found = None  # added by a leader hook that has not ended yet
        if found is not None and revision_of(found) >= ref.revision:
            content = found
            cache.write(ref, content)
        elif waited >= wait:
            raise SecretError(f"revision {ref.revision} of the passwords' secret is not readable yet")
        else:
            sleep(1.0)
            waited += 1.0
    return content


def create(leader_settings: Mapping[str, str | None], tools: SecretTools, cache: Cache) -> SecretRef:
    """The leader's first step: the secret with the default user's password (an upgrade keeps the old one)
    and the charm's own users' passwords."""
    default = leader_settings.get(LEGACY_PASSWORD) or generate_password()
    content = {DEFAULT_PASSWORD: default, **with_charm_users({}), REVISION: "1"}
    ref = SecretRef(tools.add(content, LABEL), 1)
    cache.write(ref, content)
    return ref


def with_clients(content: Mapping[str, str], applications: set[str]) -> dict[str, str]:
    """The content with a password for each of `applications`' users (kept, or new) and none for others."""
    wanted = {users.client_username(application) for application in applications}
    kept = {key: value for key, value in content.items() if not users.is_client_username(client_of(key))}
    kept |= {key: value for key, value in content.items() if client_of(key) in wanted}
    for name in sorted(users.client_username(application) for application in applications):
        kept[name] = content.get(name) or generate_password()
    return kept


def same_secret(one: str, other: str) -> bool:
    """Whether two ids name the same secret (`secret:ID`, `secret://MODEL/ID` or the bare ID)."""
    return one.rsplit("/", 1)[-1].removeprefix("secret:") == other.rsplit("/", 1)[-1].removeprefix("secret:")


def obsolete_revision(ref: SecretRef | None, ident: str, revision: str) -> int | None:
    """The revision of the passwords' secret Juju says no unit tracks any more, to remove (None: not ours).

    Every unit reads the latest revision, which holds every password still accepted (the
    old ones in their grace period included): an earlier revision only keeps retired ones.
    """
    if ref is None or not revision.isdigit() or not same_secret(ref.id, ident):
        return None
    return int(revision) if int(revision) < ref.revision else None


def with_charm_users(content: Mapping[str, str]) -> dict[str, str]:
    """The content with a password for each of the charm's own users (kept, or new: an upgrade adds them)."""
    return {**content, **{name: content.get(name) or generate_password() for name in users.CHARM_USERS}}


def charm_passwords(content: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Each of the charm's own users that has a password: the passwords it accepts, current first.

    Old ones too, expired or not, as for the clients' (see old_client_passwords).
    """
    return {
        name: (content[name], *(old.password for old in rotation.old_passwords(content, name)))
        for name in users.CHARM_USERS
        if content.get(name)
    }


def client_of(key: str) -> str:
    """The user a key of the secret's content belongs to: its current or its old passwords."""
    return rotation.owner(key) or key


def old_client_passwords(content: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Each client user's old passwords, as (user, password) pairs.

    Every one the secret holds, expired or not: the leader removes an expired one
    with a new revision, so that every unit applies the same users at the same time.
    """
    pairs = []
    for username, _ in client_passwords(content):
        pairs.extend((username, old.password) for old in rotation.old_passwords(content, username))
    return tuple(pairs)


def client_passwords(content: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Each client user and its password, from the secret's content."""
    return tuple(sorted((key, value) for key, value in content.items() if users.is_client_username(key)))


def update(ref: SecretRef, content: Mapping[str, str], tools: SecretTools, cache: Cache) -> SecretRef:
    """Write `content` as the secret's next revision (the leader's step); the reference to share."""
    new = SecretRef(ref.id, ref.revision + 1)
    content = {**content, REVISION: str(new.revision)}
    tools.set(ref.id, content)
    cache.write(new, content)
    return new


def leader_content(
    content: Mapping[str, str], applications: set[str], config: Mapping[str, object], now: float
) -> dict[str, str]:
    """The content the leader wants: a password per related application and per user of the charm's own,
    no expired old password,
    and the default user's password in effect recorded (the one it replaces kept for the grace period).

    With an invalid configuration nothing is recorded about the default user: no unit applies it.
    """
    wanted = rotation.forget_expired(with_charm_users(with_clients(content, applications)), now)
    try:
        parsed = settings.parse(config)
    except settings.InvalidOption:
        return wanted
    in_effect = parsed.password or wanted[DEFAULT_PASSWORD]
    return rotation.follow_default(wanted, in_effect, now, parsed.password_grace_period)
