"""A unit's machine: a long-lived init that is PID 1 of the unit's own namespaces.

`launch` starts `unshare --mount --pid --uts --fork --mount-proc --kill-child python3 -m
localjuju.machine ...`. The init then lays overlay mounts over the host's trees (so the unit
sees the host's files and keeps its own writes), mounts tmpfs on /run and /tmp, makes /proc/sys
and /sys read-only, names the machine, writes what makes it look like Ubuntu 22.04 and a Juju
machine, and serves requests on a unix socket: run a command (a hook, an exec, a copy), control
a service, shut down. Killing the `unshare` process kills the init, and with it, by the kernel's
rule for PID namespaces, every process of the unit.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "localjuju"

from localjuju import JUJU_VERSION
from localjuju.reaper import Reaper
from localjuju.state import LOCALJUJU_DIR, ModelDir

OVERLAY_TREES = ("/etc", "/var", "/usr", "/opt", "/srv", "/home", "/root")
TMPFS_TREES = {"/run": "0755", "/tmp": "1777"}
STANDINS = ("systemctl", "snap", "apt-get", "apt")
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC = 1, 32, 4096, 16384
OS_RELEASE = """PRETTY_NAME="Ubuntu 22.04.5 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.5 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=jammy
"""
LSB_RELEASE = """DISTRIB_ID=Ubuntu
DISTRIB_RELEASE=22.04
DISTRIB_CODENAME=jammy
DISTRIB_DESCRIPTION="Ubuntu 22.04.5 LTS"
"""

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    """Call mount(2), raising OSError on failure."""

    def enc(value: str | None) -> bytes | None:
        return value.encode() if value is not None else None

    if _libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


# ---------------------------------------------------------------------------------------------
# Inside the unit: setting up the machine
# ---------------------------------------------------------------------------------------------


def _overlay_trees(keep: list[str]) -> list[str]:
    """Trees to overlay: those that exist, are real directories and hold no kept path."""
    return [
        tree
        for tree in OVERLAY_TREES
        if os.path.isdir(tree)
        and not os.path.islink(tree)
        and not any(path == tree or path.startswith(tree + "/") for path in keep)
    ]


def setup_mounts(unit_dir: Path, keep: list[str]) -> None:
    """Give the unit its own view of the file system, keeping `keep` paths shared with the host."""
    kept = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path in keep}
    for tree in _overlay_trees(keep):
        upper, work = unit_dir / "upper" / tree.strip("/"), unit_dir / "work" / tree.strip("/")
        upper.mkdir(parents=True, exist_ok=True)
        work.mkdir(parents=True, exist_ok=True)
        _mount("overlay", tree, "overlay", 0, f"lowerdir={tree},upperdir={upper},workdir={work}")
    for tree, mode in TMPFS_TREES.items():
        _mount("tmpfs", tree, "tmpfs", 0, f"mode={mode}")
    for path, fd in kept.items():
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC, None)
        os.close(fd)
    _read_only_kernel()


def _read_only_kernel() -> None:
    """Make /proc/sys and /sys (with its submounts) read-only, as in an LXD container."""
    _mount("/proc/sys", "/proc/sys", None, MS_BIND, None)
    _mount(None, "/proc/sys", None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)
    _mount("/sys", "/sys", None, MS_BIND | MS_REC, None)
    with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
        targets = [line.split()[4] for line in mountinfo]
    for target in targets:
        if target == "/sys" or target.startswith("/sys/"):
            with contextlib.suppress(OSError):
                _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)


def _replace_file(path: str, text: str, mode: int = 0o644) -> None:
    """Write a file in the unit, replacing a symlink rather than writing through it."""
    with contextlib.suppress(FileNotFoundError):
        if os.path.islink(path):
            os.unlink(path)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text, encoding="utf-8")
    os.chmod(path, mode)


def setup_identity(args: argparse.Namespace, model: ModelDir) -> None:
    """Name the machine, make it say Ubuntu 22.04, and give it Juju's machine files and stand-ins."""
    hostname = args.hostname.encode()
    if _libc.sethostname(hostname, len(hostname)) != 0:
        raise OSError(ctypes.get_errno(), "sethostname")
    _replace_file("/etc/hostname", args.hostname + "\n")
    _replace_file("/etc/hosts", f"127.0.0.1 localhost\n{args.address} {args.hostname}\n")
    _replace_file("/etc/os-release", OS_RELEASE)
    _replace_file("/usr/lib/os-release", OS_RELEASE)
    _replace_file("/etc/lsb-release", LSB_RELEASE)
    _replace_file("/etc/machine-id", f"{abs(hash(args.hostname)):032x}"[:32] + "\n", 0o444)
    jujud = f"/var/lib/juju/tools/machine-{args.machine}/jujud"
    _replace_file(jujud, f"#!/bin/sh\necho {JUJU_VERSION}-ubuntu-amd64\n", 0o755)
    tools_link = Path(f"/var/lib/juju/tools/unit-{args.unit.replace('/', '-')}")
    if not tools_link.is_symlink():
        tools_link.symlink_to(model.tools)
    for name in STANDINS:
        script = f'#!/bin/sh\nexec /usr/bin/python3 {LOCALJUJU_DIR / "standin"} {name} "$@"\n'
        _replace_file(f"/usr/bin/{name}", script, 0o755)
    for directory in ("/run/lock", "/run/localjuju", "/run/user"):
        os.makedirs(directory, exist_ok=True)
    Path("/run/localjuju/host-mnt-fd").write_text(str(args.host_mnt_fd), encoding="utf-8")
    Path("/run/localjuju/unit").write_text(args.unit, encoding="utf-8")
    Path("/run/localjuju/socket").write_text(str(model.socket(args.unit)), encoding="utf-8")


