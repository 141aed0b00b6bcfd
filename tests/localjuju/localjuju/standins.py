"""Stand-ins for systemctl, snap and apt-get inside a unit machine.

- systemctl asks the unit's init (which supervises services) to start/stop/report them and
  manages enablement symlinks itself, as systemctl does.
- snap records every call (argv, one JSON line) in /var/lib/localjuju/snap-calls.jsonl, says
  so, and keeps `snap set/get system` values, because snapd cannot run here.
- apt-get install runs the host's real apt-get once (outside the unit's mount namespace, under
  a host-wide lock), so installed files appear in every unit through its overlays; when all
  packages asked for are already installed it does nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")
SNAP_DIR = Path("/var/lib/localjuju")
APT_LOCK = Path("/tmp/.localjuju-apt.lock")
NO_ARG_FLAGS = {"--now", "-q", "--quiet", "--no-pager", "--no-block", "--system", "--full", "-l", "--no-legend",
                "--no-reload", "--value", "--all", "-a", "--force", "-f", "--wait"}  # fmt: skip


def _init_request(payload: dict[str, Any]) -> dict[str, Any]:
    """Send one request to this unit's init."""
    path = Path("/run/localjuju/socket").read_text(encoding="utf-8")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        with sock.makefile("rwb") as stream:
            stream.write(json.dumps(payload).encode() + b"\n")
            stream.flush()
            return json.loads(stream.readline())


# --- systemctl ---------------------------------------------------------------------------------


def _unit_name(name: str) -> str:
    return name if "." in name else f"{name}.service"


def _unit_file(name: str) -> Path | None:
    for directory in UNIT_DIRS:
        path = Path(directory) / name
        if path.exists() or path.is_symlink():
            return path
    return None


def _wanted_by(path: Path) -> list[str]:
    """Return the [Install] WantedBy= targets of a unit file."""
    targets: list[str] = []
    section = ""
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Install]" and line.startswith(("WantedBy=", "RequiredBy=")):
            targets += line.split("=", 1)[1].split()
    return targets


def _links(name: str) -> list[Path]:
    return list(Path("/etc/systemd/system").glob(f"*.wants/{name}"))


def _is_enabled(name: str) -> str:
    path = _unit_file(name)
    if path is None:
        return "not-found"
    if path.is_symlink() and os.path.realpath(path) == "/dev/null":
        return "masked"
    if _links(name):
        return "enabled"
    return "disabled" if _wanted_by(path) else "static"


def _enable(name: str) -> None:
    path = _unit_file(name)
    if path is None:
        raise LookupError(f"Unit file {name} does not exist.")
    for target in _wanted_by(path):
        link = Path("/etc/systemd/system") / f"{target}.wants" / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(path)
            print(f"Created symlink {link} → {path}.", file=sys.stderr)


def _disable(name: str) -> None:
    for link in _links(name):
        link.unlink()
        print(f"Removed {link}.", file=sys.stderr)


def systemctl(argv: list[str]) -> int:
    """Handle the systemctl verbs charms use."""
    quiet = bool({"-q", "--quiet"} & set(argv))
    now = "--now" in argv
    props = [a.split("=", 1)[1] for a in argv if a.startswith("--property=")]
    words = [a for a in argv if not a.startswith("-")]
    if "-p" in argv:
        props.append(argv[argv.index("-p") + 1])
        words.remove(argv[argv.index("-p") + 1])
    if not words:
        print("localjuju systemctl: no command given", file=sys.stderr)
        return 1
    verb, names = words[0], [_unit_name(n) for n in words[1:]]
    if verb in ("daemon-reload", "daemon-reexec", "reset-failed"):
        return 0
    if verb in ("enable", "disable", "mask", "unmask", "is-enabled"):
        return _enablement(verb, names, now, quiet)
    if verb in ("is-active", "is-failed"):
        states = [_init_request({"op": "service", "action": "is-active", "name": n})["out"] for n in names]
        if not quiet:
            print("\n".join(states))
        wanted = "active" if verb == "is-active" else "failed"
        return 0 if any(s == wanted for s in states) else (3 if verb == "is-active" else 1)
    if verb == "show":
        return _show(names, props)
    code = 0
    for name in names:
        reply = _init_request({"op": "service", "action": verb, "name": name})
        if reply.get("out"):
            print(reply["out"], file=sys.stdout if verb == "status" else sys.stderr)
        code = code or reply.get("rc", 1)
    return code


