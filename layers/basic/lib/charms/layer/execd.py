"""exec.d: site-specific steps an operator puts beside the charm, run before anything else.

An operator (or a subordinate) may place `exec.d/<module>/charm-pre-install`
executables in the charm directory. Each runs once, at the start of the first
hook that finds it, before any package is installed; a marker file
`exec.d/.<module>_charm-pre-install.done` records that it ran, and removing the
marker runs it again. Only the standard library is used: nothing else exists yet.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from charms.layer import status_memory

COMMAND = "charm-pre-install"


def default_execd_dir() -> Path:
    return Path(os.environ.get("JUJU_CHARM_DIR") or os.environ.get("CHARM_DIR") or os.getcwd()) / "exec.d"


def pending(execd_dir: Path, command: str = COMMAND) -> Iterator[tuple[Path, Path]]:
    """(executable, marker) for each module's `command` that has not run yet, by module name."""
    if not execd_dir.is_dir():
        return
    for module in sorted(path for path in execd_dir.iterdir() if path.is_dir()):
        executable = module / command
        marker = execd_dir / f".{module.name}_{command}.done"
        if executable.is_file() and os.access(executable, os.X_OK) and not marker.exists():
            yield executable, marker


def execd_preinstall(execd_dir: str | Path | None = None) -> None:
    """Run each pending exec.d/*/charm-pre-install; on a failure, set blocked and end the hook.

    As upstream does, the hook then exits 0 with the unit blocked (the message
    names the step and its exit code), and the next hook tries the step again.
    """
    directory = Path(execd_dir) if execd_dir else default_execd_dir()
    for executable, marker in pending(directory):
        result = subprocess.run([str(executable)], check=False, stdout=sys.stderr)
        if result.returncode != 0:
            message = f"Error ({result.returncode}) running {executable.relative_to(directory.parent)}"
            print(message, file=sys.stderr)
            # Without hook tools (run by hand) the message above is the whole report.
            with contextlib.suppress(OSError):
                subprocess.run(["status-set", "blocked", message], check=False)
            status_memory.forget_in(status_memory.unit_state_database(directory.parent))
            sys.exit(0)
        marker.write_text(f"{executable} ran successfully; remove this file to run it again\n")