class Init:
    """The unit's PID 1: reaps orphans, supervises services and serves requests."""

    def __init__(self) -> None:
        from localjuju.services import ServiceManager  # only the unit's init needs it, not every CLI call

        self.reaper = Reaper()
        self.services = ServiceManager(self.reaper)
        threading.Thread(target=self.reaper.run_forever, daemon=True).start()

    def serve(self, path: Path) -> None:
        """Accept requests on the unix socket at path forever."""
        path.unlink(missing_ok=True)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        server.listen(64)
        while True:
            conn, _ = server.accept()
            threading.Thread(target=self._serve_one, args=(conn,), daemon=True).start()

    def _serve_one(self, conn: socket.socket) -> None:
        """Answer one JSON request on conn with one JSON reply."""
        with conn, conn.makefile("rwb") as stream:
            request = json.loads(stream.readline())
            try:
                reply = self.dispatch(request)
            except Exception as exc:
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            stream.write(json.dumps(reply).encode() + b"\n")
            stream.flush()
        if request.get("op") == "shutdown":
            os._exit(0)

    def dispatch(self, request: dict[str, Any]) -> dict[str, Any]:
        """Carry out one request."""
        op = request.get("op")
        if op == "ping":
            return {"ok": True, "pid": os.getpid()}
        if op == "run":
            return self.run(request)
        if op == "service":
            return self.services.handle(request["action"], request["name"])
        if op == "shutdown":
            self.services.stop_all()
            return {"ok": True}
        raise ValueError(f"unknown request {op!r}")

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run a command to completion as root; return its exit code and output."""
        with tempfile.TemporaryFile(dir="/run/localjuju") as out, tempfile.TemporaryFile(dir="/run/localjuju") as err:
            proc = subprocess.Popen(
                request["argv"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err if not request.get("merge") else out,
                env=request.get("env") or {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                cwd=request.get("cwd") or "/",
                start_new_session=True,
            )
            proc.returncode = 0  # the reaper owns the exit status
            self.reaper.track(proc.pid)
            code = self.reaper.wait(proc.pid, request.get("timeout"))
            timed_out = code is None
            if timed_out:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                code = self.reaper.wait(proc.pid, 5)
            out.seek(0)
            err.seek(0)
            return {
                "rc": code if code is not None else -9,
                "stdout": out.read().decode("utf-8", "replace"),
                "stderr": err.read().decode("utf-8", "replace"),
                "timed_out": timed_out,
            }


def init_main(argv: list[str]) -> None:
    """Entry point of the unit's init (inside the new namespaces)."""
    parser = argparse.ArgumentParser(prog="localjuju-init")
    for option in ("--model-dir", "--unit", "--machine", "--address", "--hostname"):
        parser.add_argument(option, required=True)
    parser.add_argument("--host-mnt-fd", type=int, required=True)
    parser.add_argument("--keep", action="append", default=[])
    args = parser.parse_args(argv)
    model = ModelDir(Path(args.model_dir))
    unit_dir = model.unit_dir(args.unit)
    setup_mounts(unit_dir, args.keep)
    setup_identity(args, model)
    os.chdir("/")
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    Init().serve(model.socket(args.unit))


