"""What integration tests of the redis charm share: reaching a unit's Redis, waiting, counting keys."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import jubilant
import redis

from conftest import model_dir

ROOT = Path(__file__).resolve().parents[2]
# REDIS_CHARM: another build to test (an older revision, to see a test fail without its fix).
CHARM = Path(os.environ.get("REDIS_CHARM", ROOT / "build" / "redis"))
APP = "redis"
# The certificate-provider test charm (tests/charms/tls-provider).
CA_APP = "tls-provider"
# The charm's own users (lib/charms/layer/redis/users.py).
ADMIN_USER, REPLICATION_USER, MONITORING_USER = "charm-admin", "charm-replication", "charm-monitoring"


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
    return (
        configured
        or juju.exec("secret-get $(leader-get password-secret) password", unit=leader(juju, app)).stdout.strip()
    )


def admin_login(juju: jubilant.Juju, app: str = APP) -> tuple[str | None, str]:
    """The charm's admin user and its password (the default user's password before the leader made it).

    Read on a unit other than the leader when there is one: a test may hold the leader's hook stopped.
    """
    found = units(juju, app)
    names = sorted(found, key=lambda name: found[name].leader)
    content = json.loads(juju.exec("secret-get $(leader-get password-secret) --format json", unit=names[0]).stdout)
    if content.get(ADMIN_USER):
        return ADMIN_USER, content[ADMIN_USER]
    return None, password(juju, app)


def client(juju: jubilant.Juju, unit: str, auth: str | None = None, port: int | None = None) -> redis.Redis:
    """A client of the unit's Redis on its address and opened port (the configured port may be refused).

    With `auth`, a password-only client (the default user); without, the charm's admin user.
    """
    status = units(juju, unit.split("/")[0])[unit]
    port = port or int(status.open_ports[0].split("/")[0])
    username, secret = (None, auth) if auth is not None else admin_login(juju, unit.split("/")[0])
    return redis.Redis(
        host=status.public_address,
        port=port,
        username=username,
        password=secret,
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


@contextlib.contextmanager
def command_lines() -> Iterator[set[bytes]]:
    """Every distinct process command line on this machine (units' included), sampled until the block ends."""
    seen: set[bytes] = set()
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                with contextlib.suppress(OSError):  # the process ended meanwhile
                    seen.add(cmdline.read_bytes())
            done.wait(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield seen
    finally:
        done.set()
        sampler.join()


def eventually(condition: Callable[[], bool], timeout: float = 60.0, interval: float = 0.2) -> None:
    """Poll `condition` (something outside the model's status: a scrape, a probe) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{getattr(condition, '__name__', 'condition')} did not hold within {timeout:g} s")
        time.sleep(interval)


def scrape_metrics(address: str, port: int = 9121) -> str:
    """A unit's /metrics page, fetched from the host as Prometheus would; "" while nothing answers."""
    try:
        with urllib.request.urlopen(f"http://{address}:{port}/metrics", timeout=10) as response:
            return response.read().decode()
    except OSError:
        return ""


def sample(page: str, name: str) -> float | None:
    """The value of one sample of a /metrics page (`name` with its labels, as the page writes it)."""
    match = re.search(rf"^{re.escape(name)} (\S+)$", page, re.MULTILINE)
    return float(match.group(1)) if match else None


def relation_data(juju: jubilant.Juju, unit: str, endpoint: str = "redis") -> dict[str, dict[str, str]]:
    """What `unit` received over its `endpoint` relation, from each unit on the other side."""
    relation = next(r for r in juju.show_unit(unit).relation_info if r.endpoint == endpoint)
    return {name: dict(data.data) for name, data in relation.related_units.items()}


def as_user(juju: jubilant.Juju, unit: str, password: str, username: str | None = None) -> redis.Redis:
    """A client of the unit's Redis that authenticates with `password` (and `username`), never reconnecting."""
    status = units(juju, unit.split("/")[0])[unit]
    return redis.Redis(
        host=status.public_address,
        port=int(status.open_ports[0].split("/")[0]),
        username=username,
        password=password,
        socket_timeout=10,
        decode_responses=True,
        retry=None,
        retry_on_error=[],
    )


def refused(connection: redis.Redis) -> bool:
    """Whether `connection` cannot run a command: its credentials are refused or it was closed."""
    try:
        connection.ping()
    except (redis.AuthenticationError, redis.ConnectionError):
        return True
    return False


def world_readable_files_holding(root: Path, secret: bytes) -> list[Path]:
    """Files under `root` that anyone may read and that contain `secret`."""
    readable = (p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and p.stat().st_mode & 0o004)
    return [path for path in readable if secret in path.read_bytes()]


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


def fetch_ca(juju: jubilant.Juju, directory: Path) -> Path:
    """The test CA's certificate, as the operator would fetch it from the CA charm, written into `directory`."""
    path = directory / "ca.pem"
    path.write_text(juju.exec("cat ca.crt", unit=f"{CA_APP}/0").stdout)
    return path