def _enablement(verb: str, names: list[str], now: bool, quiet: bool) -> int:
    """enable/disable/mask/unmask/is-enabled, optionally with --now."""
    code = 0
    for name in names:
        try:
            if verb == "enable":
                _enable(name)
            elif verb == "disable":
                _disable(name)
            elif verb == "mask":
                link = Path("/etc/systemd/system") / name
                link.unlink(missing_ok=True)
                link.symlink_to("/dev/null")
            elif verb == "unmask":
                link = Path("/etc/systemd/system") / name
                if link.is_symlink() and os.path.realpath(link) == "/dev/null":
                    link.unlink()
            else:
                state = _is_enabled(name)
                if not quiet:
                    print(state)
                code = code or (0 if state in ("enabled", "static") else 1)
                continue
        except LookupError as exc:
            print(f"Failed to {verb} unit: {exc}", file=sys.stderr)
            code = 1
            continue
        if now and verb in ("enable", "disable"):
            action = "start" if verb == "enable" else "stop"
            code = code or _init_request({"op": "service", "action": action, "name": name}).get("rc", 1)
    return code


def _show(names: list[str], props: list[str]) -> int:
    """systemctl show -p ActiveState,SubState,UnitFileState,LoadState NAME."""
    for name in names:
        active = _init_request({"op": "service", "action": "is-active", "name": name})["out"]
        values = {
            "ActiveState": active,
            "SubState": "running" if active == "active" else "dead",
            "UnitFileState": _is_enabled(name),
            "LoadState": "loaded" if _unit_file(name) else "not-found",
            "Id": name,
        }
        wanted = [p for prop in props for p in prop.split(",")] or list(values)
        for key in wanted:
            print(f"{key}={values.get(key, '')}")
    return 0


# --- snap --------------------------------------------------------------------------------------


def snap(argv: list[str]) -> int:
    """Record the call; answer get/set of system options and list from the record."""
    SNAP_DIR.mkdir(parents=True, exist_ok=True)
    with open(SNAP_DIR / "snap-calls.jsonl", "a", encoding="utf-8") as record:
        record.write(json.dumps({"argv": ["snap", *argv], "time": time.time()}) + "\n")
    options_file = SNAP_DIR / "snap-options.json"
    options: dict[str, dict[str, str]] = json.loads(options_file.read_text()) if options_file.exists() else {}
    words = [a for a in argv if not a.startswith("-")]
    verb = words[0] if words else ""
    if verb == "set" and len(words) >= 2:
        target = options.setdefault(words[1], {})
        for item in words[2:]:
            key, _, value = item.partition("=")
            target[key] = value
        options_file.write_text(json.dumps(options), encoding="utf-8")
    elif verb == "unset" and len(words) >= 2:
        for key in words[2:]:
            options.get(words[1], {}).pop(key, None)
        options_file.write_text(json.dumps(options), encoding="utf-8")
    elif verb == "get" and len(words) >= 2:
        values = options.get(words[1], {})
        if len(words) == 2:
            print(json.dumps(values) if "-d" in argv else "\n".join(f"{k}  {v}" for k, v in values.items()))
        elif words[2] in values:
            print(values[words[2]])
        else:
            print(f'error: snap "{words[1]}" has no "{words[2]}" configuration option', file=sys.stderr)
            return 1
        return 0
    elif verb == "version":
        print("snap    2.63\nsnapd   2.63\nseries  16\nubuntu  22.04")
        return 0
    elif verb in ("install", "remove", "list"):
        return snap_packages(verb, words[1:])
    print(f"localjuju: recorded `snap {' '.join(argv)}` (snapd is not available in the local model)")
    return 0


