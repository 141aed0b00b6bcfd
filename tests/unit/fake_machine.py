"""One unit's systemd, redis.conf and Redis server, in memory, for tests of workload.converge.

The fake server answers only with the password it runs with (the requirepass
of the file it was last started with, or the one set live since), as a real
Redis does: a converge that authenticates with the wrong password fails here
as it would on a unit. It can also be made to hang, to fail its saves, to be
still saving, or to have drifted from what the charm manages.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from charms.layer.redis import admin, conf, service, users


@dataclass
class FakeMachine:
    """systemd, the config file and the Redis server of one unit, in memory."""

    config: str | None = None
    active: bool = True
    refuse: set[str] = field(default_factory=set)
    actions: list[str] = field(default_factory=list)
    live: dict[str, str] = field(default_factory=dict)
    install_fails: bool = False
    broken_services: set[str] = field(default_factory=set)
    # The server refuses connections (it is not there).
    unreachable: bool = False
    # What the running server authenticates with; a stock Redis has no password.
    password: str = ""
    progress: list[str] = field(default_factory=list)
    timeouts: list[float] = field(default_factory=list)
    intervals: list[float] = field(default_factory=list)
    # False: the server runs but does not answer PING.
    answers: bool = True
    # A running Redis that does not answer at all (SIGSTOP): every call times out.
    hung: bool = False
    # Why Redis cannot write its data to disk (a full disk), or None when it can.
    cannot_save: str | None = None
    still_saving: bool = False
    # What someone changed on the running server (names the charm must repair).
    drifted: list[str] = field(default_factory=list)
    # Files whose mode or owner someone changed.
    bad_modes: list[str] = field(default_factory=list)
    aof_written: bool = False
    # The ACL users the running server has (set live or loaded from the file at start).
    users: tuple[users.AclUser, ...] = ()
    # ACL rules this server does not know (ACL SETUSER refuses them).
    unknown_rules: set[str] = field(default_factory=set)
    # The default user's password hashes after each change to the server's users, in order.
    default_hashes_seen: list[tuple[str, ...]] = field(default_factory=list)

    # False: systemd does not answer (systemctl is-active times out).
    systemd_answers: bool = True

    def is_active(self, name: str) -> bool:
        if not self.systemd_answers:
            raise service.NoAnswer("systemctl is-active redis-server did not answer within 600 s")
        return self.active and name not in self.broken_services

    def systemctl(self, action: str, name: str, *options: str) -> None:
        self.actions.append(" ".join((action, name, *options)))
        if name in self.broken_services:
            raise service.ServiceError(f"systemctl {action} {name} failed: Unit {name} not found.")
        if action in ("restart", "start"):
            # This fake Redis cannot start with 99 databases.
            self.active = "databases 99" not in (self.config or "")
            self.password = conf.directives(self.config or "").get("requirepass", "")
            self.set_users(tuple(self.rendered_users()))

    def set_users(self, changed: tuple[users.AclUser, ...]) -> None:
        self.users = changed
        self.default_hashes_seen += [user.password_hashes for user in changed if user.name == "default"]

    def rendered_users(self) -> list[users.AclUser]:
        """The users the config file's `user` lines make (names and rules; hashes as written)."""
        found = []
        for line in conf.directives(self.config or "").get("user", "").splitlines():
            name, _, _, *modifiers = line.split()  # name reset on ...
            hashes = tuple(m[1:] for m in modifiers if m.startswith("#"))
            found.append(users.AclUser(name, hashes, tuple(m for m in modifiers if not m.startswith("#"))))
        return found

    def answer(self, password: str) -> None:
        """Raise as redis-py would when this server cannot serve an authenticated call."""
        if self.hung:
            raise admin.Unreachable("Redis did not answer within 5 s")
        if self.unreachable or not self.active or password != self.password:
            raise admin.Unreachable("ConnectionError")

    def config_set(self, socket: object, password: str, changes: dict[str, str], timeout: float = 5) -> None:
        self.answer(password)
        for name in changes:
            if name in self.refuse:
                raise admin.Refused(f"{name}: Unable to listen on this port")
        self.live.update(changes)
        self.password = changes.get("requirepass", self.password)
        if "requirepass" in changes and self.users:
            # As Redis: CONFIG SET requirepass leaves the default user that one password, its others gone.
            self.set_users(
                tuple(
                    replace(user, password_hashes=(users.password_hash(changes["requirepass"]),))
                    if user.name == "default"
                    else user
                    for user in self.users
                )
            )

    def health(self, socket: object, password: str, timeout: float = 5) -> admin.Health:
        if self.hung:
            return admin.Health(ok=False, problem=f"Redis did not answer within {timeout:g} s")
        if not self.active or not self.answers:
            return admin.Health(ok=False, problem="no answer")
        if password != self.password:
            return admin.Health(ok=False, problem="Redis refused the password")
        return admin.Health(ok=True, version="7.0.15")

    def make_durable(self, socket: object, password: str, wait: float, timeout: float = 5) -> None:
        self.answer(password)
        if self.still_saving:
            raise admin.StillSaving(f"Redis is still writing its data to disk after {wait:g} s")
        if self.cannot_save:
            raise admin.CannotSave(self.cannot_save)
        self.actions.append("snapshot")

    def wait_for_aof(self, socket: object, password: str, wait: float, timeout: float = 5) -> None:
        self.answer(password)
        if self.still_saving:
            raise admin.StillSaving(f"Redis is still writing its data to disk after {wait:g} s")
        self.aof_written = True
        self.actions.append("aof written")

    def check_users(self, socket: object, password: str, wanted: tuple[users.AclUser, ...], timeout: float = 5) -> None:
        self.answer(password)
        for user in wanted:
            if set(user.rules) & self.unknown_rules:
                raise admin.Refused("client-permissions: ERR Error in ACL SETUSER modifier")

    def set_password_with_users(
        self, socket: object, password: str, new: str, default: users.AclUser, timeout: float = 5
    ) -> None:
        self.answer(password)
        self.live["requirepass"] = self.password = new
        self.set_users((default, *(user for user in self.users if user.name != default.name)))

    def sync_users(
        self, socket: object, password: str, wanted: tuple[users.AclUser, ...], timeout: float = 5
    ) -> list[str]:
        self.check_users(socket, password, wanted)
        changed = [f"{user.name} user ACL" for user in wanted if user not in self.users]
        self.set_users(tuple(wanted))
        return changed

    def repair_drift(
        self,
        socket: object,
        password: str,
        expected: dict[str, str],
        timeout: float = 5,
        wanted: tuple[users.AclUser, ...] = (),
    ) -> list[str]:
        self.answer(password)
        repaired, self.drifted = self.drifted, []
        return repaired

    def restore_ownerships(self, layout: conf.Layout) -> list[str]:
        repaired, self.bad_modes = self.bad_modes, []
        return repaired

    def install_apt(self) -> None:
        if self.install_fails:
            raise service.ServiceError("apt-get install failed: Temporary failure resolving")
        self.actions.append("install apt")

    def write_config(self, layout: conf.Layout, text: str) -> None:
        self.config = text

    def wait_until(self, check: object, timeout: float = 0, interval: float = 0) -> bool:
        self.timeouts.append(timeout)
        self.intervals.append(interval)
        return check()  # type: ignore[operator]

    def attach(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Put this machine where workload reaches systemd, the config file and Redis."""
        monkeypatch.setattr(service, "systemctl", self.systemctl)
        monkeypatch.setattr(service, "is_active", self.is_active)
        monkeypatch.setattr(service, "write_config", self.write_config)
        monkeypatch.setattr(service, "read_config", lambda layout: self.config)
        monkeypatch.setattr(service, "installed_version", lambda layout: (7, 0, 15))
        monkeypatch.setattr(service, "install_apt", self.install_apt)
        monkeypatch.setattr(service, "install_snap", lambda *args: self.actions.append("install snap"))
        monkeypatch.setattr(service, "wait_until", self.wait_until)
        monkeypatch.setattr(service, "restore_ownerships", self.restore_ownerships)
        monkeypatch.setattr(admin, "config_set", self.config_set)
        monkeypatch.setattr(admin, "health", self.health)
        monkeypatch.setattr(admin, "make_durable", self.make_durable)
        monkeypatch.setattr(admin, "wait_for_aof", self.wait_for_aof)
        monkeypatch.setattr(admin, "repair_drift", self.repair_drift)
        monkeypatch.setattr(admin, "check_users", self.check_users)
        monkeypatch.setattr(admin, "sync_users", self.sync_users)
        monkeypatch.setattr(admin, "set_password_with_users", self.set_password_with_users)
