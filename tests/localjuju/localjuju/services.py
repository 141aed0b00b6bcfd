"""A small service manager for a unit machine, standing in for systemd.

The unit's init owns one ServiceManager. It reads the unit files that packages and charms
installed, starts the service's main process as a child of the init (so it is reaped and its
death is noticed), and stops it with its kill signal. Supported keys: Type, ExecStartPre,
ExecStart, ExecStartPost, ExecStop, ExecReload, User, Group, SupplementaryGroups, UMask,
RuntimeDirectory(+Mode), StateDirectory, LogsDirectory, WorkingDirectory, Environment,
EnvironmentFile, PIDFile, KillSignal, TimeoutStopSec, RemainAfterExit, Restart, RestartSec,
StartLimitIntervalSec, StartLimitBurst, and drop-in files. As under systemd, a main process that
dies is started again when Restart= says so (after RestartSec=, at most StartLimitBurst= times in
StartLimitIntervalSec=), and a stop waits TimeoutStopSec= (default 90 s) before SIGKILL.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shlex
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .reaper import Reaper

UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")
LIST_KEYS = {
    "ExecStartPre",
    "ExecStartPost",
    "ExecStop",
    "ExecReload",
    "Environment",
    "EnvironmentFile",
    "RuntimeDirectory",
    "StateDirectory",
    "LogsDirectory",
    "SupplementaryGroups",
}
DEFAULT_STOP_TIMEOUT = 90.0  # systemd's DefaultTimeoutStopSec
START_TIMEOUT = 30.0
RESTART_POLICIES = {
    "no": lambda code: False,
    "always": lambda code: True,
    "on-success": lambda code: code == 0,
    "on-failure": lambda code: code != 0,
    "on-abnormal": lambda code: code < 0,
    "on-abort": lambda code: code < 0 and code not in (-signal.SIGTERM, -signal.SIGINT, -signal.SIGHUP),
    "on-watchdog": lambda code: False,
}
LOG_DIR = Path("/var/log/localjuju")


class ServiceError(Exception):
    """A service operation failed; the message is what systemctl prints."""


def unit_name(name: str) -> str:
    """Return name with a .service suffix when it has no unit type."""
    return name if "." in name else f"{name}.service"


def find_unit_file(name: str) -> Path | None:
    """Return the unit file of name, searching systemd's directories in priority order."""
    for directory in UNIT_DIRS:
        path = Path(directory) / name
        if path.exists():
            return path
    return None


def _parse_ini(text: str, into: dict[str, dict[str, Any]]) -> None:
    """Merge a systemd unit file's sections into `into` (list keys append, empty resets)."""
    section = ""
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            into.setdefault(section, {})
            continue
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        values = into.setdefault(section, {})
        if key in LIST_KEYS:
            values[key] = [] if not value else [*values.get(key, []), value]
        else:
            values[key] = value


def load_unit(name: str) -> dict[str, dict[str, Any]]:
    """Parse a unit file and its drop-ins; raise ServiceError when it does not exist."""
    path = find_unit_file(name)
    if path is None:
        raise ServiceError(f"Unit {name} not found.")
    sections: dict[str, dict[str, Any]] = {}
    with contextlib.suppress(OSError):
        if path.resolve() == Path("/dev/null"):
            raise ServiceError(f"Unit {name} is masked.")
    _parse_ini(path.read_text(encoding="utf-8", errors="replace"), sections)
    for directory in UNIT_DIRS:
        dropins = Path(directory) / f"{name}.d"
        if dropins.is_dir():
            for conf in sorted(dropins.glob("*.conf")):
                _parse_ini(conf.read_text(encoding="utf-8", errors="replace"), sections)
    return sections


def _seconds(value: str | None, default: float | None) -> float | None:
    """Parse a systemd time span like 10, 10s, 1min 30s, 500ms; None for infinity (or 0 where
    systemd reads 0 as "no timeout")."""
    if not value:
        return default
    value = value.strip()
    if value in ("infinity", "0"):
        return None
    total = 0.0
    for part in value.split():
        for suffix, factor in (("ms", 0.001), ("min", 60.0), ("h", 3600.0), ("s", 1.0), ("m", 60.0)):
            if part.endswith(suffix):
                total += float(part[: -len(suffix)]) * factor
                break
        else:
            total += float(part)
    return total


