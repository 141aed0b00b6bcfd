"""TLS over the `certificates` relation: a real CA signs each unit's request, Redis serves TLS with it.

One model for the module: redis, the test CA (tests/charms/tls-provider) and a
redis client app. Clients here verify the server against the CA, with redis-py
(`ssl=True`) and with `redis-cli --tls --cacert`.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import jubilant
import pytest
import redis
from cryptography import x509
from helpers import (
    APP,
    CA_APP,
    CHARM,
    ensure_built,
    eventually,
    fetch_ca,
    in_unit,
    password,
    sample,
    scrape_metrics,
    units,
    wait_idle,
)

from conftest import CHARMS, throwaway_model

pytestmark = pytest.mark.integration

CLIENT = "redis-client"
UNIT = f"{APP}/0"
TLS_PORT = 6380
PLAIN_PORT = 6379
NRPE = "nrpe-standin"
CHECK_CONFIG = "/etc/nagios/check_redis_charm.json"


def serves_tls_only(status: jubilant.Status) -> bool:
    unit = status.apps[APP].units.get(UNIT)
    return unit is not None and opened(status) == {TLS_PORT} and unit.workload_status.current == "active"


def opened(status: jubilant.Status) -> set[int]:
    """The TCP ports redis/0 has opened."""
    return {int(port.split("/")[0]) for port in status.apps[APP].units[UNIT].open_ports}


@pytest.fixture(scope="module")
def juju() -> Iterator[jubilant.Juju]:
    ensure_built()
    with throwaway_model("tls", wait_timeout=180) as juju:
        juju.deploy(CHARM, APP)
        juju.deploy(CHARMS / CA_APP, CA_APP)
        juju.deploy(CHARMS / CLIENT, CLIENT)
        juju.integrate(f"{APP}:certificates", CA_APP)
        juju.integrate(f"{CLIENT}:redis", f"{APP}:redis")
        wait_idle(juju, lambda status: serves_tls_only(status) and jubilant.all_active(status))
        yield juju


@pytest.fixture(scope="module")
def ca_file(juju: jubilant.Juju, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test CA's certificate, as the operator would fetch it from the CA charm."""
    return fetch_ca(juju, tmp_path_factory.mktemp("ca"))


def address(juju: jubilant.Juju) -> str:
    return units(juju)[UNIT].public_address


def tls_client(juju: jubilant.Juju, ca: Path) -> redis.Redis:
    return redis.Redis(
        host=address(juju),
        port=TLS_PORT,
        password=password(juju),
        ssl=True,
        ssl_ca_certs=str(ca),
        ssl_cert_reqs="required",
        socket_timeout=10,
        decode_responses=True,
    )


def served_certificate(juju: jubilant.Juju, ca: Path) -> x509.Certificate:
    """The certificate Redis presents on its TLS port, verified against `ca` (IP SAN included)."""
    context = ssl.create_default_context(cafile=str(ca))
    host = address(juju)
    connection = socket.create_connection((host, TLS_PORT), timeout=10)
    with context.wrap_socket(connection, server_hostname=host) as conn:
        return x509.load_der_x509_certificate(conn.getpeercert(binary_form=True))


def published_to_client(juju: jubilant.Juju) -> dict[str, str]:
    """What the client application's unit reads from redis/0 on the redis relation."""
    unit = f"{CLIENT}/0"
    relation = juju.exec("relation-ids redis", unit=unit).stdout.split()[0]
    return json.loads(juju.exec(f"relation-get -r {relation} --format=json - {UNIT}", unit=unit).stdout)


def test_redis_answers_tls_clients_verifying_the_ca(juju: jubilant.Juju, ca_file: Path) -> None:
    conn = tls_client(juju, ca_file)
    assert conn.ping()
    conn.set("tls:key", "over tls")
    assert conn.get("tls:key") == "over tls"
    cli = subprocess.run(
        ["redis-cli", "--tls", "--cacert", str(ca_file), "-h", address(juju), "-p", str(TLS_PORT), "GET", "tls:key"],
        capture_output=True,
        text=True,
        env={**os.environ, "REDISCLI_AUTH": password(juju)},
        timeout=30,
        check=False,
    )
    assert cli.stdout.strip() == "over tls", cli.stderr


def test_the_plain_port_is_closed_once_tls_is_up(juju: jubilant.Juju) -> None:
    plain = redis.Redis(host=address(juju), port=PLAIN_PORT, password=password(juju), socket_timeout=5)
    with pytest.raises(redis.ConnectionError):
        plain.ping()


def test_a_client_trusting_another_ca_is_refused(juju: jubilant.Juju, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(tmp_path / "other.key"), "-out", str(other), "-subj", "/CN=another CA", "-days", "1"],
        check=True, capture_output=True,
    )  # fmt: skip
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        tls_client(juju, other).ping()


def test_the_certificate_names_the_unit_address_and_host_name(juju: jubilant.Juju, ca_file: Path) -> None:
    names = served_certificate(juju, ca_file).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    hostname = juju.exec("hostname", unit=UNIT).stdout.strip()
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == [address(juju)]
    assert names.get_values_for_type(x509.DNSName) == [hostname]


