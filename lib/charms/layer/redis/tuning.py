"""Host settings Redis warns about at start-up, persisted and applied where the machine allows.

- vm.overcommit_memory=1: without it a background save or a replica sync can
  fail to fork under memory pressure.
- net.core.somaxconn at least tcp-backlog (511), else Redis's backlog is cut.
- Transparent huge pages not `always`: they make fork latency and memory use
  spike. Redis 7 turns them off for its own process (disable-thp), older
  releases need the machine to.

In a container the kernel refuses these writes; that is reported, not fatal.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

SYSCTL_FILE = Path("/etc/sysctl.d/60-redis-charm.conf")
TMPFILES_FILE = Path("/etc/tmpfiles.d/redis-charm-thp.conf")
THP_ENABLED = Path("/sys/kernel/mm/transparent_hugepage/enabled")
TCP_BACKLOG = 511


@dataclass(frozen=True)
class TuningResult:
    """What could not be applied now (the files are written either way)."""

    refused: tuple[str, ...] = ()


def sysctl_text(current_somaxconn: int) -> str:
    somaxconn = max(current_somaxconn, TCP_BACKLOG)
    return (
        "# Written by the redis charm: settings Redis warns about at start-up.\n"
        "# Background saves and replica syncs fork; let them.\n"
        "vm.overcommit_memory = 1\n"
        "# At least Redis's tcp-backlog.\n"
        f"net.core.somaxconn = {somaxconn}\n"
    )


def thp_is_always(text: str) -> bool:
    """True when the kernel's THP mode (the bracketed word) is `always`."""
    return "[always]" in text


def read_int(path: Path, default: int) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def apply(proc_sys: Path = Path("/proc/sys")) -> TuningResult:
    """Persist the settings and apply them now where the kernel lets us."""
    refused = []
    somaxconn = read_int(proc_sys / "net" / "core" / "somaxconn", 4096)
    SYSCTL_FILE.parent.mkdir(parents=True, exist_ok=True)
    SYSCTL_FILE.write_text(sysctl_text(somaxconn))
    result = subprocess.run(["sysctl", "-q", "-p", str(SYSCTL_FILE)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        refused.append("sysctl")
    TMPFILES_FILE.parent.mkdir(parents=True, exist_ok=True)
    TMPFILES_FILE.write_text(
        "# Written by the redis charm: transparent huge pages only where asked for (madvise).\n"
        f"w {THP_ENABLED} - - - - madvise\n"
    )
    try:
        if thp_is_always(THP_ENABLED.read_text()):
            THP_ENABLED.write_text("madvise\n")
    except OSError:
        refused.append("transparent_hugepage")
    return TuningResult(tuple(refused))
