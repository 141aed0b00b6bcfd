"""The model's hook tool server: hook tools in a few milliseconds instead of a Python start.

Each hook tool is a link to a small compiled client (../hooktool.c) that sends its arguments,
environment and standard file descriptors to this server over `MODEL/tools.sock`. The server,
a process on the host started on demand by the controller, has the tools' code loaded; a
forked worker answers each call: it takes the caller's descriptors and environment, runs the tool as
the Python program would (hooktools.main) and sends back the exit status. Files named on the
command line (`--file F`) are read through /proc/PID/root of the caller, so the tool sees the
unit's own file system. Without a C compiler, or before the server is up, the tools run as
Python programs as before.

The server ends when the model's state is gone (destroy-model) or after IDLE_SECONDS unused;
it checks every few seconds, when a waiting worker gives up.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import gc
import hashlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import NoReturn

from .state import LOCALJUJU_DIR, ModelDir, home, lock_is_held

SOCKET_NAME = "tools.sock"
LOCK_NAME = "tools.lock"
WORKERS = 2
NO_CALL = 3  # a worker's exit status when no call came
IDLE_SECONDS = 1800.0
CLIENT_SOURCE = LOCALJUJU_DIR / "hooktool.c"
PYTHON_TOOL = LOCALJUJU_DIR / "hooktool"


def tool_program() -> Path:
    """The program every hook tool links to: the compiled client (built once per source), or the
    Python tool when no C compiler is available."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return PYTHON_TOOL
    source = CLIENT_SOURCE.read_bytes()
    digest = hashlib.sha256(source + str(PYTHON_TOOL).encode()).hexdigest()[:16]
    binary = home() / "bin" / f"hooktool-{digest}"
    if binary.exists():
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_suffix(f".{os.getpid()}")
    command = [compiler, "-O2", "-Wall", f'-DFALLBACK="{PYTHON_TOOL}"', "-o", str(partial), str(CLIENT_SOURCE)]
    if subprocess.run(command, capture_output=True, check=False).returncode != 0:
        return PYTHON_TOOL
    os.replace(partial, binary)
    return binary


def ensure(mdl: ModelDir) -> None:
    """Start the model's tool server unless one runs (it holds tools.lock while it serves)."""
    if lock_is_held(mdl.root / LOCK_NAME):
        return
    subprocess.Popen(
        ["/usr/bin/python3", str(PYTHON_TOOL), "--serve", str(mdl.root)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
        cwd="/",
    )


def serve(root: str) -> int:
    """Serve tool calls for the model at root until it is destroyed or idle too long.

    WORKERS forked children wait for calls, each answers one and exits, and the server forks
    its replacement while the hook goes on, so no call waits for a fork.
    """
    mdl = ModelDir(Path(root))
    lock = os.open(mdl.root / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another server has it
    _preload()
    gc.freeze()  # forked children then share the loaded code instead of copying it page by page
    listener = _listen(mdl.root / SOCKET_NAME)
    workers: set[int] = set()
    last_call = time.monotonic()
    while mdl.exists() and time.monotonic() - last_call < IDLE_SECONDS:
        while len(workers) < WORKERS:
            pid = os.fork()
            if pid == 0:
                _worker(listener)
            workers.add(pid)
        pid, status = os.wait()
        workers.discard(pid)
        if os.waitstatus_to_exitcode(status) != NO_CALL:
            last_call = time.monotonic()
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    return 0


def _worker(listener: socket.socket) -> NoReturn:
    """A forked worker's whole life: it never returns into the server's loop."""
    code = 1
    try:
        code = _work(listener)
    finally:
        os._exit(code)


def _work(listener: socket.socket) -> int:
    """In a worker: answer one call, or give up after a while without one (NO_CALL)."""
    try:
        conn, _ = listener.accept()
    except TimeoutError:
        return NO_CALL
    listener.close()
    return _answer(conn)


def _preload() -> None:
    """Import what tools may need, once, so that no call pays for it."""
    import yaml  # noqa: F401

    from . import hooktools, model  # noqa: F401


def _listen(path: Path) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    listener.bind(str(partial))
    os.chmod(partial, 0o600)
    listener.listen(128)
    os.replace(partial, path)
    listener.settimeout(5.0)
    return listener


def _answer(conn: socket.socket) -> int:
    """In a forked child: take one call's descriptors and environment, run the tool, reply."""
    from .hooktools import main

    conn.settimeout(None)
    argv, env = _receive(conn)
    pid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
    os.environ.clear()
    os.environ.update(env)
    os.environ["LOCALJUJU_CALLER_PID"] = str(pid)
    sys.argv = argv
    try:
        status = main(argv)
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    except Exception:  # a crashing tool fails its call, as a crashing process would
        traceback.print_exc()
        status = 1
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    with contextlib.suppress(OSError):
        conn.sendall(struct.pack("<i", status))
    return 0


def _receive(conn: socket.socket) -> tuple[list[str], dict[str, str]]:
    """Read a request; the caller's standard descriptors become this process's 0, 1 and 2."""
    fds = array.array("i")
    header, ancillary, _, _ = conn.recvmsg(4, socket.CMSG_SPACE(3 * fds.itemsize))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    header += _exactly(conn, 4 - len(header))
    payload = _exactly(conn, struct.unpack("<I", header)[0])
    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target)
        os.close(fd)
    fields = [f.decode("utf-8", "surrogateescape") for f in payload.split(b"\0")[:-1]]
    count = int(fields[0])
    argv, env = fields[1 : 1 + count], fields[1 + count :]
    return argv, dict(item.split("=", 1) for item in env if "=" in item)


def _exactly(conn: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left > 0:
        chunk = conn.recv(left)
        if not chunk:
            raise ConnectionError("request cut short")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
