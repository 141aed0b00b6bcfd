"""Bring this unit's Redis to what the configuration asks for, and say how it went.

`resolve()` is pure: configuration and leader settings in, validated settings and
the password to use (or the reason there are none) out. `converge()` then does
the work: install, render, apply each change the way Redis allows (CONFIG SET
where it can, one restart where it cannot, nothing when nothing changed), and
checks the result with an authenticated PING. A change Redis refuses, or a
restart that does not come up, leaves the previous configuration running.
Neither function calls Juju.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from charms.layer.redis import admin, conf, service, settings, users
from charms.layer.redis.conf import Layout
from charms.layer.redis.settings import Settings
from charms.layer.redis.tls import Files

Progress = Callable[[str], None]
# The longest a hook waits for a snapshot or an AOF rewrite before it postpones
# what needed it to the next hook.
SAVE_WAIT = 60.0
# How long a hook that changed nothing waits for Redis to answer; after a
# (re)start Redis may be loading its data and gets START_WAIT.
ANSWER_WAIT = 5.0
START_WAIT = 30.0
# ACL users (the charm's own, the applications') came with Redis 6.
ACL_SINCE = (6, 0, 0)


@dataclass(frozen=True)
class Facts:
    """What Juju told this unit, gathered at the edge.

    `installed` is the installation key (see `installation_key`) of what the
    unit installed last, None before the first install.
    """

    config: Mapping[str, Any]
    leader_password: str | None
    ingress: str
    deployed_cluster_enabled: bool | None = None
    installed: str | None = None
    machine_memory: int | None = None
    # The port this unit's cluster node was formed or joined with (None: not in a cluster).
    cluster_port: int | None = None
    # The certificate files once a provider issued this unit's certificate (None: no TLS).
    tls: Files | None = None
    # Each related application's user and its password (from the leader's secret).
    client_passwords: tuple[tuple[str, str], ...] = ()
    # Old passwords a client user still accepts during a rotation, as (user, password) pairs.
    old_client_passwords: tuple[tuple[str, str], ...] = ()
    # The default user's passwords it still accepts beside the current one (a `password` change's grace period).
    old_default_passwords: tuple[str, ...] = ()
    # Each of the charm's own users and the passwords it accepts, current first (none before the leader made them).
    charm_passwords: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Desired:
    """Valid settings and the password that goes with them."""

    settings: Settings
    password: str
    # The ACL users Redis must have (the default user first); none: the default user only, as before users.
    users: tuple[users.AclUser, ...] = ()
    charm_passwords: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def accepted(self, username: str) -> tuple[str, ...]:
        """The passwords one of the charm's own users accepts, current first (none before the leader made it)."""
        return dict(self.charm_passwords).get(username, ())

    def charm_login(self, username: str) -> users.Login | None:
        """One of the charm's own users with its current password (None before the leader made it)."""
        passwords = self.accepted(username)
        return users.Login(username, passwords[0]) if passwords else None

    def as_user(self, username: str) -> users.Login:
        """The login of the charm's own user `username`; the default user's before the leader made it."""
        return self.charm_login(username) or users.Login("default", self.password)

    def login(self, running: str, layout: Layout) -> admin.Credential:
        """How the charm logs in to a Redis running the redis.conf text `running`."""
        return admin.login_for(running, known_admin_passwords(layout, self.accepted(users.ADMIN_USER)))


def admin_file(layout: Layout) -> Path:
    """The admin user's passwords redis.conf was last written with, root's only: a unit that missed a
    rotation (offline past the grace period) still logs in to the Redis it left, to apply the new one."""
    return layout.conf.with_name(".charm-admin-passwords")


def known_admin_passwords(layout: Layout, admin_passwords: tuple[str, ...]) -> tuple[str, ...]:
    try:
        remembered = json.loads(admin_file(layout).read_text())
    except (OSError, ValueError):
        remembered = []
    kept = (password for password in remembered if isinstance(password, str)) if isinstance(remembered, list) else ()
    return tuple(dict.fromkeys((*admin_passwords, *kept)))


def remember_admin(layout: Layout, admin_passwords: tuple[str, ...]) -> None:
    if admin_passwords:
        service.write_file(admin_file(layout), json.dumps(list(admin_passwords)), 0o600, 0, 0)


