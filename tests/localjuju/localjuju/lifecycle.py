"""Starting and ending unit machines: addresses, the init process and the charm directory."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from . import machine
from .records import Unit
from .state import ModelDir, State

ADDRESS_DIR = Path("/tmp/.localjuju-addresses")


def charm_dir(unit: str) -> str:
    """Where a unit's charm lives inside its machine, as in a Juju agent."""
    return f"/var/lib/juju/agents/unit-{unit.replace('/', '-')}/charm"


def _address_owner_alive(path: Path) -> bool:
    """Whether the model that claimed an address still exists (addresses are freed on removal)."""
    try:
        owner = path.read_text(encoding="utf-8").split("\n", 1)[0]
    except OSError:
        return False
    return Path(owner).is_dir()


def allocate_address(model: ModelDir, unit: str) -> str:
    """Claim a loopback address no other unit of any local model uses (127.0.B.C)."""
    ADDRESS_DIR.mkdir(mode=0o755, exist_ok=True)
    for b in range(1, 255):
        for c in range(2, 255):
            address = f"127.0.{b}.{c}"
            path = ADDRESS_DIR / address
            with contextlib.suppress(FileExistsError):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                os.write(fd, f"{model.root}\n{unit}\n".encode())
                os.close(fd)
                return address
            if not _address_owner_alive(path):
                path.write_text(f"{model.root}\n{unit}\n", encoding="utf-8")
                return address
    raise RuntimeError("no free loopback address left")


def release_address(model: ModelDir, address: str) -> None:
    """Give back an address if this model holds it."""
    path = ADDRESS_DIR / address
    with contextlib.suppress(OSError):
        if path.read_text(encoding="utf-8").startswith(f"{model.root}\n"):
            path.unlink()


def start_unit(model: ModelDir, record: Unit, charm_source: str) -> tuple[int, str]:
    """Start a unit's machine and put the charm in its agent directory."""
    pid, start = machine.launch(model, record["name"], record["machine"], record["address"], record["hostname"])
    install_charm(model, record["name"], charm_source, None)
    return pid, start


def place_subordinate(model: ModelDir, record: Unit, principal: Unit) -> None:
    """Set a subordinate unit up on its principal's machine: its socket path leads to the
    principal's init (so every request for the unit runs there), the agent's tools link, and its
    own charm directory."""
    unit_dir = model.unit_dir(record["name"])
    unit_dir.mkdir(parents=True, exist_ok=True)
    link = model.socket(record["name"])
    link.unlink(missing_ok=True)
    link.symlink_to(model.socket(principal["name"]))
    tools = f"/var/lib/juju/tools/unit-{record['name'].replace('/', '-')}"
    machine.request(model, record["name"], {"op": "run", "argv": ["ln", "-sfn", str(model.tools), tools]})
    install_charm(model, record["name"], record["charm_source"], None)


def install_charm(model: ModelDir, unit: str, source: str, old_source: str | None) -> None:
    """Copy the charm into the unit; on upgrade, first delete files the old charm had and the new lacks."""
    dest = charm_dir(unit)
    script = 'mkdir -p "$1" && cp -a "$2/." "$1/"'
    argv = ["/bin/sh", "-c", script, "sh", dest, source]
    if old_source is not None:
        stale = sorted(_files(Path(old_source)) - _files(Path(source)), reverse=True)
        if stale:
            machine.request(model, unit, {"op": "run", "argv": ["rm", "-rf", *(f"{dest}/{p}" for p in stale)]})
    reply = machine.request(model, unit, {"op": "run", "argv": argv})
    if reply["rc"] != 0:
        raise machine.MachineError(f"cannot install the charm in {unit}: {reply['stderr'].strip()}")


def _files(root: Path) -> set[str]:
    """Relative paths of the files and directories under root."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def end_unit(model: ModelDir, record: Unit, graceful: bool = True) -> None:
    """End a unit's machine (and every process in it) and free its address.

    A subordinate unit has no machine of its own: its agent directory is deleted from its
    principal's machine, which lives on.
    """
    if record.get("principal"):
        _end_subordinate(model, record)
        return
    if graceful:
        machine.shutdown(model, record["name"], record.get("pid"), record.get("start"))
    else:
        machine.kill(record.get("pid"), record.get("start"))
    release_address(model, record["address"])


def _end_subordinate(model: ModelDir, record: Unit) -> None:
    """Delete a removed subordinate's agent directory and tools link, best effort."""
    name = record["name"].replace("/", "-")
    argv = ["rm", "-rf", f"/var/lib/juju/agents/unit-{name}", f"/var/lib/juju/tools/unit-{name}"]
    if record.get("pid"):
        with contextlib.suppress(machine.MachineError, OSError):
            machine.request(model, record["name"], {"op": "run", "argv": argv})
    model.socket(record["name"]).unlink(missing_ok=True)


def end_all(model: ModelDir, state: State) -> None:
    """End every machine of the model, even when their processes already died (subordinate
    units go with their principals' machines)."""
    for record in state["units"].values():
        if not record.get("principal"):
            end_unit(model, record, graceful=False)