def _command(line: str, name: str) -> tuple[list[str], bool]:
    """Split an Exec line into argv and whether its failure is ignored ('-' prefix)."""
    ignore = False
    while line and line[0] in "-@+!:":
        ignore = ignore or line[0] == "-"
        line = line[1:]
    line = line.replace("%n", name).replace("%N", name.rsplit(".", 1)[0]).replace("%%", "%")
    return shlex.split(line), ignore


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """Build the environment of a service from Environment and EnvironmentFile."""
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    for path in service.get("EnvironmentFile", []):
        optional = path.startswith("-")
        try:
            text = Path(path.lstrip("-")).read_text(encoding="utf-8")
        except OSError:
            if optional:
                continue
            raise ServiceError(f"Failed to load environment file {path}") from None
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                env[key.strip()] = value.strip().strip("\"'")
    for assignment in service.get("Environment", []):
        for item in shlex.split(assignment):
            key, _, value = item.partition("=")
            env[key] = value
    return env


@dataclass
class Account:
    """Who a service runs as."""

    user: str | None
    group: str | None
    extra_groups: list[str]
    uid: int
    gid: int
    home: str

    @classmethod
    def of(cls, service: dict[str, Any]) -> Account:
        """Resolve User=, Group= and SupplementaryGroups= (root when unset)."""
        user = service.get("User") or None
        group = service.get("Group") or None
        try:
            entry = pwd.getpwnam(user or "root")
            gid = grp.getgrnam(group).gr_gid if group else entry.pw_gid
        except KeyError as exc:
            raise ServiceError(f"Failed to determine user credentials: {exc}") from None
        extra = [g for line in service.get("SupplementaryGroups", []) for g in line.split()]
        return cls(user, group, extra, entry.pw_uid, gid, entry.pw_dir)


@dataclass
class Running:
    """A started service."""

    pid: int
    since: str
    log: Path
    extra: dict[str, Any] = field(default_factory=dict)