@dataclass(frozen=True)
class Outcome:
    """The workload status to report, and what the edge should remember and publish."""

    status: str
    message: str
    desired: Desired | None = None
    version: str = ""
    installed: str | None = None
    # A failure the next hook may get past (an install, a first start); not set
    # when the previous configuration was restored, which retrying would only
    # restart again and again.
    retry: bool = False
    # What was found changed outside the charm and put back (names, never values).
    repaired: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        return self.status == "active"


def resolve(facts: Facts) -> Desired | Outcome:
    """The settings to apply, or the blocked/waiting outcome explaining why there are none."""
    try:
        parsed = settings.parse(facts.config, facts.deployed_cluster_enabled, facts.machine_memory)
    except settings.InvalidOption as invalid:
        return Outcome("blocked", str(invalid), installed=facts.installed)
    # The cluster knows a node with a TLS bus by its tls-port, any other by its port.
    option, known = ("tls-port", parsed.tls_port) if facts.tls is not None and facts.tls.bus else ("port", parsed.port)
    if parsed.cluster_enabled and facts.cluster_port not in (None, known):
        # Every node stores its peers' ports in nodes.conf: a new one would cut this node off.
        allowed = f"is fixed at {facts.cluster_port} once the unit is in a Redis Cluster; set it back"
        return Outcome("blocked", str(settings.InvalidOption(option, allowed)), installed=facts.installed)
    if facts.tls is not None and parsed.tls_port == parsed.port:
        # Only with a certificate: a unit without TLS never listens on tls-port.
        allowed = f"must differ from port ({parsed.port}) while a certificate provider is related"
        return Outcome("blocked", str(settings.InvalidOption("tls-port", allowed)), installed=facts.installed)
    password = parsed.password or facts.leader_password
    if not password:
        return Outcome("waiting", "Waiting for the leader to generate the password", installed=facts.installed)
    clients, rules = dict(facts.client_passwords), parsed.client_permissions
    charm = dict(facts.charm_passwords)
    acl = users.wanted(password, clients, rules, facts.old_client_passwords, facts.old_default_passwords, charm)
    return Desired(parsed, password, acl, facts.charm_passwords)


def render(desired: Desired, facts: Facts, layout: Layout) -> str:
    replication = desired.charm_login(users.REPLICATION_USER)
    return conf.render(desired.settings, desired.password, facts.ingress, layout, facts.tls, desired.users, replication)


def too_old(version: tuple[int, int, int], parsed: Settings) -> str:
    option = "snap-channel" if parsed.install_source == "snap" else "install-source"
    found = ".".join(map(str, version))
    return f"{option}: Redis {found} has no ACL users; the charm needs Redis 6 or newer (it keeps what runs)"


def installation_key(parsed: Settings) -> str:
    """What identifies an installation: the source and, for a snap, everything snapd was told."""
    if parsed.install_source == "apt":
        return "apt"
    options = (parsed.snap_name, parsed.snap_channel, parsed.snap_proxy, parsed.snap_proxy_url, parsed.snapd_refresh)
    return "snap\n" + "\n".join(options)


def layout_of(key: str | None) -> Layout:
    """Where the installation with this key keeps its files (apt's before anything is installed)."""
    if key is None or key == "apt":
        return service.APT_LAYOUT
    return service.snap_layout(key.split("\n")[1])


def layout_for(parsed: Settings) -> Layout:
    return layout_of(installation_key(parsed))


def replaced_layout(installed: str | None, parsed: Settings) -> Layout | None:
    """The installation that the configured one replaces, when it runs as another service."""
    if installed is None:
        return None
    previous = layout_of(installed)
    return None if previous.service == layout_for(parsed).service else previous


def install(parsed: Settings, installed: str | None, progress: Progress) -> None:
    """Install Redis as configured; when the service changes, stop and disable the old one.

    Both installations listen on the same port, so the old one must stop before
    the new one starts; `converge` brings it back if the new one fails.
    """
    progress(f"Installing Redis ({parsed.install_source})")
    if parsed.install_source == "snap":
        service.install_snap(
            parsed.snap_name, parsed.snap_channel, parsed.snap_proxy, parsed.snap_proxy_url, parsed.snapd_refresh
        )
    else:
        service.install_apt()
    previous = replaced_layout(installed, parsed)
    if previous is not None:
        try:
            service.systemctl("disable", previous.service, "--now")
        except service.ServiceError:
            if service.is_active(previous.service):
                raise  # still holding the port: the new Redis could not start


