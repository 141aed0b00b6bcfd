"""Child reaping for a unit's init, which is PID 1 of its namespace.

Every process of the unit that loses its parent becomes a child of the init, so one thread
waits for any child and records exit codes; the code that started a process waits for its
exit through this registry (never with its own waitpid, which would race with the reaper).
"""

from __future__ import annotations

import os
import signal
import threading
import time


class Reaper:
    """Reap every child of this process and remember the exit codes of those we track."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._exits: dict[int, int] = {}
        self._tracked: set[int] = set()
        self._sentinel = self._spawn_sentinel()

    @staticmethod
    def _spawn_sentinel() -> int:
        """Fork a child that never exits, so that waitpid(-1) always has something to wait for."""
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            while True:
                signal.pause()
        return pid

    def track(self, pid: int) -> None:
        """Remember the exit code of pid (call right after starting it)."""
        with self._cond:
            self._tracked.add(pid)

    def run_forever(self) -> None:
        """Reap children until the process ends (run in a daemon thread)."""
        while True:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                time.sleep(0.1)
                continue
            except InterruptedError:
                continue
            with self._cond:
                self._exits[pid] = os.waitstatus_to_exitcode(status)
                if len(self._exits) > 4096:
                    self._forget_untracked()
                self._cond.notify_all()

    def _forget_untracked(self) -> None:
        """Drop exit codes of orphans nobody waits for (called with the lock held)."""
        for pid in [p for p in self._exits if p not in self._tracked]:
            del self._exits[pid]

    def wait(self, pid: int, timeout: float | None = None) -> int | None:
        """Wait for a tracked pid to exit; return its exit code, or None on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while pid not in self._exits:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            self._tracked.discard(pid)
            return self._exits.pop(pid)

    def poll(self, pid: int) -> int | None:
        """Return the exit code of a tracked pid if it has exited, without forgetting it."""
        with self._cond:
            return self._exits.get(pid)