# ---------------------------------------------------------------------------------------------
# On the host: the client side
# ---------------------------------------------------------------------------------------------


class MachineError(Exception):
    """The unit's machine did not answer or could not be started."""


def request(model: ModelDir, unit: str, payload: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Send one request to the unit's init and return its reply."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(model.socket(unit)))
    except OSError as exc:
        sock.close()
        raise MachineError(f"machine of {unit} is not running ({exc.strerror})") from None
    sock.settimeout(timeout)
    with sock, sock.makefile("rwb") as stream:
        stream.write(json.dumps(payload).encode() + b"\n")
        stream.flush()
        line = stream.readline()
    if not line:
        raise MachineError(f"machine of {unit} closed the connection")
    reply = json.loads(line)
    if "error" in reply:
        raise MachineError(f"machine of {unit}: {reply['error']}")
    return reply


def process_start_time(pid: int) -> str | None:
    """Return the start time of pid (to tell a reused pid from ours), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]


def launch(model: ModelDir, unit: str, machine: str, address: str, hostname: str) -> tuple[int, str]:
    """Start the unit's machine and wait until it answers; return (pid, start time)."""
    unit_dir = model.unit_dir(unit)
    unit_dir.mkdir(parents=True, exist_ok=True)
    host_mnt = os.open("/proc/self/ns/mnt", os.O_RDONLY)
    keep = sorted({str(model.root), str(LOCALJUJU_DIR)})
    argv = [
        "unshare", "--mount", "--pid", "--uts", "--fork", "--mount-proc", "--kill-child",
        "--propagation", "private",
        sys.executable, str(Path(__file__).resolve()), "--model-dir", str(model.root),
        "--unit", unit, "--machine", machine, "--address", address, "--hostname", hostname,
        "--host-mnt-fd", str(host_mnt),
    ]  # fmt: skip
    for path in keep:
        argv += ["--keep", path]
    with open(unit_dir / "init.log", "ab") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=(host_mnt,), start_new_session=True
        )
    os.close(host_mnt)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise MachineError(f"machine of {unit} failed to start; see {unit_dir / 'init.log'}")
        with contextlib.suppress(MachineError, OSError):
            request(model, unit, {"op": "ping"}, timeout=2)
            return proc.pid, process_start_time(proc.pid) or ""
        time.sleep(0.005)
    raise MachineError(f"machine of {unit} did not answer within 15 s")


def kill(pid: int | None, start: str | None) -> None:
    """Kill a machine's unshare process if it is still ours; its namespace dies with it."""
    if not pid or process_start_time(pid) is None or process_start_time(pid) != start:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process_start_time(pid) is not None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.01)


def shutdown(model: ModelDir, unit: str, pid: int | None, start: str | None) -> None:
    """Stop the unit's services cleanly, then end its machine."""
    with contextlib.suppress(MachineError, OSError):
        request(model, unit, {"op": "shutdown"}, timeout=30)
    kill(pid, start)


if __name__ == "__main__":
    init_main(sys.argv[1:])