def bring_back(previous: Layout | None) -> str:
    """After a failed change of installation, start the previous one again; say how that went."""
    if previous is None:
        return ""
    try:
        service.systemctl("enable", previous.service, "--now")
    except service.ServiceError:
        return "; the previous Redis could not be started again"
    return "; the previous Redis keeps serving"


def apply(
    plan: conf.Plan,
    layout: Layout,
    running: str | None,
    rendered: str,
    progress: Progress,
    fresh: bool = False,
    acl: tuple[users.AclUser, ...] = (),
    admin_passwords: tuple[str, ...] = (),
) -> bool:
    """Carry out `plan`: CONFIG SET then rewrite the file, or rewrite and (re)start once.

    Returns whether Redis was (re)started. A value Redis refuses raises
    admin.Refused before the file is touched. A Redis that runs but does not
    answer raises admin.Unreachable: it is never restarted over, it may be
    saving. Before restarting a running Redis, what it acknowledged must be on
    disk (admin.CannotSave, admin.StillSaving otherwise), unless it is a
    `fresh` installation, which holds no data of the unit's yet.
    """
    password = admin.login_for(running or "", known_admin_passwords(layout, admin_passwords))
    active = service.is_active(layout.service)
    if plan.users and active:
        admin.check_users(layout.unixsocket, password, acl)  # before anything changes
        password = ensure_admin(layout, password, acl, admin_passwords)
    if "requirepass" in plan.live and plan.users and active and acl:
        # CONFIG SET requirepass leaves the default user that one password: its others (old ones
        # in their grace period, the applications') are set in the same transaction.
        admin.set_password_with_users(layout.unixsocket, password, plan.live["requirepass"], acl[0])
        if not isinstance(password, users.Login):
            password = plan.live["requirepass"]
        plan = replace(plan, live={k: v for k, v in plan.live.items() if k != "requirepass"})
    if plan.live:
        try:
            admin.config_set(layout.unixsocket, password, plan.live)
        except admin.Unreachable:
            if active:
                raise
            plan = conf.Plan(restart=True, changed=plan.changed)
        else:
            if "requirepass" in plan.live and not isinstance(password, users.Login):
                password = plan.live["requirepass"]
            if plan.live.get("appendonly") == "yes":
                admin.wait_for_aof(layout.unixsocket, password, SAVE_WAIT)
    if plan.users and active:
        admin.sync_users(layout.unixsocket, password, acl)
        password = admin.login_for(rendered, admin_passwords)
    if plan.restart and active and not fresh:
        prepare_restart(layout, password, running, rendered)
    service.write_config(layout, rendered)
    remember_admin(layout, admin_passwords)
    if plan.restart or not active:
        progress("Restarting Redis" if active else "Starting Redis")
        service.systemctl("restart", layout.service)
        return True
    return False


def ensure_admin(
    layout: Layout, login: admin.Credential, acl: tuple[users.AclUser, ...], admin_passwords: tuple[str, ...]
) -> admin.Credential:
    """On a Redis without the charm's admin user (upgraded from a revision without it): make it with
    the default user's password, which still has every right, and log in as it from then on."""
    wanted = [user for user in acl if user.name == users.ADMIN_USER]
    if isinstance(login, users.Login) or not wanted or not admin_passwords:
        return login
    admin.add_user(layout.unixsocket, login, wanted[0])
    return users.Login(users.ADMIN_USER, admin_passwords[0])


def prepare_restart(layout: Layout, password: admin.Credential, running: str | None, rendered: str) -> None:
    """Make a restart keep every acknowledged write.

    A Redis that starts with appendonly on loads only the append-only file, so
    it is switched on live and written out first; otherwise a snapshot must
    succeed now.
    """
    before, after = conf.directives(running or ""), conf.directives(rendered)
    if before.get("appendonly") != "yes" and after.get("appendonly") == "yes":
        admin.config_set(layout.unixsocket, password, {"appendonly": "yes"})
        admin.wait_for_aof(layout.unixsocket, password, SAVE_WAIT)
    admin.make_durable(layout.unixsocket, password, SAVE_WAIT)


