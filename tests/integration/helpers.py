"""What integration tests of the redis charm share: reaching a unit's Redis, waiting, counting keys."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path

import jubilant
import redis

from conftest import model_dir

ROOT = Path(__file__).resolve().parents[2]
# REDIS_CHARM: another build to test (an older revision, to see a test fail without its fix).
CHARM = Path(os.environ.get("REDIS_CHARM", ROOT / "build" / "redis"))
APP = "redis"


def ensure_built() -> None:
    if not (CHARM / "metadata.yaml").exists():
        subprocess.run(["make", "build"], cwd=ROOT, check=True)


def units(juju: jubilant.Juju, app: str = APP) -> dict[str, jubilant.statustypes.UnitStatus]:
    return juju.status().apps[app].units


def leader(juju: jubilant.Juju, app: str = APP) -> str:
    return next(name for name, unit in units(juju, app).items() if unit.leader)


def password(juju: jubilant.Juju, app: str = APP) -> str:
    """The password every unit uses: the configured one, else the leader's generated one."""
    configured = juju.config(app).get("password")
    return configured or juju.exec("leader-get password", unit=leader(juju, app)).stdout.strip()


def client(juju: jubilant.Juju, unit: str, auth: str | None = None, port: int | None = None) -> redis.Redis:
    """A client of the unit's Redis on its address and opened port (the configured port may be refused)."""
    status = units(juju, unit.split("/")[0])[unit]
    port = port or int(status.open_ports[0].split("/")[0])
    return redis.Redis(
        host=status.public_address,
        port=port,
        password=auth if auth is not None else password(juju, unit.split("/")[0]),
        socket_timeout=10,
        decode_responses=True,
    )


def wait_idle(juju: jubilant.Juju, condition: Callable[[jubilant.Status], bool] = lambda status: True) -> None:
    """Every agent idle (the hooks the last command caused have run) and `condition` holds."""
    juju.wait(lambda status: jubilant.all_agents_idle(status) and condition(status))


def wait_active(juju: jubilant.Juju, app: str = APP) -> None:
    wait_idle(juju, lambda status: jubilant.all_active(status, app))


def wait_applied(juju: jubilant.Juju, unit: str, directive: str, value: str) -> None:
    """Every agent idle, the unit active and its Redis running with `directive` at `value`.

    `juju config` may return before any hook ran: the status alone cannot tell
    an applied change from one still to come.
    """

    def applied(status: jubilant.Status) -> bool:
        if not jubilant.all_active(status, unit.split("/")[0]):
            return False
        try:
            return client(juju, unit).config_get(directive).get(directive) == value
        except redis.RedisError:
            return False

    wait_idle(juju, applied)


def workload(juju: jubilant.Juju, unit: str) -> jubilant.statustypes.StatusInfo:
    return units(juju, unit.split("/")[0])[unit].workload_status


def unit_status_is(unit: str, current: str, text: str = "") -> Callable[[jubilant.Status], bool]:
    """A wait condition: the unit's workload status is `current` and its message contains `text`."""

    def holds(status: jubilant.Status) -> bool:
        found = status.apps[unit.split("/")[0]].units[unit].workload_status
        return found.current == current and text in found.message

    return holds


def run_hook(juju: jubilant.Juju, unit: str, hook: str = "update-status") -> None:
    """Run a hook now, as the controller's timer would (`juju exec` runs in the charm directory)."""
    wait_idle(juju)
    juju.exec(f"hooks/{hook}", unit=unit)


def write_keys(conn: redis.Redis, prefix: str, count: int, size: int = 16) -> int:
    """Write `count` keys of `size` random characters (no compression shrinks them) in batches.

    Returns how many writes Redis acknowledged.
    """
    acknowledged = 0
    for start in range(0, count, 500):
        batch = range(start, min(start + 500, count))
        pipe = conn.pipeline(transaction=False)
        for number in batch:
            pipe.set(f"{prefix}:{number}", secrets.token_hex(size // 2))
        results = pipe.execute(raise_on_error=False)
        acknowledged += sum(result is True for result in results)
    return acknowledged


def count_keys(conn: redis.Redis, prefix: str) -> int:
    return sum(1 for _ in conn.scan_iter(match=f"{prefix}:*", count=1000))


def run_id(conn: redis.Redis) -> str:
    return conn.info("server")["run_id"]


def in_unit(juju: jubilant.Juju, unit: str, command: str) -> str:
    """Run a shell command as root in the unit's machine; its output."""
    return juju.exec(command, unit=unit).stdout


def running_hook(juju: jubilant.Juju, unit: str) -> tuple[int, str] | None:
    """The process group and name of the hook the unit runs now, found from the host; None if none runs.

    A hook starts its own session with JUJU_HOOK_NAME set (an exec task has none);
    the model's name tells this model's units from another's of the same name.
    """
    wanted = {f"JUJU_MODEL_NAME={juju.model}", f"JUJU_UNIT_NAME={unit}"}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = set((entry / "environ").read_bytes().decode(errors="replace").split("\0"))
            leads_session = os.getsid(int(entry.name)) == int(entry.name)
        except OSError:
            continue  # gone, or not ours to read
        hook = next((item.split("=", 1)[1] for item in environ if item.startswith("JUJU_HOOK_NAME=")), None)
        if hook and leads_session and wanted <= environ:
            return int(entry.name), hook
    return None


def signal_hook(juju: jubilant.Juju, unit: str, signal_number: int) -> str:
    """Send a signal to every process of the hook the unit runs now (SIGKILL: as when its agent dies); its name."""
    found = running_hook(juju, unit)
    assert found is not None, f"{unit} runs no hook"
    os.killpg(found[0], signal_number)
    return found[1]


def unit_log(juju: jubilant.Juju, unit: str) -> str:
    """Everything the unit logged (juju-log and the agent's lines), kept after the unit is gone."""
    return (model_dir(juju) / "logs" / f"unit-{unit.replace('/', '-')}.log").read_text()
