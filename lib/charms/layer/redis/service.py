"""Installing Redis (apt or snap), writing its configuration and controlling it through systemd."""

from __future__ import annotations

import grp
import os
import pwd
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from charms.layer.redis.conf import Layout, parse_version

APT_PACKAGES = ("redis-server", "redis-tools")
APT_LAYOUT = Layout(
    service="redis-server",
    binary="/usr/bin/redis-server",
    conf=Path("/etc/redis/redis.conf"),
    data_dir=Path("/var/lib/redis"),
    logfile=Path("/var/log/redis/redis-server.log"),
    unixsocket=Path("/run/redis/redis-server.sock"),
    pidfile=Path("/run/redis/redis-server.pid"),
)
# snapd's refresh.timer for "max": the last Friday of each month, at night.
MONTHLY_REFRESH_TIMER = "fri5,23:00-01:00"
# No hook waits on a command longer than this (package installs and snap
# downloads), on systemd longer than SYSTEMCTL_TIMEOUT: Debian's redis-server
# unit waits forever (TimeoutStopSec=0) for a Redis that cannot save as it stops.
COMMAND_TIMEOUT = 600.0
SYSTEMCTL_TIMEOUT = 120.0
QUERY_TIMEOUT = 10.0


class ServiceError(RuntimeError):
    """Redis could not be installed, started or reached."""


class NoAnswer(ServiceError):
    """A command did not finish within its time; it may still be at work (a stop waiting for a save)."""


@dataclass(frozen=True)
class Ownership:
    """The mode and owners a file or directory of the charm must have."""

    path: Path
    mode: int
    user: str
    group: str


def snap_layout(snap: str) -> Layout:
    """Where a Redis snap keeps its files: under its common data directory."""
    common = Path("/var/snap") / snap / "common"
    return Layout(
        service=f"snap.{snap}.server",
        binary=f"/snap/bin/{snap}.server",
        conf=common / "etc" / "redis.conf",
        data_dir=common / "var" / "lib" / "redis",
        logfile=common / "var" / "log" / "redis.log",
        unixsocket=common / "run" / "redis.sock",
        pidfile=common / "run" / "redis.pid",
        group="root",
    )


def run(command: list[str], env: dict[str, str] | None = None, timeout: float = COMMAND_TIMEOUT) -> str:
    """Run a command; its output, or ServiceError with its last line of output."""
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, env=dict(os.environ, **(env or {})), check=False, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise NoAnswer(f"{' '.join(command[:3])} did not answer within {timeout:g} s") from None
    except OSError as error:
        raise ServiceError(f"{command[0]} cannot run: {error.strerror}") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise ServiceError(f"{' '.join(command[:3])} failed: {detail[-1] if detail else result.returncode}")
    return result.stdout


def install_apt(packages: tuple[str, ...] = APT_PACKAGES, timeout: float = COMMAND_TIMEOUT) -> None:
    """Install Redis (or `packages`) from the archive (a no-op when it is already installed).

    A failed install refreshes the package lists and tries once more; one that did not
    finish in time is not tried again in this hook, which would wait that long twice more.
    """
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    try:
        run(command, env, timeout)
    except NoAnswer:
        raise
    except ServiceError:
        run(["apt-get", "update", "-q"], env, timeout)
        run(command, env, timeout)


def snapd_commands(proxy: str, refresh: str) -> list[list[str]]:
    """The `snap set|unset system ...` commands for the proxy and refresh options."""
    timer = MONTHLY_REFRESH_TIMER if refresh == "max" else refresh
    values = {"proxy.http": proxy, "proxy.https": proxy, "refresh.timer": timer}
    return [
        ["snap", "set", "system", f"{key}={value}"] if value else ["snap", "unset", "system", key]
        for key, value in values.items()
    ]


def store_id(assertions: str) -> str:
    """The store ID a Snap Store Proxy's assertions declare (the `store:` header)."""
    for line in assertions.splitlines():
        if line.startswith("store: "):
            return line.split(":", 1)[1].strip()
    raise ServiceError("snap_proxy_url: the proxy's assertions name no store")


def use_store_proxy(url: str) -> None:
    """Trust a Snap Store Proxy's assertions and point snapd at its store; an empty url undoes it."""
    if not url:
        run(["snap", "unset", "system", "proxy.store"])
        return
    import urllib.request  # only snap installs with a store proxy need it; every hook imports this module

    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/v2/auth/store/assertions", timeout=15) as response:
            assertions = response.read().decode()
    except (OSError, ValueError) as error:
        raise ServiceError(f"snap_proxy_url: cannot fetch the store assertions from {url}: {error}") from error
    with tempfile.NamedTemporaryFile("w", suffix=".assert") as handle:
        handle.write(assertions)
        handle.flush()
        run(["snap", "ack", handle.name])
    run(["snap", "set", "system", f"proxy.store={store_id(assertions)}"])