def test_the_private_key_stays_on_the_unit_readable_by_redis_only(juju: jubilant.Juju) -> None:
    key = juju.exec("stat -c '%a %U' /etc/redis/tls/redis.key", unit=UNIT).stdout.split()
    assert key == ["600", "redis"]
    relation = juju.exec("relation-ids certificates", unit=f"{CA_APP}/0").stdout.split()[0]
    request = juju.exec(f"relation-get -r {relation} --format=json - {UNIT}", unit=f"{CA_APP}/0").stdout
    assert "CERTIFICATE REQUEST" in request
    assert "PRIVATE KEY" not in request
    log = juju.exec("cat /var/log/juju/unit-*.log 2>/dev/null || true", unit=UNIT).stdout
    assert "PRIVATE KEY" not in log


def test_clients_are_told_tls_the_port_and_the_ca(juju: jubilant.Juju, ca_file: Path) -> None:
    data = published_to_client(juju)
    assert (data["tls"], data["port"], data["tls-port"]) == ("true", str(TLS_PORT), str(TLS_PORT))
    assert data["tls-ca"].strip() == data["ca"].strip() == ca_file.read_text().strip()
    # The client app connects with redis-cli --tls and the CA it was given.
    message = units(juju, CLIENT)[f"{CLIENT}/0"].workload_status.message
    assert message == f"connected to {address(juju)}:{TLS_PORT} with TLS"


def test_a_renewed_certificate_is_loaded_without_a_restart(juju: jubilant.Juju, ca_file: Path) -> None:
    conn = tls_client(juju, ca_file)
    before, before_id = conn.info("server"), conn.client_id()
    served = served_certificate(juju, ca_file).serial_number
    juju.config(CA_APP, {"generation": 1})

    def renewed(status: jubilant.Status) -> bool:
        return jubilant.all_agents_idle(status) and served_certificate(juju, ca_file).serial_number != served

    juju.wait(renewed, delay=0.5)
    after = tls_client(juju, ca_file).info("server")
    assert (after["process_id"], after["run_id"]) == (before["process_id"], before["run_id"])
    # The connection made before the renewal was not dropped.
    assert conn.client_id() == before_id
    assert after["uptime_in_seconds"] >= before["uptime_in_seconds"]


def test_the_nagios_check_reaches_redis_over_tls(juju: jubilant.Juju, ca_file: Path) -> None:
    juju.deploy(CHARMS / NRPE, NRPE)
    juju.integrate(f"{APP}:nrpe-external-master", NRPE)
    wait_idle(juju, lambda status: bool(status.apps[APP].units[UNIT].subordinates))
    # The stand-in makes the nagios group in its install, maybe after redis installed its check.
    juju.exec("hooks/update-status", unit=UNIT)
    wait_idle(juju, lambda status: in_unit(juju, UNIT, f"stat -c %G {CHECK_CONFIG}").strip() == "nagios")
    target = json.loads(in_unit(juju, UNIT, f"cat {CHECK_CONFIG}"))
    assert (target["port"], target["ca"].strip()) == (TLS_PORT, ca_file.read_text().strip())
    subordinate = next(iter(units(juju)[UNIT].subordinates))
    result = json.loads(juju.run(subordinate, "run-checks").results["results"])["check_redis"]
    assert result["code"] == 0 and result["output"].startswith("REDIS OK: redis "), result


def test_the_exporter_scrapes_redis_over_tls(juju: jubilant.Juju) -> None:
    # Only the TLS port is open: redis_up 1 means the exporter verified Redis with the CA.
    assert opened(juju.status()) == {TLS_PORT}
    eventually(lambda: sample(scrape_metrics(address(juju)), "redis_up") == 1)


def test_keeping_the_plain_port_serves_both_and_tells_clients_the_plain_one(juju: jubilant.Juju, ca_file: Path) -> None:
    juju.config(APP, {"tls-keep-plain-port": True})
    try:
        wait_idle(juju, lambda status: opened(status) == {PLAIN_PORT, TLS_PORT})
        plain = redis.Redis(host=address(juju), port=PLAIN_PORT, password=password(juju), socket_timeout=5)
        assert plain.ping() and tls_client(juju, ca_file).ping()
        data = published_to_client(juju)
        assert (data["tls"], data["port"], data["tls-port"]) == ("false", str(PLAIN_PORT), str(TLS_PORT))
    finally:
        juju.config(APP, {"tls-keep-plain-port": False})
        wait_idle(juju, serves_tls_only)


def test_removing_the_ca_serves_plain_again(juju: jubilant.Juju) -> None:
    juju.remove_relation(f"{APP}:certificates", CA_APP)
    wait_idle(juju, lambda status: opened(status) == {PLAIN_PORT})
    plain = redis.Redis(host=address(juju), port=PLAIN_PORT, password=password(juju), socket_timeout=5)
    assert plain.ping()
    data = published_to_client(juju)
    assert "tls" not in data and "tls-ca" not in data
    assert data["port"] == str(PLAIN_PORT)
