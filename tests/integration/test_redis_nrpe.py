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
from helpers import ADMIN_USER, MONITORING_USER, eventually, password, run_hook

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
        # The nrpe charm may install its packages (which make the nagios user) after this charm
        # published its check, and no hook of this charm need follow: the stand-in makes the user
        # only when told to, on a machine that has no nagios user or group yet.
        juju.deploy(CHARMS / NRPE, NRPE, config={"create-nagios-user": False})
        juju.wait(lambda status: jubilant.all_active(status, APP) and jubilant.all_agents_idle(status))
        on_unit(juju, "userdel nagios 2>/dev/null; groupdel nagios 2>/dev/null; true")
        juju.integrate(f"{APP}:nrpe-external-master", NRPE)
        juju.wait(lambda status: jubilant.all_agents_idle(status) and file_group(juju, CHECK_CONFIG) != "")
        assert on_unit(juju, "id -u nagios 2>/dev/null || echo none").strip() == "none"
        juju.run(nrpe_unit(juju), "install-packages")
        juju.wait(lambda status: jubilant.all_active(status) and jubilant.all_agents_idle(status))
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


def nrpe_unit(juju: jubilant.Juju) -> str:
    return next(iter(next(iter(juju.status().apps[APP].units.values())).subordinates))


def run_checks(juju: jubilant.Juju) -> dict:
    return json.loads(juju.run(nrpe_unit(juju), "run-checks").results["results"])


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


def test_the_checks_config_is_readable_once_nrpe_installs_after_the_check_was_published(
    juju: jubilant.Juju,
) -> None:
    # The fixture published the check before the nagios user existed; no redis hook ran since.
    group, nagios_primary_group = on_unit(juju, f"stat -c %G {CHECK_CONFIG}; id -gn nagios").split()
    assert group == nagios_primary_group == "nagios"
    assert run_checks(juju)["check_redis"]["code"] == 0


def test_the_real_nrpe_daemon_answers_check_nrpe_ok_then_critical_with_redis_stopped(juju: jubilant.Juju) -> None:
    address = next(iter(juju.status().apps[APP].units.values())).public_address
    # What the nrpe charm configures: listen on the unit's address, answer only loopback and that address.
    on_unit(
        juju,
        f"printf 'server_address={address}\\nallowed_hosts=127.0.0.1,{address}\\n' > /etc/nagios/nrpe_local.cfg"
        " && install -d -o nagios -g nagios /run/nagios && systemctl start nagios-nrpe-server",
    )
    try:
        eventually(lambda: check_nrpe(address)[0] == OK)
        assert check_nrpe(address)[1].startswith("REDIS OK: redis ")
        juju.exec("systemctl stop redis-server", unit=f"{APP}/0")
        try:
            eventually(lambda: check_nrpe(address)[0] == CRITICAL)
        finally:
            juju.exec("systemctl start redis-server", unit=f"{APP}/0")
        eventually(lambda: check_nrpe(address)[0] == OK)
    finally:
        on_unit(juju, "systemctl stop nagios-nrpe-server")


OK, CRITICAL = 0, 2
CHECK_NRPE = "/usr/lib/nagios/plugins/check_nrpe"


def check_nrpe(address: str) -> tuple[int, str]:
    """Ask the unit's NRPE daemon to run check_redis, from the host, as Nagios does: (exit code, output)."""
    done = subprocess.run(
        [CHECK_NRPE, "-H", address, "-c", "check_redis", "-t", "20"], capture_output=True, text=True, check=False
    )
    return done.returncode, done.stdout.strip()


def test_check_is_critical_when_redis_is_stopped(juju: jubilant.Juju) -> None:
    juju.exec("systemctl stop redis-server", unit=f"{APP}/0")
    try:
        assert run_checks(juju)["check_redis"]["code"] == 2
    finally:
        juju.exec("systemctl start redis-server", unit=f"{APP}/0")


def test_check_is_critical_when_the_password_is_wrong(juju: jubilant.Juju) -> None:
    # Change the monitoring user's password behind the check's back, as the admin user over the admin socket.
    behind = (
        f"export REDISCLI_AUTH=$(secret-get $(leader-get password-secret) {ADMIN_USER}); "
        f"redis-cli --user {ADMIN_USER} -s /run/redis/redis-server.sock "
        f"ACL SETUSER {MONITORING_USER} resetpass '>changed-behind-the-check'"
    )
    assert juju.exec(behind, unit=f"{APP}/0").stdout.strip() == "OK"
    try:
        assert run_checks(juju)["check_redis"]["code"] == 2
    finally:
        run_hook(juju, f"{APP}/0")  # the charm puts its user back
    assert run_checks(juju)["check_redis"]["code"] == 0


def test_the_check_logs_in_as_the_monitoring_user_not_with_the_default_password(juju: jubilant.Juju) -> None:
    config = json.loads(juju.exec(f"cat {CHECK_CONFIG}", unit=f"{APP}/0").stdout)
    assert config["username"] == MONITORING_USER
    assert config["password"] != password(juju)


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