def snap_packages(verb: str, names: list[str]) -> int:
    """Keep the list of "installed" snaps, so that `snap list NAME` answers as snapd would."""
    installed_file = SNAP_DIR / "snaps-installed.json"
    installed: list[str] = json.loads(installed_file.read_text()) if installed_file.exists() else []
    if verb == "list":
        missing = [name for name in names if name not in installed]
        if missing:
            print(f"error: no matching snaps installed ({', '.join(missing)})", file=sys.stderr)
            return 1
        print("Name  Version  Rev  Tracking  Publisher  Notes")
        for name in names or installed:
            print(f"{name}  localjuju  1  -  localjuju  -")
        return 0
    for name in names:
        if verb == "install" and name not in installed:
            installed.append(name)
        elif verb == "remove" and name in installed:
            installed.remove(name)
    installed_file.write_text(json.dumps(installed), encoding="utf-8")
    print(f"localjuju: recorded `snap {verb} {' '.join(names)}` (snapd is not available in the local model)")
    return 0


# --- apt-get -----------------------------------------------------------------------------------


def _packages(argv: list[str]) -> list[str]:
    """Return the package names of an apt-get command line."""
    skip_next = {"-o", "-t", "--target-release", "-c"}
    names, skip = [], False
    for arg in argv[1:]:
        if skip:
            skip = False
        elif arg in skip_next:
            skip = True
        elif not arg.startswith("-"):
            names.append(arg.split("=", 1)[0])
    return names


def _all_installed(packages: list[str]) -> bool:
    """Whether every package is installed, asked of dpkg."""
    if not packages:
        return True
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}\n", *packages], capture_output=True, text=True, check=False
    )
    lines = result.stdout.splitlines()
    return result.returncode == 0 and len(lines) == len(packages) and all(line.endswith(" installed") for line in lines)


def apt_get(argv: list[str]) -> int:
    """Pass install to the host's apt once; make other changes harmless no-ops."""
    words = [a for a in argv if not a.startswith("-")]
    verb = words[0] if words else ""
    if verb == "install":
        packages = _packages(argv[argv.index("install") :])
        if _all_installed(packages):
            print(f"localjuju: already installed: {' '.join(packages)}")
            return 0
        return _on_host(argv)
    if verb == "update":
        if any(Path("/var/lib/apt/lists").glob("*_Packages*")):
            print("localjuju: apt-get update skipped (the host's package lists are used)")
            return 0
        return _on_host(argv)
    print(f"localjuju: apt-get {verb} is not passed to the host; nothing done")
    return 0


def _on_host(argv: list[str]) -> int:
    """Run this stand-in's host half in the host's mount namespace (held open by the init)."""
    fd = Path("/run/localjuju/host-mnt-fd").read_text(encoding="utf-8").strip()
    me = os.path.realpath(sys.argv[0])
    cmd = ["nsenter", f"--mount=/proc/1/fd/{fd}", "--", "/usr/bin/python3", me, "host-apt-get", *argv]
    return subprocess.call(cmd)


def host_apt_get(argv: list[str]) -> int:
    """On the host: run apt-get under a host-wide lock, then drop stale directory caches."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8"}
    with open(APT_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if "install" in argv and _all_installed(_packages(argv[argv.index("install") :])):
            return 0
        code = subprocess.call(["apt-get", "-o", "DPkg::Lock::Timeout=600", *argv], env=env)
    # Units see the host's files through overlays, which may hold stale dentries for paths
    # looked up before the install; dropping unused dentries makes the new files visible.
    with contextlib.suppress(OSError), open("/proc/sys/vm/drop_caches", "w") as caches:
        caches.write("2\n")
    return code


def main(argv: list[str]) -> int:
    """Dispatch to the stand-in named by the first argument."""
    name, rest = argv[0], argv[1:]
    handlers = {"systemctl": systemctl, "snap": snap, "apt-get": apt_get, "apt": apt_get, "host-apt-get": host_apt_get}
    try:
        return handlers[name](rest)
    except (OSError, KeyError) as exc:
        print(f"localjuju {name}: {exc}", file=sys.stderr)
        return 1
