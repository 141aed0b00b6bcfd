"""nrpe-external-master: the registered check runs on the unit, as `nagios`, and tells healthy from broken.

The nrpe stand-in (tests/charms/nrpe-standin) runs each registered command as
the unprivileged `nagios` user, as the NRPE daemon does, so a check whose
config that user cannot read fails here as it would in production.
"""

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
        # The stand-in's install (like the nrpe package) makes the nagios group, possibly after the
        # charm installed its check; the charm's next hook installs the check again for that group.
        juju.exec("hooks/update-status", unit=f"{APP}/0")
        juju.wait(lambda status: file_group(juju, CHECK_CONFIG) == "nagios")
        yield juju
    finally:
        juju.destroy_model(name, destroy_storage=True, force=True)


CHECK_CONFIG = "/etc/nagios/check_redis_charm.json"
NRPE_COMMAND = "/etc/nagios/nrpe.d/check_redis.cfg"
EXPORT_DIR = "/var/lib/nagios/export"


def on_unit(juju: jubilant.Juju, command: str) -> str:
    return juju.exec(command, unit=f"{APP}/0").stdout


def file_group(juju: jubilant.Juju, path: str) -> str:
    return on_unit(juju, f"stat -c %G {path} 2>/dev/null || true").strip()


def exports(juju: jubilant.Juju) -> list[str]:
    return on_unit(juju, f"ls {EXPORT_DIR} 2>/dev/null || true").split()


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


def test_the_checks_config_is_0640_group_nagios_and_readable_by_nagios_only(juju: jubilant.Juju) -> None:
    assert on_unit(juju, f"stat -c '%a %U %G' {CHECK_CONFIG}").split() == ["640", "root", "nagios"]
    readable = "runuser -u {user} -- cat {path} >/dev/null 2>&1 && echo readable || echo refused"
    assert on_unit(juju, readable.format(user="nagios", path=CHECK_CONFIG)).strip() == "readable"
    assert on_unit(juju, readable.format(user="nobody", path=CHECK_CONFIG)).strip() == "refused"
    # The check ran as nagios, and that user is not in root's group.
    assert "0" not in on_unit(juju, "id -G nagios").split()


def test_check_is_critical_when_redis_is_stopped(juju: jubilant.Juju) -> None:
    juju.exec("systemctl stop redis-server", unit=f"{APP}/0")
    try:
        assert run_checks(juju)["check_redis"]["code"] == 2
    finally:
        juju.exec("systemctl start redis-server", unit=f"{APP}/0")


def test_check_is_critical_when_the_password_is_wrong(juju: jubilant.Juju) -> None:
    # Change the server's password behind the check's back, through the admin socket.
    rotate = (
        "export REDISCLI_AUTH=$(secret-get $(leader-get password-secret) password); "
        "redis-cli -s /run/redis/redis-server.sock CONFIG SET requirepass {new} >/dev/null"
    )
    juju.exec(rotate.format(new="changed-behind-the-check"), unit=f"{APP}/0")
    try:
        assert run_checks(juju)["check_redis"]["code"] == 2
    finally:
        juju.exec(
            "export REDISCLI_AUTH=changed-behind-the-check; "
            "secret-get $(leader-get password-secret) password | tr -d '\\n' | "
            "redis-cli -s /run/redis/redis-server.sock -x CONFIG SET requirepass >/dev/null",
            unit=f"{APP}/0",
        )
    assert run_checks(juju)["check_redis"]["code"] == 0


def test_a_nagios_context_change_replaces_the_export_file(juju: jubilant.Juju) -> None:
    juju.config(APP, {"nagios_context": "stage"})
    try:
        juju.wait(lambda status: exports(juju) == ["service__stage-redis-0_check_redis.cfg"])
        assert "host_name            stage-redis-0" in on_unit(juju, f"cat {EXPORT_DIR}/*")
    finally:
        juju.config(APP, {"nagios_context": "prod"})
    juju.wait(lambda status: exports(juju) == ["service__prod-redis-0_check_redis.cfg"])
    assert run_checks(juju)["check_redis"]["code"] == 0


def test_nrpe_departing_removes_the_check(juju: jubilant.Juju) -> None:
    # Last in this file: the relation does not come back.
    juju.remove_relation(f"{APP}:nrpe-external-master", NRPE)
    juju.wait(lambda status: on_unit(juju, f"ls {CHECK_CONFIG} {NRPE_COMMAND} 2>/dev/null || true").strip() == "")
    assert exports(juju) == []
    juju.wait(lambda status: status.apps[APP].units[f"{APP}/0"].workload_status.current == "active")
