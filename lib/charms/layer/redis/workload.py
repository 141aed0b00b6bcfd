"""Bring this unit's Redis to what the configuration asks for, and say how it went.

`resolve()` is pure: configuration and leader settings in, validated settings and
the password to use (or the reason there are none) out. `converge()` then does
the work: install, render, apply each change the way Redis allows (CONFIG SET
where it can, one restart where it cannot, nothing when nothing changed), and
checks the result with an authenticated PING. Neither calls Juju.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from charms.layer.redis import admin, conf, service, settings
from charms.layer.redis.conf import Layout
from charms.layer.redis.settings import Settings

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Facts:
    """What Juju told this unit, gathered at the edge."""

    config: Mapping[str, Any]
    leader_password: str | None
    ingress: str
    deployed_cluster_enabled: bool | None = None
    installed_source: str | None = None


@dataclass(frozen=True)
class Desired:
    """Valid settings and the password that goes with them."""

    settings: Settings
    password: str


@dataclass(frozen=True)
class Outcome:
    """The workload status to report, and what the edge should publish when it is active."""

    status: str
    message: str
    desired: Desired | None = None
    version: str = ""
    installed_source: str | None = None

    @property
    def ready(self) -> bool:
        return self.status == "active"


def resolve(facts: Facts) -> Desired | Outcome:
    """The settings to apply, or the blocked/waiting outcome explaining why there are none."""
    try:
        parsed = settings.parse(facts.config, facts.deployed_cluster_enabled)
    except settings.InvalidOption as invalid:
        return Outcome("blocked", str(invalid))
    password = parsed.password or facts.leader_password
    if not password:
        return Outcome("waiting", "Waiting for the leader to generate the password")
    return Desired(parsed, password)


def layout_for(parsed: Settings) -> Layout:
    return service.snap_layout(parsed.snap_name) if parsed.install_source == "snap" else service.APT_LAYOUT


def install(parsed: Settings, installed_source: str | None, progress: Progress) -> None:
    """Install Redis from the configured source; on a change of source, stop the old service.

    Both installations listen on the same port, so the old one must stop before
    the new one starts; `converge` starts it again if the new one fails.
    """
    if installed_source == parsed.install_source == "apt":
        return
    progress(f"Installing Redis ({parsed.install_source})")
    if parsed.install_source == "snap":
        service.install_snap(
            parsed.snap_name, parsed.snap_channel, parsed.snap_proxy, parsed.snap_proxy_url, parsed.snapd_refresh
        )
    else:
        service.install_apt()
    previous = other_layout(parsed, installed_source)
    if previous is not None and service.is_active(previous.service):
        service.systemctl("stop", previous.service)


def other_layout(parsed: Settings, installed_source: str | None) -> Layout | None:
    """The layout of the installation being replaced, if the source changes."""
    if installed_source is None or installed_source == parsed.install_source:
        return None
    return service.APT_LAYOUT if installed_source == "apt" else service.snap_layout(parsed.snap_name)


def fall_back(parsed: Settings, installed_source: str | None) -> str:
    """After a failed change of source, start the previous installation again; say so."""
    previous = other_layout(parsed, installed_source)
    if previous is None:
        return ""
    try:
        service.systemctl("start", previous.service)
    except service.ServiceError:
        return f"; Redis from {installed_source} could not be started again"
    return f"; Redis from {installed_source} keeps serving"


def apply(plan: conf.Plan, layout: Layout, running: str | None, rendered: str, progress: Progress) -> None:
    """Carry out `plan`: CONFIG SET then rewrite the file, or rewrite and restart once."""
    if plan.live:
        current_password = conf.directives(running or "").get("requirepass", "")
        try:
            admin.config_set(layout.unixsocket, current_password, plan.live)
        except Exception:
            # The server is down or refused: the file decides at the (re)start below.
            plan = conf.Plan(restart=True)
    service.write_config(layout, rendered)
    if plan.restart or not service.is_active(layout.service):
        progress("Restarting Redis" if service.is_active(layout.service) else "Starting Redis")
        service.systemctl("restart", layout.service)


def converge(facts: Facts, progress: Progress) -> Outcome:
    """Make the running Redis match the configuration; report the result."""
    desired = resolve(facts)
    if isinstance(desired, Outcome):
        return desired
    parsed = desired.settings
    layout = layout_for(parsed)
    try:
        install(parsed, facts.installed_source, progress)
        running = service.read_config(layout)
        rendered = conf.render(parsed, desired.password, facts.ingress, layout)
        plan = conf.plan(running, rendered, service.installed_version())
        if not plan.unchanged or not service.is_active(layout.service):
            apply(plan, layout, running, rendered, progress)
    except service.ServiceError as error:
        message = f"{error}{fall_back(parsed, facts.installed_source)}"
        return Outcome("blocked", message, desired, "", facts.installed_source)
    return check(desired, layout, parsed.install_source)


def check(desired: Desired, layout: Layout, installed_source: str | None, timeout: float = 30.0) -> Outcome:
    """An authenticated PING, retried while Redis starts: active only if it answers."""
    result: list[admin.Health] = []

    def answers() -> bool:
        result.append(admin.health(layout.unixsocket, desired.password))
        return result[-1].ok

    if service.wait_until(answers, timeout=timeout, interval=0.2):
        version = result[-1].version
        return Outcome("active", f"Ready (redis {version})", desired, version, installed_source)
    state = "running" if service.is_active(layout.service) else "not running"
    return Outcome("blocked", f"Redis is {state}: {result[-1].problem}", desired, "", installed_source)
