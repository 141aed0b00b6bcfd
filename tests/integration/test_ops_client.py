"""An ops charm on the local model: ops-client (tests/charms/ops-client) relates to the Redis
charm over the `redis` interface, as a consumer using the Redis requirer library's fields
(`hostname`, `port`, `password`) would, and proves it with a real SET/GET.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jubilant
import pytest
import redis

from conftest import CHARMS, TESTS

pytestmark = pytest.mark.integration

ROOT = TESTS.parent
REDIS_CHARM = ROOT / "build" / "redis"


@pytest.fixture(scope="module")
def ops_client() -> Path:
    """The ops-client charm built as charmcraft would: ops and redis-py vendored in venv/."""
    if not (REDIS_CHARM / "metadata.yaml").exists():
        subprocess.run(["make", "build"], cwd=ROOT, check=True)
    built = subprocess.run(
        [sys.executable, str(CHARMS / "ops-client" / "build.py"), str(ROOT / "build" / "ops-client")],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(built.stdout.strip())


@pytest.fixture
def related(juju: jubilant.Juju, ops_client: Path) -> Iterator[jubilant.Juju]:
    juju.deploy(REDIS_CHARM, "redis")
    juju.deploy(ops_client, "ops-client")
    juju.integrate("redis", "ops-client")
    juju.wait(lambda s: jubilant.all_active(s) and jubilant.all_agents_idle(s), timeout=180)
    yield juju


def test_ops_charm_relates_to_redis_and_round_trips_a_key(related: jubilant.Juju) -> None:
    juju = related
    status = juju.status().apps["ops-client"].units["ops-client/0"].workload_status
    assert status.message.startswith("SET/GET round trip with redis at 127.")
    info = next(r for r in juju.show_unit("ops-client/0").relation_info if r.endpoint == "redis")
    published = info.related_units["redis/0"].data
    client = redis.Redis(
        host=published["hostname"], port=int(published["port"]), password=published["password"], socket_timeout=5
    )
    assert client.get("ops-client:ops-client/0") == b"ops-client/0"
    assert published["password"] not in status.message
