"""Where a local model keeps its state, and how processes share it safely.

The whole model (applications, units, relations, queues, statuses) is one JSON document.
The CLI, the scheduler and every hook tool read and write it under an flock, so that
concurrent hooks on different units see one consistent model.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .records import ModelState

PACKAGE_DIR = Path(__file__).resolve().parent
LOCALJUJU_DIR = PACKAGE_DIR.parent
REPO_ROOT = LOCALJUJU_DIR.parent.parent

State = ModelState


def home() -> Path:
    """Return the directory holding all local models ($LOCALJUJU_HOME or .localjuju/)."""
    configured = os.environ.get("LOCALJUJU_HOME")
    return Path(configured).resolve() if configured else REPO_ROOT / ".localjuju"


@dataclass(frozen=True)
class ModelDir:
    """The files of one model under home()/models/NAME."""

    root: Path

    @classmethod
    def named(cls, name: str) -> ModelDir:
        """Return the directory of the model called name."""
        return cls(home() / "models" / name)

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def tools(self) -> Path:
        return self.root / "tools"

    @property
    def charms(self) -> Path:
        return self.root / "charms"

    @property
    def contexts(self) -> Path:
        return self.root / "contexts"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def unit_dir(self, unit: str) -> Path:
        """Return the host-side directory of a unit (overlay layers, socket, records)."""
        return self.root / "units" / unit.replace("/", "-")

    def socket(self, unit: str) -> Path:
        """Return the unix socket the unit's machine init listens on."""
        return self.unit_dir(unit) / "init.sock"

    def unit_log(self, unit: str) -> Path:
        """Return the unit's log file (what `juju debug-log` shows for it)."""
        return self.logs / f"unit-{unit.replace('/', '-')}.log"

    def exists(self) -> bool:
        return self.state_file.exists()


@contextlib.contextmanager
def flock(path: Path, exclusive: bool = True) -> Iterator[None]:
    """Hold an flock on path for the duration of the block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def read(model: ModelDir) -> State:
    """Read the model state without locking (writers replace the file atomically)."""
    with open(model.state_file, encoding="utf-8") as f:
        return json.load(f)


def write(model: ModelDir, state: State) -> None:
    """Replace the model state atomically."""
    tmp = model.state_file.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f, indent=1, sort_keys=True)
    os.replace(tmp, model.state_file)


@contextlib.contextmanager
def transaction(model: ModelDir) -> Iterator[State]:
    """Yield the model state for changing; it is saved when the block ends without error."""
    with flock(model.root / "state.lock"):
        state = read(model)
        yield state
        write(model, state)


def operation_lock(model: ModelDir) -> contextlib.AbstractContextManager[None]:
    """Serialize commands that change the model and run hooks (one at a time per model)."""
    return flock(model.root / "operation.lock")


def timestamp() -> str:
    """Return now in the format Juju uses for `since` fields."""
    return time.strftime("%d %b %Y %H:%M:%SZ", time.gmtime())
