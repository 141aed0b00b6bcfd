"""Prometheus metrics: the real prometheus-redis-exporter on the unit, scraped from the host.

A Prometheus stand-in (tests/charms/prometheus-standin) relates over
`metrics-endpoint` and `target` (http), so what the charm publishes for it can
be read back through the local model as Prometheus would read it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import jubilant
import pytest
from helpers import (
    APP,
    CHARM,
    MONITORING_USER,
    client,
    ensure_built,
    eventually,
    in_unit,
    password,
    run_hook,
    sample,
    scrape_metrics,
    units,
    wait_active,
    write_keys,
)

from conftest import CHARMS, throwaway_model

pytestmark = pytest.mark.integration

PROMETHEUS = "prometheus-standin"
UNIT = f"{APP}/0"
ENV_FILE = "/etc/prometheus-redis-exporter/redis-charm.env"
PASSWORD_FILE = "/etc/prometheus-redis-exporter/redis-charm-password.json"


@pytest.fixture(scope="module")
def juju() -> Iterator[jubilant.Juju]:
    ensure_built()
    with throwaway_model("metrics") as juju:
        juju.deploy(CHARM, APP)
        juju.deploy(CHARMS / PROMETHEUS, PROMETHEUS)
        juju.integrate(f"{APP}:metrics-endpoint", f"{PROMETHEUS}:metrics-endpoint")
        juju.integrate(f"{APP}:prometheus", f"{PROMETHEUS}:target")
        juju.wait(
            lambda status: jubilant.all_active(status) and jubilant.all_agents_idle(status), error=jubilant.any_error
        )
        yield juju


def address(juju: jubilant.Juju) -> str:
    return units(juju)[UNIT].public_address


def scrape(juju: jubilant.Juju, port: int = 9121) -> str:
    return scrape_metrics(address(juju), port)


def db0_keys(juju: jubilant.Juju) -> float | None:
    return sample(scrape(juju), 'redis_db_keys{db="db0"}')


def exporter_process(juju: jubilant.Juju) -> dict[str, str]:
    """The running exporter's arguments and environment, as root in the unit sees them."""
    found = in_unit(
        juju,
        UNIT,
        "pid=$(pgrep -xo prometheus-redi); tr '\\0' ' ' < /proc/$pid/cmdline; echo; "
        "tr '\\0' '\\n' < /proc/$pid/environ | grep '^REDIS'; true",
    )
    arguments, _, environment = found.partition("\n")
    return {"arguments": arguments, **dict(line.split("=", 1) for line in environment.split())}


def test_the_exporter_reports_redis_up_on_the_units_address(juju: jubilant.Juju) -> None:
    eventually(lambda: sample(scrape(juju), "redis_up") == 1)
    assert in_unit(juju, UNIT, "systemctl is-active prometheus-redis-exporter").strip() == "active"


def test_the_key_count_follows_writes(juju: jubilant.Juju) -> None:
    eventually(lambda: sample(scrape(juju), "redis_up") == 1)
    before = db0_keys(juju) or 0
    assert write_keys(client(juju, UNIT), "scraped", 250) == 250
    eventually(lambda: db0_keys(juju) == before + 250)
    client(juju, UNIT).delete(*(f"scraped:{number}" for number in range(100)))
    eventually(lambda: db0_keys(juju) == before + 150)


def exporter_password(juju: jubilant.Juju) -> str | None:
    """The password the exporter's password file gives for this unit's Redis."""
    text = in_unit(juju, UNIT, f"cat {PASSWORD_FILE} 2>/dev/null || echo '{{}}'")
    return json.loads(text).get(f"redis://{address(juju)}:6379")


def monitoring_password(juju: jubilant.Juju) -> str:
    return admin_secret(juju)[MONITORING_USER]


def admin_secret(juju: jubilant.Juju) -> dict[str, str]:
    return json.loads(juju.exec("secret-get $(leader-get password-secret) --format json", unit=UNIT).stdout)


def test_the_password_reaches_the_exporter_only_through_a_private_file(juju: jubilant.Juju) -> None:
    secret = monitoring_password(juju)
    process = exporter_process(juju)
    assert secret not in process["arguments"] and secret not in process.values()
    assert process["REDIS_PASSWORD_FILE"] == PASSWORD_FILE
    assert process["REDIS_USER"] == MONITORING_USER  # not the default user: it only reads
    assert exporter_password(juju) == secret
    assert password(juju) not in in_unit(juju, UNIT, f"cat {PASSWORD_FILE}")
    assert process["REDIS_EXPORTER_WEB_LISTEN_ADDRESS"] == f"{address(juju)}:9121"
    assert in_unit(juju, UNIT, f"stat -c '%a %U %G' {ENV_FILE}").split() == ["600", "root", "root"]
    assert in_unit(juju, UNIT, f"stat -c '%a %U %G' {PASSWORD_FILE}").split() == ["640", "root", "prometheus"]
    readable_by_others = in_unit(juju, UNIT, f"grep -rlF -- '{secret}' /etc/default /var/log 2>/dev/null || true")
    assert readable_by_others.strip() == ""


def test_a_rotated_monitoring_password_reaches_the_exporter(juju: jubilant.Juju) -> None:
    before = monitoring_password(juju)
    juju.run(UNIT, "rotate-password", {"user": "monitoring"})
    after = monitoring_password(juju)
    assert after != before
    run_hook(juju, UNIT)  # the leader hears of its own new revision in its next hook
    eventually(lambda: exporter_password(juju) == after)
    eventually(lambda: sample(scrape(juju), "redis_up") == 1)
    juju.run(UNIT, "forget-old-passwords")
    eventually(lambda: sample(scrape(juju), "redis_up") == 1)


def test_prometheus_is_told_the_scrape_job_and_each_units_address(juju: jubilant.Juju) -> None:
    info = relation_info(juju)
    scrape_endpoint = info["metrics-endpoint"]
    assert json.loads(scrape_endpoint["application-data"]["scrape_jobs"]) == [
        {"job_name": "redis", "metrics_path": "/metrics", "static_configs": [{"targets": ["*:9121"]}]}
    ]
    metadata = json.loads(scrape_endpoint["application-data"]["scrape_metadata"])
    assert (metadata["model"], metadata["application"], metadata["charm_name"]) == (juju.model, APP, "redis")
    assert metadata["unit"] == UNIT and metadata["model_uuid"]
    unit_data = scrape_endpoint["related-units"][UNIT]["data"]
    assert unit_data["prometheus_scrape_unit_address"] == address(juju)
    assert unit_data["prometheus_scrape_unit_name"] == UNIT
    http = info["target"]["related-units"][UNIT]["data"]
    assert (http["hostname"], http["port"]) == (address(juju), "9121")


def relation_info(juju: jubilant.Juju) -> dict[str, dict]:
    """The Prometheus stand-in's relations as `juju show-unit` shows them, by endpoint."""
    shown = json.loads(juju.cli("show-unit", f"{PROMETHEUS}/0", "--format", "json"))
    return {relation["endpoint"]: relation for relation in shown[f"{PROMETHEUS}/0"]["relation-info"]}


def test_a_new_metrics_port_moves_the_exporter_and_is_published(juju: jubilant.Juju) -> None:
    juju.config(APP, {"metrics-port": 9131})
    try:
        wait_active(juju)
        eventually(lambda: sample(scrape(juju, 9131), "redis_up") == 1)
        assert "*:9131" in relation_info(juju)["metrics-endpoint"]["application-data"]["scrape_jobs"]
        assert scrape(juju, 9121) == ""
    finally:
        juju.config(APP, reset=["metrics-port"])
        wait_active(juju)
