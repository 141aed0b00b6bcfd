"""A model's controller: the process that runs its hooks in the background, as Juju's agents do.

Commands that change the model record the change in the state and call `ensure_running`, which
wakes the model's controller through a FIFO, or starts one (detached from the command with a
double fork and setsid, so it outlives it) when none holds the controller lock. The controller
then runs hooks and tasks until the model is destroyed: `destroy-model` calls `stop`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import sys
import traceback
from pathlib import Path

from .state import PACKAGE_DIR, ModelDir, lock_is_held


def wake(mdl: ModelDir) -> None:
    """Tell a running controller that the model changed (nothing happens if none listens)."""
    with contextlib.suppress(OSError):
        fd = os.open(mdl.wakeup, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            os.write(fd, b"!")
        finally:
            os.close(fd)


def ensure_running(mdl: ModelDir) -> None:
    """Wake the model's controller, starting it first if it is not running."""
    if lock_is_held(mdl.controller_lock):
        wake(mdl)
        return
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the intermediate child
        try:
            os.setsid()
            if os.fork() == 0:
                _exec_controller(mdl)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _exec_controller(mdl: ModelDir) -> None:
    """Replace this (detached) process with the controller, its output going to its log."""
    devnull = os.open(os.devnull, os.O_RDWR)
    mdl.logs.mkdir(mode=0o700, exist_ok=True)
    log = os.open(mdl.logs / "controller.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.chdir("/")
    code = f"import sys; sys.path.insert(0, {str(PACKAGE_DIR.parent)!r}); from localjuju.controller import main; main()"
    os.execv(sys.executable, [sys.executable, "-c", code, "localjuju-controller", str(mdl.root)])


def stop(mdl: ModelDir) -> None:
    """End the model's controller (destroy-model)."""
    pid_file = mdl.root / "controller.pid"
    with contextlib.suppress(OSError, ValueError):
        pid = int(pid_file.read_text(encoding="utf-8"))
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"localjuju-controller" in cmdline and str(mdl.root).encode() in cmdline:
            os.kill(pid, signal.SIGKILL)


def main() -> None:
    """Run a model's controller until the model is gone (argv: ... localjuju-controller ROOT)."""
    from .scheduler import Engine

    mdl = ModelDir(Path(sys.argv[-1]))
    lock = os.open(mdl.controller_lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another controller won the race
    (mdl.root / "controller.pid").write_text(f"{os.getpid()}\n", encoding="utf-8")
    with contextlib.suppress(FileExistsError):
        os.mkfifo(mdl.wakeup, 0o600)
    fifo = os.open(mdl.wakeup, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    inner_r, inner_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def wake_inner() -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(inner_w, b"!")

    engine = Engine(mdl, wake_inner)
    while mdl.exists():
        try:
            delay = engine.step()
        except Exception:  # keep running the model; the next wake-up tries again
            traceback.print_exc()
            delay = 0.5
        ready, _, _ = select.select([fifo, inner_r], [], [], delay)
        for fd in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(fd, 4096)