def restore(layout: Layout, running: str, progress: Progress) -> None:
    """Put the configuration Redis last ran with back, and restart with it."""
    progress("Restoring the previous Redis configuration")
    service.write_config(layout, running)
    service.systemctl("restart", layout.service)


def converge(facts: Facts, progress: Progress) -> Outcome:
    """Make the running Redis match the configuration; report the result."""
    desired = resolve(facts)
    if isinstance(desired, Outcome):
        return desired
    parsed, key = desired.settings, installation_key(desired.settings)
    layout = layout_for(parsed)
    try:
        if facts.installed != key:
            install(parsed, facts.installed, progress)
    except service.ServiceError as error:
        message = f"install-source: {error}{bring_back(replaced_layout(facts.installed, parsed))}"
        return Outcome("blocked", message, desired, "", facts.installed, retry=True)
    repaired = tuple(service.restore_ownerships(layout))
    running = service.read_config(layout)
    rendered = render(desired, facts, layout)
    version = service.installed_version(layout)
    if (0, 0, 0) < version < ACL_SINCE:
        return Outcome("blocked", too_old(version, parsed), desired, "", key)
    plan = conf.plan(running, rendered, version)
    try:
        unchanged = plan.unchanged and service.is_active(layout.service)
    except service.NoAnswer as error:
        return Outcome("blocked", str(error), desired, "", key, retry=True)
    if unchanged:
        outcome = watch(desired, layout, rendered, key, ANSWER_WAIT)
    else:
        outcome = change(facts, desired, layout, plan, running, rendered, progress)
    # Again afterwards: a directory the charm had to create gets the package's mode and owners.
    return with_repairs(outcome, repaired + tuple(service.restore_ownerships(layout)))


def change(
    facts: Facts,
    desired: Desired,
    layout: Layout,
    plan: conf.Plan,
    running: str | None,
    rendered: str,
    progress: Progress,
) -> Outcome:
    """Apply a plan that changes something; on failure keep or bring back what ran before."""
    key = installation_key(desired.settings)
    options = conf.describe(plan.changed)
    try:
        admin_passwords = desired.accepted(users.ADMIN_USER)
        fresh = facts.installed != key
        restarted = apply(plan, layout, running, rendered, progress, fresh, desired.users, admin_passwords)
    except admin.Refused as refused:
        return Outcome("blocked", f"Redis refused {refused}; it keeps its configuration", desired, "", key)
    except admin.CannotSave as error:
        message = (
            f"{options} needs a restart, refused: Redis cannot save ({error}), a restart would lose data; "
            f"free space in {layout.data_dir} (the charm retries at each hook)"
        )
        return Outcome("blocked", message, desired, "", key, retry=True)
    except admin.StillSaving as error:
        return Outcome("waiting", f"{options} waits: {error}", desired, "", key, retry=True)
    except admin.Unreachable as error:
        return Outcome(
            "blocked", f"{options} not applied: {error}; Redis was left running", desired, "", key, retry=True
        )
    except service.NoAnswer as error:
        return Outcome("blocked", f"{options}: {error}", desired, "", key, retry=True)
    except service.ServiceError as error:
        failed = f"{options} needs a restart, which failed: {error}"
        return switch_back(failed, facts, desired) or recover(failed, desired, layout, running, key, progress)
    outcome = watch(desired, layout, rendered, key, START_WAIT if restarted else ANSWER_WAIT)
    if restarted and not outcome.ready:
        failed = f"{options} needs a restart, which did not come up ({outcome.message})"
        return switch_back(failed, facts, desired) or recover(failed, desired, layout, running, key, progress)
    return outcome


def switch_back(problem: str, facts: Facts, desired: Desired) -> Outcome | None:
    """When a new installation did not come up, start the previous one again (None: no switch)."""
    previous = replaced_layout(facts.installed, desired.settings)
    if previous is None:
        return None
    return Outcome("blocked", f"{problem}{bring_back(previous)}", desired, "", facts.installed)


