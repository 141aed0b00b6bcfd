"""nrpe-external-master: the registered check runs on the unit and tells healthy from broken."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator

import jubilant
import pytest

from conftest import CHARMS, LOCALJUJU, TESTS

pytestmark = pytest.mark.integration

CHARM = TESTS.parent / "build" / "redis"
APP = "redis"
NRPE = "nrpe-standin"


@pytest.fixture(scope="module")
def juju() -> Iterator[jubilant.Juju]:
    if not (CHARM / "metadata.yaml").exists():
        subprocess.run(["make", "build"], cwd=TESTS.parent, check=True)
    juju = jubilant.Juju(cli_binary=LOCALJUJU, wait_timeout=120)
    name = f"nrpe-{secrets.token_hex(4)}"
    juju.add_model(name)
    try:
        juju.deploy(CHARM, APP, config={"nagios_context": "prod", "nagios_servicegroups": "caches"})
        juju.deploy(CHARMS / NRPE, NRPE)
        juju.integrate(f"{APP}:nrpe-external-master", NRPE)
        juju.wait(lambda status: jubilant.all_active(status) and jubilant.all_agents_idle(status))
        yield juju
    finally:
        juju.destroy_model(name, destroy_storage=True, force=True)


def run_checks(juju: jubilant.Juju) -> dict:
    unit = next(iter(juju.status().apps[APP].units.values())).subordinates
    task = juju.run(next(iter(unit)), "run-checks")
    return json.loads(task.results["results"])


def test_check_is_registered_with_context_and_servicegroups(juju: jubilant.Juju) -> None:
    files = juju.exec(
        "cat /etc/nagios/nrpe.d/check_redis.cfg; cat /var/lib/nagios/export/service__prod-redis-0_check_redis.cfg",
        unit=f"{APP}/0",
    ).stdout
    assert "command[check_redis]=/usr/local/lib/nagios/plugins/check_redis_charm" in files
    assert "host_name            prod-redis-0" in files
    assert "servicegroups        caches" in files


def test_check_passes_on_a_healthy_unit(juju: jubilant.Juju) -> None:
    result = run_checks(juju)["check_redis"]
    assert result["code"] == 0, result
    assert result["output"].startswith("REDIS OK: redis ")


def test_check_is_critical_when_redis_is_stopped(juju: jubilant.Juju) -> None:
    juju.exec("systemctl stop redis-server", unit=f"{APP}/0")
    try:
        assert run_checks(juju)["check_redis"]["code"] == 2
    finally:
        juju.exec("systemctl start redis-server", unit=f"{APP}/0")


def test_check_is_critical_when_the_password_is_wrong(juju: jubilant.Juju) -> None:
    # Change the server's password behind the check's back, through the admin socket.
    rotate = (
        "export REDISCLI_AUTH=$(leader-get password); "
        "redis-cli -s /run/redis/redis-server.sock CONFIG SET requirepass {new} >/dev/null"
    )
    juju.exec(rotate.format(new="changed-behind-the-check"), unit=f"{APP}/0")
    try:
        assert run_checks(juju)["check_redis"]["code"] == 2
    finally:
        juju.exec(
            "export REDISCLI_AUTH=changed-behind-the-check; leader-get password | tr -d '\\n' | "
            "redis-cli -s /run/redis/redis-server.sock -x CONFIG SET requirepass >/dev/null",
            unit=f"{APP}/0",
        )
    assert run_checks(juju)["check_redis"]["code"] == 0
