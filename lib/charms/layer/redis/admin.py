"""Talking to the local Redis as its administrator over the unix socket.

The socket, not TCP, so that a port or bind change never cuts the charm off
from the server it is reconfiguring. Every call has a timeout: a hung Redis
(stopped, swapping, saving) makes the hook report it, never wait on it.

redis-py is imported only by the functions that change Redis: importing it
costs about 80-100 ms (it pulls in asyncio), which hooks that never reach Redis
should not pay. The check every hook makes (`health`, `repair_drift`) uses
the small client of charms.layer.redis.resp instead, so that a hook with
nothing to do never imports redis-py.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from charms.layer.redis import conf, resp
from charms.layer.redis.users import ADMIN_USER, AclUser, Login, is_client_username

if TYPE_CHECKING:
    import redis

TIMEOUT = 5.0
# How the charm's Redis must see its default user: on, only the charm's
# password, every key, channel and command.
DEFAULT_USER_RULES = ("~*", "&*", "+@all")


# How the charm authenticates: a Login, or a password alone (the default user, as before users existed).
Credential = str | Login


def as_login(credential: Credential) -> Login:
    return credential if isinstance(credential, Login) else Login("default", credential)


def login_for(conf_text: str, admin_passwords: Sequence[str]) -> Credential:
    """How to log in to a Redis that runs `conf_text`: as the admin user, with a password its `user`
    line accepts; else (an upgrade from a revision without it) with the default user's password."""
    found = conf.directives(conf_text)
    lines = [line for line in found.get("user", "").split("\n") if line.startswith(f"{ADMIN_USER} ")]
    accepted = hashes_in(lines[0]) if lines else set()
    for password in admin_passwords:
        if password_hash(password) in accepted:
            return Login(ADMIN_USER, password)
    return found.get("requirepass", "")


class Unreachable(Exception):
    """The server did not answer, or not to this password; the message says which."""


class PasswordRefused(Unreachable):
    """The server answered but refused the password the charm set."""


class Refused(Exception):
    """The server answered a CONFIG SET with an error: it will not take that value."""


class StillSaving(Exception):
    """A snapshot or AOF rewrite did not finish within the time a hook may wait."""


class CannotSave(Exception):
    """Redis could not write its data to disk; the message says what failed (no secrets)."""


@dataclass(frozen=True)
class Health:
    """What an authenticated PING and INFO told about the server."""

    ok: bool
    version: str = ""
    run_id: str = ""
    problem: str = ""


