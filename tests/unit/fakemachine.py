"""systemd, the config file and the Redis server of one unit, in memory, for workload's tests.

The fake server answers CONFIG SET and PING only with the password it runs
with (the requirepass of the file it was last started with, or the one set
live since), as a real Redis does: a converge that authenticates with the
wrong password fails here as it would on a unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from charms.layer.redis import admin, conf, service


@dataclass
class FakeMachine:
    config: str | None = None
    active: bool = True
    refuse: set[str] = field(default_factory=set)
    actions: list[str] = field(default_factory=list)
    live: dict[str, str] = field(default_factory=dict)
    install_fails: bool = False
    broken_services: set[str] = field(default_factory=set)
    unreachable: bool = False
    # What the running server authenticates with; a stock Redis has no password.
    password: str = ""
    progress: list[str] = field(default_factory=list)
    timeouts: list[float] = field(default_factory=list)
    intervals: list[float] = field(default_factory=list)
    # False: the server runs but does not answer PING (e.g. it hangs).
    answers: bool = True

    def systemctl(self, action: str, name: str, *options: str) -> None:
        self.actions.append(" ".join((action, name, *options)))
        if name in self.broken_services:
            raise service.ServiceError(f"systemctl {action} {name} failed: Unit {name} not found.")
        if action in ("restart", "start"):
            # This fake Redis cannot start with 99 databases.
            self.active = "databases 99" not in (self.config or "")
            self.password = conf.directives(self.config or "").get("requirepass", "")

    def config_set(self, socket: object, password: str, changes: dict[str, str]) -> None:
        if self.unreachable or not self.active or password != self.password:
            raise admin.Unreachable("ConnectionError")
        for name in changes:
            if name in self.refuse:
                raise admin.Refused(f"{name}: Unable to listen on this port")
        self.live.update(changes)
        self.password = changes.get("requirepass", self.password)

    def health(self, socket: object, password: str) -> admin.Health:
        if not self.active or not self.answers:
            return admin.Health(ok=False, problem="no answer")
        if password != self.password:
            return admin.Health(ok=False, problem="Redis refused the password")
        return admin.Health(ok=True, version="7.0.15")

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
        monkeypatch.setattr(service, "is_active", lambda name: self.active and name not in self.broken_services)
        monkeypatch.setattr(service, "write_config", self.write_config)
        monkeypatch.setattr(service, "read_config", lambda layout: self.config)
        monkeypatch.setattr(service, "installed_version", lambda layout: (7, 0, 15))
        monkeypatch.setattr(service, "install_apt", self.install_apt)
        monkeypatch.setattr(service, "install_snap", lambda *args: self.actions.append("install snap"))
        monkeypatch.setattr(service, "wait_until", self.wait_until)
        monkeypatch.setattr(admin, "config_set", self.config_set)
        monkeypatch.setattr(admin, "health", self.health)