def recover(
    problem: str, desired: Desired, layout: Layout, running: str | None, key: str, progress: Progress
) -> Outcome:
    """The new configuration did not come up: go back to the one Redis ran with, if any."""
    if running is None:
        return Outcome("blocked", problem, desired, "", key, retry=True)
    try:
        restore(layout, running, progress)
    except service.ServiceError as error:
        return Outcome("blocked", f"{problem}; restoring the previous configuration failed: {error}", desired, "", key)
    return Outcome("blocked", f"{problem}; Redis runs with its previous configuration", desired, "", key)


def check(
    desired: Desired,
    layout: Layout,
    installed: str | None,
    timeout: float = START_WAIT,
    password: admin.Credential | None = None,
) -> Outcome:
    """An authenticated PING, retried while Redis starts: active only if it answers.

    No single attempt waits longer than `timeout` either, so a hung Redis
    costs the hook `timeout` seconds and is named in the status.
    """
    result: list[admin.Health] = []
    secret = desired.password if password is None else password

    def answers() -> bool:
        result.append(admin.health(layout.unixsocket, secret, min(admin.TIMEOUT, timeout)))
        return result[-1].ok

    if service.wait_until(answers, timeout=timeout, interval=0.2):
        version = result[-1].version
        return Outcome("active", f"Ready (redis {version})", desired, version, installed)
    try:
        state = "running" if service.is_active(layout.service) else "not running"
    except service.NoAnswer:
        state = "in an unknown state (systemd does not answer)"
    return Outcome("blocked", f"Redis is {state}: {result[-1].problem}", desired, "", installed)


def watch(desired: Desired, layout: Layout, reference: str, installed: str | None, timeout: float) -> Outcome:
    """Check Redis answers, and put back live what was changed outside the charm.

    `reference` is the redis.conf Redis should be running with: its watched
    directives, the default user's ACL and the master role are compared with
    the running server.
    """
    password = desired.login(reference, layout)
    outcome = check(desired, layout, installed, timeout, password)
    if not outcome.ready:
        return outcome
    try:
        # The users of `reference`: on a hook that only checks, those Redis runs with (the
        # desired ones may need a login that exists only once a converge applied them).
        acl = users.from_conf(reference)
        repaired = admin.repair_drift(layout.unixsocket, password, conf.watched(reference), timeout, acl)
    except (admin.Unreachable, admin.Refused) as error:
        return Outcome("blocked", f"Redis drifted from its configuration and {error}", desired, "", installed)
    return with_repairs(outcome, tuple(repaired))


def with_repairs(outcome: Outcome, repaired: tuple[str, ...]) -> Outcome:
    """The outcome, with `repaired` first among what its message says was repaired."""
    if not repaired:
        return outcome
    names = repaired + outcome.repaired
    message = f"{outcome.message.split('; repaired: ')[0]}; repaired: {', '.join(names)}"
    return Outcome(outcome.status, message, outcome.desired, outcome.version, outcome.installed, outcome.retry, names)


def pending_options(facts: Facts, desired: Desired, layout: Layout, running: str) -> list[str]:
    """The options the configuration asks for that are not in effect."""
    if facts.installed != installation_key(desired.settings):
        return ["install-source"]
    rendered = render(desired, facts, layout)
    return conf.options_of(conf.changed_directives(running, rendered))


def report(facts: Facts, problem: str | None, timeout: float = 2.0) -> Outcome:
    """On a hook that changes nothing: the unit's status, repairing what drifted.

    `problem` is what the last change that did not take effect said; it stays
    the status for as long as the configuration asks for something not running.
    """
    desired = resolve(facts)
    if isinstance(desired, Outcome):
        return desired
    layout = layout_of(facts.installed)
    repaired = tuple(service.restore_ownerships(layout))
    running = service.read_config(layout)
    if running is None:
        return Outcome("blocked", problem or "Redis is not configured yet", desired, "", facts.installed, retry=True)
    outcome = with_repairs(watch(desired, layout, running, facts.installed, timeout), repaired)
    pending = pending_options(facts, desired, layout, running)
    if outcome.ready and pending:
        message = problem or f"{', '.join(pending)} not in effect yet"
        return with_repairs(Outcome("blocked", message, desired, "", facts.installed), outcome.repaired)
    return outcome