def connect(socket: Path, password: Credential, timeout: float = TIMEOUT) -> redis.Redis:
    """A client that gives up after `timeout`: redis-py otherwise retries with back-off (several times as long)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    login = as_login(password)
    return redis.Redis(
        unix_socket_path=str(socket),
        username=None if login.username == "default" else login.username,
        password=login.password or None,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        decode_responses=True,
        retry=Retry(NoBackoff(), 0),
    )


@contextmanager
def session(socket: Path, password: Credential, timeout: float = TIMEOUT) -> Iterator[redis.Redis]:
    """An authenticated client; connection problems become Unreachable saying what happened."""
    import redis

    client = connect(socket, password, timeout)
    try:
        yield client
    except redis.AuthenticationError:
        raise PasswordRefused(
            "Redis refused the password the charm set (changed outside the charm? a restart restores it)"
        ) from None
    except redis.TimeoutError:
        raise Unreachable(f"Redis did not answer within {timeout:g} s") from None
    except redis.ConnectionError as error:
        raise Unreachable(f"Redis does not accept connections ({type(error).__name__})") from None
    finally:
        client.close()


@contextmanager
def light_session(socket: Path, password: Credential, timeout: float = TIMEOUT) -> Iterator[resp.Connection]:
    """`session` without redis-py: an authenticated connection, its problems raised as Unreachable.

    An error reply other than to the password is raised as resp.RedisReplyError.
    """
    try:
        connection = resp.Connection(socket, timeout)
        try:
            if password:
                authenticate(connection, password)
            yield connection
        finally:
            connection.close()
    except resp.RedisReplyError as error:
        if str(error).startswith(("WRONGPASS", "NOAUTH", "ERR invalid password")):
            raise PasswordRefused(
                "Redis refused the password the charm set (changed outside the charm? a restart restores it)"
            ) from None
        raise
    except TimeoutError:
        raise Unreachable(f"Redis did not answer within {timeout:g} s") from None
    except OSError:
        raise Unreachable("Redis does not accept connections (ConnectionError)") from None


# What Redis answers AUTH with when the default user needs no password (an open server: the charm may go on).
NO_PASSWORD_NEEDED = ("ERR AUTH <password> called without any password", "ERR Client sent AUTH, but no password is set")


def authenticate(connection: resp.Connection, password: Credential) -> None:
    login = as_login(password)
    if login.username != "default":
        connection.command("AUTH", login.username, login.password)
        return
    try:
        connection.command("AUTH", login.password)
    except resp.RedisReplyError as error:
        if not str(error).startswith(NO_PASSWORD_NEEDED):
            raise


def health(socket: Path, password: Credential, timeout: float = TIMEOUT) -> Health:
    """PING with the password, then the version and run_id from INFO server."""
    try:
        with light_session(socket, password, timeout) as connection:
            connection.command("PING")
            info = connection.info("server")
    except Unreachable as error:
        return Health(ok=False, problem=str(error))
    except resp.RedisReplyError as error:  # e.g. LOADING: not ready yet
        return Health(ok=False, problem=f"Redis answers {str(error).split()[0]}")
    return Health(ok=True, version=info.get("redis_version", ""), run_id=info.get("run_id", ""))


def config_set(socket: Path, password: Credential, changes: Mapping[str, str], timeout: float = TIMEOUT) -> None:
    """Apply directives to the running server, authenticated with its current password.

    Raises Refused (naming the directive, never its value) when Redis rejects one,
    and Unreachable when it cannot be asked.
    """
    import redis

    with session(socket, password, timeout) as client:
        for name, value in changes.items():
            try:
                client.config_set(name, value)
            except redis.ResponseError as error:
                raise Refused(f"{name}: {str(error).split(' - ')[-1][:120]}") from None


def persistence(client: redis.Redis) -> dict[str, str]:
    return {name: str(value) for name, value in client.info("persistence").items()}


def save_problem(info: Mapping[str, str]) -> str:
    """Why the data on disk is not current, from INFO persistence; empty when it is."""
    if info.get("aof_enabled") == "1" and info.get("aof_last_write_status", "ok") != "ok":
        return "its last write to the append-only file failed"
    if info.get("aof_last_bgrewrite_status", "ok") != "ok":
        return "its last append-only file rewrite failed"
    if info.get("rdb_last_bgsave_status", "ok") != "ok":
        return "its last snapshot failed"
    return ""


def busy_saving(info: Mapping[str, str]) -> bool:
    return any(info.get(name) == "1" for name in ("rdb_bgsave_in_progress", "aof_rewrite_in_progress")) or (
        info.get("aof_rewrite_scheduled") == "1"
    )


def wait_idle(client: redis.Redis, wait: float) -> dict[str, str]:
    """INFO persistence once no snapshot or AOF rewrite runs; StillSaving after `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        info = persistence(client)
        if not busy_saving(info):
            return info
        if time.monotonic() >= deadline:
            raise StillSaving(f"Redis is still writing its data to disk after {wait:g} s")
        time.sleep(0.1)


def make_durable(socket: Path, password: Credential, wait: float, timeout: float = TIMEOUT) -> None:
    """Before a restart: make sure what Redis acknowledged is on disk, or say why it cannot be.

    With the append-only file on, Redis reloads from it: its writes must be
    succeeding. With snapshots only, a fresh snapshot must succeed (Redis takes
    one more as it stops). Raises CannotSave, StillSaving or Unreachable.
    """
    with session(socket, password, timeout) as client:
        info = wait_idle(client, wait)
        aof = info.get("aof_enabled") == "1"
        if not aof and not client.config_get("save").get("save"):
            return  # no persistence configured: nothing on disk to keep current
        problem = save_problem(info)
        if problem and not (problem == "its last snapshot failed" and not aof):
            raise CannotSave(problem)
        if aof:
            return
        info = snapshot(client, wait)
        if info.get("rdb_last_bgsave_status") != "ok":
            raise CannotSave("it could not write a snapshot")


# How Redis refuses a BGSAVE while it writes a snapshot of its own, or rewrites the append-only file.
BUSY_REFUSALS = ("in progress", "Another child process is active")


def snapshot(client: redis.Redis, wait: float) -> dict[str, str]:
    """Take a snapshot: INFO persistence once it has ended (well or not); StillSaving after `wait` seconds.

    Only the end of a snapshot taken for this BGSAVE tells that the data is on disk:
    one Redis was already writing may be streamed to a replica, never to disk, and
    Redis times its saves in whole seconds, so which save ended cannot be told from
    their times.
    """
    import redis

    deadline = time.monotonic() + wait
    while True:
        try:
            client.execute_command("BGSAVE")  # without SCHEDULE: a refusal when it cannot start now
        except redis.ResponseError as error:
            if not any(refusal in str(error) for refusal in BUSY_REFUSALS):
                raise CannotSave(f"it refused to take a snapshot ({str(error)[:80]})") from None
            wait_snapshot(client, deadline, wait)  # Redis's own first, then ours
            continue
        return wait_snapshot(client, deadline, wait)


def wait_snapshot(client: redis.Redis, deadline: float, wait: float) -> dict[str, str]:
    """INFO persistence once Redis writes nothing to disk; StillSaving at `deadline`, said as `wait` seconds."""
    while True:
        info = persistence(client)
        if not busy_saving(info):
            return info
        if time.monotonic() >= deadline:
            raise StillSaving(f"Redis is still writing a snapshot after {wait:g} s")
        time.sleep(0.1)


def wait_for_aof(socket: Path, password: Credential, wait: float, timeout: float = TIMEOUT) -> None:
    """Once appendonly was set live: wait until the append-only file holds the whole dataset."""
    with session(socket, password, timeout) as client:
        info = wait_idle(client, wait)
        if info.get("aof_enabled") != "1" or info.get("aof_last_bgrewrite_status") != "ok":
            raise CannotSave("it could not write the append-only file")


def password_hash(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def default_user_drifted(connection: resp.Connection, password: str) -> bool:
    """Whether the default user is anything but on, with only this password, and every right."""
    reply = connection.command("ACL", "GETUSER", "default")
    # A flat list of pairs: flags and passwords are lists, the rules strings.
    fields = dict(zip(reply[::2], reply[1::2], strict=False)) if isinstance(reply, list) else {}
    flags = set(fields.get("flags") or [])
    rules = (fields.get("keys"), fields.get("channels"), fields.get("commands"))
    return (
        "on" not in flags
        or "nopass" in flags
        or list(fields.get("passwords") or []) != [password_hash(password)]
        or rules != DEFAULT_USER_RULES
    )


# A disabled user that Redis normalises the charm's rules on, to compare them with a running user's.
SCRATCH_USER = "charm-rules-check"


def acl_lines(connection: resp.Connection) -> dict[str, str]:
    """Each user's ACL LIST line, by name."""
    return {line.split()[1]: line for line in connection.command("ACL", "LIST")}


def normalised(connection: resp.Connection, user: AclUser) -> str:
    """The ACL LIST line Redis shows for `user`; Refused (naming client-permissions) if Redis rejects its rules."""
    modifiers = ["off" if modifier == "on" else modifier for modifier in user.modifiers()]
    try:
        connection.command("ACL", "SETUSER", SCRATCH_USER, *modifiers)
    except resp.RedisReplyError as error:
        raise Refused(f"client-permissions: {str(error)[:160]}") from None
    try:
        line = acl_lines(connection)[SCRATCH_USER].split()
    finally:
        connection.command("ACL", "DELUSER", SCRATCH_USER)
    return " ".join(["user", user.name, "on", *line[3:]])


def hashes_in(line: str) -> set[str]:
    return {token[1:] for token in line.split() if token.startswith("#")}


def sync_acl(client: resp.Connection, wanted: Sequence[AclUser]) -> list[str]:
    """Make the users match `wanted`: set those that differ, delete client users no longer wanted.

    Deleting a user closes its connections. Clients that authenticated as the
    default user with a removed application's password are closed too (which
    password a connection used is not known: every password-only client
    reconnects once). Returns what changed, by user name.
    """
    live = acl_lines(client)
    differing = [user for user in wanted if live.get(user.name) != normalised(client, user)]
    changed = [f"{user.name} user ACL" for user in differing]
    # The default user last: logged in as it (before the admin user existed), this connection
    # loses the rights to change the others once it has the client rules.
    for user in differing:
        if user.name != "default":
            client.command("ACL", "SETUSER", user.name, *user.modifiers())
    names = {user.name for user in wanted}
    revoked: set[str] = set()
    for name, line in live.items():
        if is_client_username(name) and name not in names:
            client.command("ACL", "DELUSER", name)
            revoked |= hashes_in(line)
            changed.append(f"{name} user removed")
    for user in differing:
        if user.name == "default":
            client.command("ACL", "SETUSER", user.name, *user.modifiers())
    if revoked & hashes_in(live.get("default", "")):
        for kind in ("normal", "pubsub"):
            client.command("CLIENT", "KILL", "USER", "default", "TYPE", kind, "SKIPME", "yes")
    return changed


def set_password_with_users(
    socket: Path, password: Credential, new: str, default: AclUser, timeout: float = TIMEOUT
) -> None:
    """CONFIG SET requirepass `new` and the whole default user in one transaction: no client sees it between."""
    with light_session(socket, password, timeout) as connection:
        try:
            connection.command("MULTI")
            connection.command("CONFIG", "SET", "requirepass", new)
            connection.command("ACL", "SETUSER", default.name, *default.modifiers())
            connection.command("EXEC")  # a command that failed in it is raised as its error reply
        except resp.RedisReplyError as error:
            raise Refused(f"password: {str(error).split()[0]}") from None


def check_users(socket: Path, password: Credential, wanted: Sequence[AclUser], timeout: float = TIMEOUT) -> None:
    """Refused (naming client-permissions) if Redis rejects a user's rules; nothing is changed."""
    with light_session(socket, password, timeout) as connection:
        for user in wanted:
            normalised(connection, user)


def add_user(socket: Path, password: Credential, user: AclUser, timeout: float = TIMEOUT) -> None:
    """Make `user` as wanted, touching no other (the admin user, on a Redis that does not have it yet)."""
    with light_session(socket, password, timeout) as connection:
        connection.command("ACL", "SETUSER", user.name, *user.modifiers())


def sync_users(socket: Path, password: Credential, wanted: Sequence[AclUser], timeout: float = TIMEOUT) -> list[str]:
    """sync_acl over the admin socket."""
    with light_session(socket, password, timeout) as connection:
        return sync_acl(connection, wanted)


def repair_drift(
    socket: Path,
    password: Credential,
    expected: Mapping[str, str],
    timeout: float = TIMEOUT,
    users: Sequence[AclUser] = (),
) -> list[str]:
    """Put back what was changed outside the charm; the names of what was repaired (no values).

    `expected` maps the watched directives to the values CONFIG GET must show.
    The role comes first: a replica of somewhere else refuses writes. A
    cluster node's role is the cluster's business (its replicas are placed by
    the charm), so it is left alone there.
    """
    repaired = []
    with light_session(socket, password, timeout) as connection:
        cluster = connection.info("cluster").get("cluster_enabled") == "1"
        if not cluster and connection.info("replication").get("role") != "master":
            connection.command("REPLICAOF", "NO", "ONE")
            repaired.append("replication role (was a replica)")
        # CONFIG SET requirepass leaves the default user that one password: before the users are put back.
        first = {name: value for name, value in expected.items() if name == "requirepass"}
        repaired.extend(repair_directives(connection, first))
        if users:
            repaired.extend(sync_acl(connection, users))
        elif default_user_drifted(connection, as_login(password).password):
            secret = f"#{password_hash(as_login(password).password)}"
            connection.command("ACL", "SETUSER", "default", "reset", "on", secret, *DEFAULT_USER_RULES)
            repaired.append("default user ACL")
        repaired.extend(repair_directives(connection, {k: v for k, v in expected.items() if k not in first}))
    return repaired


def repair_directives(connection: resp.Connection, expected: Mapping[str, str]) -> list[str]:
    """CONFIG SET each directive whose CONFIG GET differs from `expected`; their names."""
    repaired = []
    for name, value in expected.items():
        reply = connection.command("CONFIG", "GET", name)
        if dict(zip(reply[::2], reply[1::2], strict=False)).get(name) != value:
            connection.command("CONFIG", "SET", name, value)
            repaired.append(name)
    return repaired
