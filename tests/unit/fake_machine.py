"""One unit's systemd, redis.conf and Redis server, in memory, for tests of workload.converge."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from charms.layer.redis import admin, conf, service


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
    # Why Redis cannot write its data to disk (a full disk), or None when it can.
    cannot_save: str | None = None
    still_saving: bool = False
    # A running Redis that does not answer (SIGSTOP): every call times out.
    hung: bool = False
    # What someone changed on the running server (names the charm must repair).
    drifted: list[str] = field(default_factory=list)
    # Files whose mode or owner someone changed.
    bad_modes: list[str] = field(default_factory=list)
    aof_written: bool = False

    def systemctl(self, action: str, name: str, *options: str) -> None:
        self.actions.append(" ".join((action, name, *options)))
        if name in self.broken_services:
            raise service.ServiceError(f"systemctl {action} {name} failed: Unit {name} not found.")
        if action in ("restart", "start"):
            # This fake Redis cannot start with 99 databases.
            self.active = "databases 99" not in (self.config or "")

    def answer(self) -> None:
        if self.hung:
            raise admin.Unreachable("Redis did not answer within 5 s")

    def config_set(self, socket: object, password: str, changes: dict[str, str], timeout: float = 5) -> None:
        self.answer()
        for name in changes:
            if name in self.refuse:
                raise admin.Refused(f"{name}: Unable to listen on this port")
        self.live.update(changes)

    def health(self, socket: object, password: str, timeout: float = 5) -> admin.Health:
        if self.hung:
            return admin.Health(ok=False, problem=f"Redis did not answer within {timeout:g} s")
        return admin.Health(ok=True, version="7.0.15") if self.active else admin.Health(ok=False, problem="no answer")

    def make_durable(self, socket: object, password: str, wait: float, timeout: float = 5) -> None:
        self.answer()
        if self.still_saving:
            raise admin.StillSaving(f"Redis is still writing its data to disk after {wait:g} s")
        if self.cannot_save:
            raise admin.CannotSave(self.cannot_save)
        self.actions.append("snapshot")

    def wait_for_aof(self, socket: object, password: str, wait: float, timeout: float = 5) -> None:
        self.answer()
        if self.still_saving:
            raise admin.StillSaving(f"Redis is still writing its data to disk after {wait:g} s")
        self.aof_written = True
        self.actions.append("aof written")

    def repair_drift(self, socket: object, password: str, expected: dict[str, str], timeout: float = 5) -> list[str]:
        self.answer()
        repaired, self.drifted = self.drifted, []
        return repaired

    def restore_ownerships(self, layout: conf.Layout) -> list[str]:
        repaired, self.bad_modes = self.bad_modes, []
        return repaired

    def install_apt(self) -> None:
        if self.install_fails:
            raise service.ServiceError("apt-get install failed: Temporary failure resolving")
        self.actions.append("install apt")


def install(monkeypatch: pytest.MonkeyPatch) -> FakeMachine:
    """A FakeMachine standing in for systemd, redis.conf and Redis wherever workload reaches them."""
    fake = FakeMachine()

    def write_config(layout: conf.Layout, text: str) -> None:
        fake.config = text

    monkeypatch.setattr(service, "systemctl", fake.systemctl)
    monkeypatch.setattr(service, "is_active", lambda name: fake.active)
    monkeypatch.setattr(service, "write_config", write_config)
    monkeypatch.setattr(service, "read_config", lambda layout: fake.config)
    monkeypatch.setattr(service, "installed_version", lambda layout: (7, 0, 15))
    monkeypatch.setattr(service, "install_apt", fake.install_apt)
    monkeypatch.setattr(service, "install_snap", lambda *args: fake.actions.append("install snap"))
    monkeypatch.setattr(service, "wait_until", lambda check, timeout=0, interval=0: check())
    monkeypatch.setattr(admin, "config_set", fake.config_set)
    monkeypatch.setattr(admin, "health", fake.health)
    monkeypatch.setattr(admin, "make_durable", fake.make_durable)
    monkeypatch.setattr(admin, "wait_for_aof", fake.wait_for_aof)
    monkeypatch.setattr(admin, "repair_drift", fake.repair_drift)
    monkeypatch.setattr(service, "restore_ownerships", fake.restore_ownerships)
    return fake
