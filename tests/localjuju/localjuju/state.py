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
import threading
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

    @property
    def tasks(self) -> Path:
        return self.root / "tasks"

    @property
    def controller_lock(self) -> Path:
        """Held by the model's controller process for as long as it runs."""
        return self.root / "controller.lock"

    @property
    def wakeup(self) -> Path:
        """A FIFO the controller listens on: commands write a byte to it after a change."""
        return self.root / "controller.fifo"

    def exists(self) -> bool:
        return self.state_file.exists()


@contextlib.contextmanager
def flock(path: Path, exclusive: bool = True) -> Iterator[None]:
    """Hold an flock on path for the duration of the block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def lock_is_held(path: Path) -> bool:
    """Whether some process holds the exclusive lock on `path` (a daemon's "I am running")."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def read(model: ModelDir) -> State:
    """Read the model state without locking (writers replace the file atomically)."""
    with open(model.state_file, encoding="utf-8") as f:
        return json.load(f)


def private_write(path: Path | os.PathLike[str], text: str) -> None:
    """Replace a file atomically with text, readable by its owner only (0600)."""
    tmp = f"{os.fspath(path)}.tmp{os.getpid()}-{threading.get_ident()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def write(model: ModelDir, state: State) -> None:
    """Replace the model state atomically (0600: it holds relation data, passwords included)."""
    private_write(model.state_file, json.dumps(state, indent=1, sort_keys=True))


@contextlib.contextmanager
def transaction(model: ModelDir) -> Iterator[State]:
    """Yield the model state for changing; it is saved when the block ends without error."""
    with flock(model.root / "state.lock"):
        state = read(model)
        yield state
        write(model, state)


def timestamp() -> str:
    """Return now in the format Juju uses for `since` fields."""
    return time.strftime("%d %b %Y %H:%M:%SZ", time.gmtime())