class ServiceManager:
    """Start, stop and report services from their unit files."""

    def __init__(self, reaper: Reaper) -> None:
        self._reaper = reaper
        self._running: dict[str, Running] = {}
        self._failed: set[str] = set()
        self._restarting: dict[str, float] = {}  # service -> when it is due to start again
        self._restarts: dict[str, list[float]] = {}  # service -> when it was restarted lately
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._shutting_down = False
        threading.Thread(target=self._supervise, daemon=True).start()

    def _supervise(self) -> None:
        """Notice dead main processes and restart them as Restart= says (a daemon thread)."""
        while not self._shutting_down:
            time.sleep(0.1)
            for name in list(self._running) + list(self._restarting):
                with self._lock(name):
                    self.state(name)
                    due = self._restarting.get(name)
                    if due is not None and time.monotonic() >= due:
                        del self._restarting[name]
                        with contextlib.suppress(ServiceError, OSError):
                            self.start(name)

    def _schedule_restart(self, name: str, code: int) -> bool:
        """Whether a main process that exited with code is restarted; if so, schedule it."""
        unit = load_unit(name) if find_unit_file(name) else {}
        service = unit.get("Service", {})
        policy = RESTART_POLICIES.get(service.get("Restart", "no"), RESTART_POLICIES["no"])
        if self._shutting_down or not policy(code):
            return False
        settings = unit.get("Unit", {}) | service
        interval = _seconds(settings.get("StartLimitIntervalSec"), 10.0) or 0.0
        burst = int(settings.get("StartLimitBurst", "5"))
        now = time.monotonic()
        recent = [t for t in self._restarts.get(name, []) if now - t < interval]
        if len(recent) >= burst:
            return False  # systemd's start limit: the unit stays failed
        self._restarts[name] = [*recent, now]
        self._restarting[name] = now + (_seconds(service.get("RestartSec"), 0.1) or 0.0)
        return True

    def _lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def handle(self, action: str, name: str) -> dict[str, Any]:
        """Carry out one systemctl action on one unit and return {rc, out}."""
        name = unit_name(name)
        handlers = {
            "start": self.start,
            "stop": self.stop,
            "restart": self.restart,
            "try-restart": self.try_restart,
            "reload": self.reload,
            "reload-or-restart": self.restart,
            "is-active": self.is_active,
            "status": self.status,
        }
        if action not in handlers:
            return {"rc": 1, "out": f"Unknown command verb {action}."}
        with self._lock(name):
            try:
                return handlers[action](name)
            except ServiceError as exc:
                return {"rc": 5 if "not found" in str(exc) else 1, "out": str(exc)}

    def state(self, name: str) -> str:
        """Return active, activating (waiting to be restarted), inactive or failed, telling the
        truth about a dead main process."""
        running = self._running.get(name)
        if running is None:
            if name in self._restarting:
                return "activating"
            return "failed" if name in self._failed else "inactive"
        if running.extra.get("remain"):
            return "active"
        code = self._reaper.poll(running.pid)
        if code is None:
            return "active"
        self._reaper.wait(running.pid, 0)
        del self._running[name]
        if self._schedule_restart(name, code):
            return "activating"
        if code != 0:
            self._failed.add(name)
            return "failed"
        return "inactive"

    def is_active(self, name: str) -> dict[str, Any]:
        state = self.state(name)
        return {"rc": 0 if state == "active" else 3, "out": state}

    def status(self, name: str) -> dict[str, Any]:
        sections = load_unit(name)
        state = self.state(name)
        running = self._running.get(name)
        lines = [
            f"● {name} - {sections.get('Unit', {}).get('Description', name)}",
            f"     Loaded: loaded ({find_unit_file(name)})",
            f"     Active: {state}" + (f" (running) since {running.since}" if running else ""),
        ]
        if running:
            lines.append(f"   Main PID: {running.pid}")
        return {"rc": 0 if state == "active" else 3, "out": "\n".join(lines)}

    def restart(self, name: str) -> dict[str, Any]:
        if self.state(name) == "active":
            self.stop(name)
        return self.start(name)

    def try_restart(self, name: str) -> dict[str, Any]:
        if self.state(name) != "active":
            return {"rc": 0, "out": ""}
        return self.restart(name)

    def reload(self, name: str) -> dict[str, Any]:
        service = load_unit(name).get("Service", {})
        running = self._running.get(name)
        if running is None or self.state(name) != "active":
            raise ServiceError(f"Job for {name} failed because the unit is not active.")
        commands = service.get("ExecReload", [])
        if not commands:
            os.kill(running.pid, signal.SIGHUP)
        env = _environment(service) | {"MAINPID": str(running.pid)}
        for line in commands:
            self._run_step(line, name, service, env, running.log)
        return {"rc": 0, "out": ""}

    def start(self, name: str) -> dict[str, Any]:
        """Start the service unless it is active; wait for readiness as its Type says."""
        if self.state(name) == "active":
            return {"rc": 0, "out": ""}
        self._restarting.pop(name, None)
        service = load_unit(name).get("Service", {})
        account = Account.of(service)
        self._make_directories(service, account)
        env = _environment(service) | {"HOME": account.home, "USER": account.user or "root"}
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = LOG_DIR / f"{name}.log"
        for line in service.get("ExecStartPre", []):
            self._run_step(line, name, service, env, log, account)
        kind = service.get("Type", "simple")
        main = service.get("ExecStart", "")
        if not main:
            raise ServiceError(f"{name} has no ExecStart=.")
        self._failed.discard(name)
        running = self._start_main(name, kind, main, service, env, log, account)
        if running is not None:
            self._running[name] = running
        main_pid = str(running.pid) if running else ""
        for line in service.get("ExecStartPost", []):
            self._run_step(line, name, service, env | {"MAINPID": main_pid}, log, account)
        return {"rc": 0, "out": ""}

    def _start_main(
        self,
        name: str,
        kind: str,
        line: str,
        service: dict[str, Any],
        env: dict[str, str],
        log: Path,
        account: Account,
    ) -> Running | None:
        """Start the main process and wait for it to be ready (notify, forking, oneshot)."""
        notify = None
        if kind == "notify":
            notify, env = self._notify_socket(name, env)
        argv, _ = _command(line, name)
        pid = self._spawn(argv, service, env, log, account)
        since = time.strftime("%a %Y-%m-%d %H:%M:%S UTC", time.gmtime())
        try:
            if kind == "oneshot":
                code = self._reaper.wait(pid)
                if code != 0:
                    self._failed.add(name)
                    raise ServiceError(f"Job for {name} failed: the main process exited with {code}.")
                remain = service.get("RemainAfterExit", "no") in ("yes", "true", "1")
                return Running(pid, since, log, extra={"remain": remain}) if remain else None
            if kind == "forking":
                return self._await_forking(name, pid, service, since, log)
            if notify is not None:
                self._await_ready(name, pid, notify)
            return Running(pid, since, log)
        finally:
            if notify is not None:
                notify.close()

    def _await_forking(self, name: str, pid: int, service: dict[str, Any], since: str, log: Path) -> Running:
        """Wait for a forking service's starter to exit and take the daemon's pid from PIDFile."""
        code = self._reaper.wait(pid, START_TIMEOUT)
        if code != 0:
            self._failed.add(name)
            raise ServiceError(f"Job for {name} failed: the control process exited with {code}.")
        pid_file = service.get("PIDFile")
        if not pid_file:
            raise ServiceError(f"{name}: Type=forking without PIDFile= is not supported here.")
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                daemon = int(Path(pid_file).read_text().strip())
                self._reaper.track(daemon)
                return Running(daemon, since, log)
            time.sleep(0.05)
        raise ServiceError(f"Job for {name} failed: no PID file {pid_file}.")

    @staticmethod
    def _notify_socket(name: str, env: dict[str, str]) -> tuple[socket.socket, dict[str, str]]:
        """Create the sd_notify datagram socket a Type=notify service reports READY=1 on."""
        directory = Path("/run/localjuju/notify")
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{name}.sock"
        path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(path))
        path.chmod(0o666)
        return sock, env | {"NOTIFY_SOCKET": str(path)}

    def _await_ready(self, name: str, pid: int, notify: socket.socket) -> None:
        """Wait until the service sends READY=1, failing if it exits first."""
        deadline = time.monotonic() + START_TIMEOUT
        notify.settimeout(0.05)
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                if b"READY=1" in notify.recv(4096).split(b"\n"):
                    return
            code = self._reaper.poll(pid)
            if code is not None:
                self._reaper.wait(pid, 0)
                self._failed.add(name)
                raise ServiceError(f"Job for {name} failed: the main process exited with {code}.")
        raise ServiceError(f"Job for {name} failed: timeout waiting for READY=1.")

    def _spawn(
        self,
        argv: list[str],
        service: dict[str, Any],
        env: dict[str, str],
        log: Path,
        account: Account,
    ) -> int:
        """Start one process of the service as its user, in its own session."""
        workdir = service.get("WorkingDirectory", "").lstrip("-") or "/"
        if workdir == "~":
            workdir = account.home
        umask = int(service.get("UMask", "0022"), 8)
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=env,
                cwd=workdir,
                user=account.uid if account.user else None,
                group=account.gid if account.user or account.group else None,
                extra_groups=account.extra_groups or ([] if account.user else None),
                umask=umask,
                start_new_session=True,
            )
        proc.returncode = 0  # the reaper owns the exit status, not Popen
        self._reaper.track(proc.pid)
        return proc.pid

    def _run_step(
        self,
        line: str,
        name: str,
        service: dict[str, Any],
        env: dict[str, str],
        log: Path,
        account: Account | None = None,
    ) -> None:
        """Run an ExecStartPre/Post/Reload/Stop command to completion."""
        argv, ignore = _command(line, name)
        account = account or Account.of(service)
        code = self._reaper.wait(self._spawn(argv, service, env, log, account), START_TIMEOUT)
        if code != 0 and not ignore:
            raise ServiceError(f"Job for {name} failed: {argv[0]} exited with {code}.")

    @staticmethod
    def _make_directories(service: dict[str, Any], account: Account) -> None:
        """Create RuntimeDirectory=, StateDirectory= and LogsDirectory= owned by the service."""
        bases = {"RuntimeDirectory": "/run", "StateDirectory": "/var/lib", "LogsDirectory": "/var/log"}
        for key, base in bases.items():
            mode = int(service.get(f"{key}Mode", "0755"), 8)
            for line in service.get(key, []):
                for rel in line.split():
                    path = Path(base) / rel
                    path.mkdir(parents=True, exist_ok=True)
                    os.chown(path, account.uid, account.gid)
                    path.chmod(mode)

    def stop(self, name: str) -> dict[str, Any]:
        """Stop the service: ExecStop or its KillSignal to the process group, then SIGKILL."""
        if find_unit_file(name) is None and name not in self._running:
            raise ServiceError(f"Failed to stop {name}: Unit {name} not loaded.")
        running = self._running.pop(name, None)
        self._failed.discard(name)
        self._restarting.pop(name, None)
        self._restarts.pop(name, None)
        if running is None or running.extra.get("remain") or self._reaper.poll(running.pid) is not None:
            if running is not None and not running.extra.get("remain"):
                self._reaper.wait(running.pid, 0)
            return {"rc": 0, "out": ""}
        service = load_unit(name).get("Service", {}) if find_unit_file(name) else {}
        for line in service.get("ExecStop", []):
            with contextlib.suppress(ServiceError):
                self._run_step(line, name, service, _environment(service) | {"MAINPID": str(running.pid)}, running.log)
        sig = getattr(signal, service.get("KillSignal", "SIGTERM"), signal.SIGTERM)
        self._signal_group(running.pid, sig)
        timeout = _seconds(service.get("TimeoutStopSec", service.get("TimeoutSec")), DEFAULT_STOP_TIMEOUT)
        if self._reaper.wait(running.pid, timeout) is None:
            self._signal_group(running.pid, signal.SIGKILL)
            self._reaper.wait(running.pid, 5)
        return {"rc": 0, "out": ""}

    @staticmethod
    def _signal_group(pid: int, sig: int) -> None:
        """Signal the service's process group (its session), or the process itself."""
        with contextlib.suppress(ProcessLookupError):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                os.kill(pid, sig)

    def stop_all(self) -> None:
        """Stop every running service (machine shutdown)."""
        self._shutting_down = True
        self._restarting.clear()
        for name in list(self._running):
            with contextlib.suppress(ServiceError):
                self.stop(name)