def install_snap(snap: str, channel: str, proxy: str, store_proxy_url: str, refresh: str) -> None:
    """Configure snapd, then install (or move to `channel`) the Redis snap."""
    for command in snapd_commands(proxy, refresh):
        run(command)
    use_store_proxy(store_proxy_url)
    installed = subprocess.run(["snap", "list", snap], capture_output=True, check=False).returncode == 0
    run(["snap", "refresh" if installed else "install", snap, f"--channel={channel}"])


def installed_version(layout: Layout) -> tuple[int, int, int]:
    """The version of the layout's redis-server binary; (0, 0, 0) when it cannot tell.

    (0, 0, 0) makes the plan conservative: a change that needs Redis 7 to be
    live is then applied with a restart.
    """
    try:
        return parse_version(run([layout.binary, "--version"]))
    except (ServiceError, ValueError):
        return (0, 0, 0)


def machine_memory(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """This machine's RAM in bytes, None when /proc/meminfo does not say."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def group_id(name: str) -> int:
    """The group's id, or root's (0) while the group does not exist yet."""
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return 0


def write_restricted(path: Path, text: str, group: str, mode: int = 0o640) -> None:
    """Replace a file holding a secret atomically: `mode` (0640), owned by root and `group`."""
    write_file(path, text, mode, 0, group_id(group))


def write_file(path: Path, text: str, mode: int, uid: int, gid: int) -> None:
    """Replace `path` atomically with `text`, created with `mode` and owners (never readable more widely)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, mode)
        os.fchown(descriptor, uid, gid)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_config(layout: Layout, text: str) -> None:
    """Replace redis.conf: it holds the password, so only root and the Redis group may read it."""
    write_restricted(layout.conf, text, layout.group)


def read_config(layout: Layout) -> str | None:
    """The config file as it is now, or None before the charm first wrote it."""
    try:
        text = layout.conf.read_text()
    except FileNotFoundError:
        return None
    return text if text.startswith("# Redis configuration, rendered by the redis charm") else None


def systemctl(action: str, service: str, *options: str) -> None:
    run(["systemctl", action, service, *options], timeout=SYSTEMCTL_TIMEOUT)


def is_active(service: str) -> bool:
    """Whether systemd runs the service; NoAnswer when systemd does not say in time."""
    try:
        command = ["systemctl", "is-active", "--quiet", service]
        return subprocess.run(command, check=False, timeout=QUERY_TIMEOUT).returncode == 0
    except subprocess.TimeoutExpired:
        raise NoAnswer(f"systemctl is-active {service} did not answer within {QUERY_TIMEOUT:g} s") from None
    except OSError:
        return False


def ownerships(layout: Layout) -> list[Ownership]:
    """The charm's files and the package's directories, with the modes and owners they must keep."""
    if layout.group != "redis":  # a snap: its own tree under /var/snap, root's
        return [Ownership(layout.conf, 0o640, "root", layout.group)]
    return [
        Ownership(layout.conf.parent, 0o2770, "redis", "redis"),
        Ownership(layout.conf, 0o640, "root", "redis"),
        Ownership(layout.data_dir, 0o750, "redis", "redis"),
        Ownership(layout.logfile.parent, 0o2750, "redis", "adm"),
    ]


def restore_ownership(wanted: Ownership) -> str:
    """Put back a path's mode and owners; what was wrong (empty when nothing was, or it is absent)."""
    try:
        found = wanted.path.lstat()
        uid, gid = pwd.getpwnam(wanted.user).pw_uid, grp.getgrnam(wanted.group).gr_gid
    except (FileNotFoundError, KeyError):
        return ""
    if stat.S_ISLNK(found.st_mode):
        # chmod would follow it: the redis group, which may write in /etc/redis, could
        # point it at any file. Writing redis.conf replaces the link with a file.
        return f"{wanted.path} is a symbolic link, left alone"
    mode = stat.S_IMODE(found.st_mode)
    if (mode, found.st_uid, found.st_gid) == (wanted.mode, uid, gid):
        return ""
    was = f"{wanted.path} was {mode:o} {found.st_uid}:{found.st_gid}"
    try:
        os.chown(wanted.path, uid, gid, follow_symlinks=False)
        os.chmod(wanted.path, wanted.mode)
    except OSError as error:
        return f"{was}, cannot be restored ({error.strerror})"
    return was


def restore_ownerships(layout: Layout) -> list[str]:
    """Every hook: the charm's files back to their modes and owners; what was repaired."""
    return [problem for wanted in ownerships(layout) if (problem := restore_ownership(wanted))]


def wait_until(check: Callable[[], bool], timeout: float = 30.0, interval: float = 0.1) -> bool:
    """Poll `check` until it returns True or `timeout` seconds passed."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
