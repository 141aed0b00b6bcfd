"""Actions about the passwords: get-admin-password, rotate-password, forget-old-passwords.

The password is printed on the action's standard output, which Juju keeps as
the `stdout` of the action's results (`juju run` shows it) and never logs.
`action-set` would do the same but takes its values as process arguments,
where any user of the machine could read them while it runs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from charms.layer.redis import credentials, ingress, rotation, settings, unit_facts, users, workload
from charms.layer.redis.run_action import ActionRefused, progress


def default_password() -> str:
    """The default user's password: the `password` option, else the one the leader generated."""
    from charmhelpers.core import hookenv

    configured = hookenv.config().get("password") or ""
    if configured:
        return configured
    shared = hookenv.leader_get() or {}
    if credentials.ref_from(shared) is None:
        legacy = shared.get(credentials.LEGACY_PASSWORD)
        if not legacy:
            raise ActionRefused("no password yet: the leader has not generated it")
        return legacy
    return read_secret()[1][credentials.DEFAULT_PASSWORD]


def password_cache() -> credentials.Cache:
    from charmhelpers.core import hookenv

    return credentials.Cache(Path(hookenv.charm_dir()) / credentials.CACHE_NAME)


def read_secret() -> tuple[credentials.SecretRef, dict[str, str]]:
    """The passwords' secret as the leader last shared it, and its content."""
    from charmhelpers.core import hookenv

    ref = credentials.ref_from(hookenv.leader_get() or {})
    if ref is None:
        raise ActionRefused("no password yet: the leader has not generated it")
    try:
        return ref, credentials.read(ref, credentials.HookSecretTools(), password_cache())
    except credentials.SecretError as error:
        raise ActionRefused(f"the passwords' secret cannot be read: {error}") from None


def admin_passwords() -> tuple[str, ...]:
    """The passwords the charm's admin user accepts, current first (none before the leader made them)."""
    from charmhelpers.core import hookenv

    if credentials.ref_from(hookenv.leader_get() or {}) is None:
        return ()
    return credentials.charm_passwords(read_secret()[1]).get(users.ADMIN_USER, ())


def admin_login() -> users.Login:
    """The charm's admin user and its password; the default user's before the leader made the admin user."""
    passwords = admin_passwords()
    return users.Login(users.ADMIN_USER, passwords[0]) if passwords else users.Login("default", default_password())


def get_admin_password(params: dict[str, Any]) -> dict[str, Any]:
    """Print the password of the charm's administrative user (`charm-admin`); results name the user."""
    login = admin_login()
    sys.stdout.write(login.password + "\n")
    sys.stdout.flush()
    return {"username": login.username}


def leader_only(action: str) -> None:
    from charmhelpers.core import hookenv

    if not hookenv.is_leader():
        leader = f"{hookenv.service_name()}/leader"
        raise ActionRefused(f"{action} runs on the leader only: run it as `juju run {leader} {action}`")


# rotate-password's `user` parameter: the charm's own users by their short names.
CHARM_USERS = {"admin": users.ADMIN_USER, "replication": users.REPLICATION_USER, "monitoring": users.MONITORING_USER}


def chosen_users(content: dict[str, str], application: str, user: str = "") -> list[str]:
    """The users to rotate: the charm's own `user`, else `application`'s, or every related application's."""
    if user:
        if application:
            raise ActionRefused("give application or user, not both: nothing rotated")
        if user not in CHARM_USERS or CHARM_USERS[user] not in content:
            allowed = ", ".join(CHARM_USERS)
            raise ActionRefused(f"user={user} is not one of the charm's users the leader made ({allowed})")
        return [CHARM_USERS[user]]
    related = [username for username, _ in credentials.client_passwords(content)]
    if not application:
        return related
    if users.client_username(application) not in related:
        names = ", ".join(sorted(name.removeprefix(users.CLIENT_PREFIX) for name in related)) or "none"
        raise ActionRefused(f"application={application} is not related to this application (related: {names})")
    return [users.client_username(application)]


def share(ref: credentials.SecretRef, content: dict[str, str]) -> credentials.SecretRef:
    """Write `content` as the secret's next revision, share it with the other units, apply it here."""
    from charmhelpers.core import hookenv

    ref = credentials.update(ref, content, credentials.HookSecretTools(), password_cache())
    # hookenv's leader_set, not the leadership layer's: this unit's next hook sees the change and converges.
    hookenv.leader_set(credentials.leader_values(ref, {}))
    apply_here(content)
    return ref


def apply_here(content: dict[str, str]) -> None:
    """Converge this unit's Redis on `content` now: the users live, then redis.conf (no restart for users)."""
    from charmhelpers.core import hookenv, unitdata

    kv = unitdata.kv()
    address = kv.get(ingress.KV_INGRESS) or hookenv.unit_private_ip()
    facts = unit_facts.gather(hookenv.config(), kv, address, content, None)
    outcome = workload.converge(facts, progress)
    if not outcome.ready:
        raise ActionRefused(f"the new passwords are shared, but this unit did not apply them: {outcome.message}")


def publish_here(content: dict[str, str], usernames: list[str]) -> None:
    """This unit's relation data gives each rotated application its new password."""
    from charmhelpers.core import hookenv

    for relation_id in hookenv.relation_ids("redis"):
        username = users.client_username(hookenv.remote_service_name(relation_id) or "")
        if username in usernames:
            hookenv.relation_set(relation_id, {"password": content[username]})


def rotate_password(params: dict[str, Any]) -> dict[str, Any]:
    """A new password for the chosen applications' users; the old one works until the grace period ends."""
    from charmhelpers.core import hookenv

    leader_only("rotate-password")
    ref, content = read_secret()
    usernames = chosen_users(content, str(params.get("application") or ""), str(params.get("user") or ""))
    if not usernames:
        raise ActionRefused("no application is related: there is no password to rotate")
    try:
        grace = settings.parse(hookenv.config()).password_grace_period
    except settings.InvalidOption as invalid:
        raise ActionRefused(f"nothing rotated: {invalid}") from None
    now = time.time()
    content = rotation.rotate(content, usernames, now, grace, credentials.generate_password)
    ref = share(ref, content)
    progress(f"New passwords for {', '.join(usernames)} accepted here and shared with every unit")
    publish_here(content, usernames)
    if grace == 0:
        for username in usernames:  # only these: other users' old passwords keep their own grace period
            content = rotation.with_old(content, username, ())
        share(ref, content)
        return {"rotated": " ".join(usernames), "old-passwords": "removed"}
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + grace))
    return {"rotated": " ".join(usernames), "old-passwords": f"accepted until {expires}"}


def forget_old_passwords(params: dict[str, Any]) -> dict[str, Any]:
    """Every old password kept by a rotation stops working now, on every unit."""
    leader_only("forget-old-passwords")
    ref, content = read_secret()
    forgotten = rotation.forget_all(content)
    owners = sorted(set(rotation.old_users(content)))
    if forgotten != content:
        share(ref, forgotten)
    return {"forgotten": " ".join(owners) or "none"}
