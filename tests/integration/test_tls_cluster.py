"""A Redis Cluster that forms with TLS: bus, replication and redirections over TLS, the plain port closed.

One model for the module: three redis units in cluster mode related to the test
CA (tests/charms/tls-provider) before the cluster forms, and the redis client
app (a `redis-cli -c --tls` cluster client). Clients here run on the host and
verify every node against the CA.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import jubilant
import pytest
import redis
from cluster_client import cluster_settled
from helpers import APP, CA_APP, CHARM, admin_login, ensure_built, fetch_ca, leader, password, units
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.exceptions import MovedError
from redis.retry import Retry

from conftest import CHARMS, throwaway_model

pytestmark = pytest.mark.integration

CLIENT = "redis-client"
TLS_PORT = 6380
PLAIN_PORT = 6379
SLOTS = 16384
# Each unit opens the TLS port and the cluster bus beside it (tls-port + 10000), nothing else.
TLS_PORTS = {f"{TLS_PORT}/tcp", f"{TLS_PORT + 10000}/tcp"}
# Shorter than the update-status interval (5 min): a status only update-status would correct fails.
STATUS_REFRESH_BEFORE = 120


def formed_over_tls(status: jubilant.Status) -> bool:
    return (
        cluster_settled(status)
        and len(status.apps[APP].units) == 3
        and all(set(unit.open_ports) == TLS_PORTS for unit in status.apps[APP].units.values())
        and jubilant.all_active(status, CLIENT)
    )


@pytest.fixture(scope="module")
def juju() -> Iterator[jubilant.Juju]:
    ensure_built()
    with throwaway_model("tls-cluster", wait_timeout=300) as juju:
        juju.deploy(CHARM, APP, num_units=3, config={"cluster-enabled": True})
        juju.deploy(CHARMS / CA_APP, CA_APP)
        juju.deploy(CHARMS / CLIENT, CLIENT)
        juju.integrate(f"{APP}:certificates", CA_APP)
        juju.integrate(f"{CLIENT}:redis", f"{APP}:redis")
        juju.wait(formed_over_tls, delay=0.5)
        yield juju


@pytest.fixture(scope="module")
def ca_file(juju: jubilant.Juju, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test CA's certificate, as the operator would fetch it from the CA charm."""
    return fetch_ca(juju, tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def secret(juju: jubilant.Juju) -> str:
    """The password clients use (it does not change in this module)."""
    return password(juju)


def tls_node(address: str, secret: str, ca: Path, username: str | None = None) -> redis.Redis:
    """A client of one node over TLS: a password-only client, or the user `username` (CONFIG needs the admin)."""
    return redis.Redis(
        host=address,
        port=TLS_PORT,
        username=username,
        password=secret,
        ssl=True,
        ssl_ca_certs=str(ca),
        ssl_cert_reqs="required",
        ssl_check_hostname=True,
        socket_timeout=10,
        decode_responses=True,
    )


def tls_cluster(juju: jubilant.Juju, secret: str, ca: Path) -> RedisCluster:
    starts = [ClusterNode(unit.public_address, TLS_PORT) for unit in units(juju).values()]
    return RedisCluster(
        startup_nodes=starts,
        password=secret,
        ssl=True,
        ssl_ca_certs=str(ca),
        ssl_cert_reqs="required",
        socket_timeout=10,
        decode_responses=True,
    )


@functools.cache
def key_per_slot() -> dict[int, str]:
    """A key for each of the 16384 slots."""
    keys: dict[int, str] = {}
    number = 0
    while len(keys) < SLOTS:
        key = f"tls-cluster:{number}"
        keys.setdefault(key_slot(key.encode()), key)
        number += 1
    return keys


def test_the_cluster_forms_over_tls_with_the_plain_port_closed(juju: jubilant.Juju, ca_file: Path, secret: str) -> None:
    assert juju.exec("leader-get cluster-tls", unit=leader(juju)).stdout.strip() == "true"
    admin_user, admin_password = admin_login(juju)
    for unit, status in units(juju).items():
        cli = subprocess.run(
            ["redis-cli", "--tls", "--cacert", str(ca_file), "-h", status.public_address, "-p", str(TLS_PORT),
             "CLUSTER", "INFO"],
            capture_output=True, text=True, env={**os.environ, "REDISCLI_AUTH": secret}, timeout=30,
            check=False,
        )  # fmt: skip
        assert "cluster_state:ok" in cli.stdout and "cluster_known_nodes:3" in cli.stdout, (unit, cli.stderr)
        node = tls_node(status.public_address, admin_password, ca_file, admin_user)
        assert node.config_get("tls-*")["tls-cluster"] == "yes", unit
        assert node.config_get("tls-*")["tls-replication"] == "yes", unit
        assert node.config_get("port")["port"] == "0", unit
        # No retries: a refused connection is the answer.
        plain = redis.Redis(status.public_address, PLAIN_PORT, password=secret, retry=Retry(NoBackoff(), 0))
        with pytest.raises(redis.ConnectionError):
            plain.ping()


def test_every_node_names_only_tls_ports(juju: jubilant.Juju, ca_file: Path, secret: str) -> None:
    addresses = {status.public_address for status in units(juju).values()}
    for address in sorted(addresses):
        node = tls_node(address, secret, ca_file)
        for line in node.execute_command("CLUSTER", "NODES").splitlines():
            host, _, ports = line.split()[1].partition(":")
            assert host in addresses and ports == f"{TLS_PORT}@{TLS_PORT + 10000}", (address, line)
        # Some key lives on another node: the redirection names that node's TLS port.
        for key in key_per_slot().values():
            try:
                node.get(key)
            except MovedError as moved:
                assert (moved.host in addresses, moved.port) == (True, TLS_PORT), str(moved)
                break
        else:
            pytest.fail(f"{address} serves every slot")


def test_a_tls_cluster_client_writes_and_reads_every_slot(juju: jubilant.Juju, ca_file: Path, secret: str) -> None:
    client = tls_cluster(juju, secret, ca_file)
    assert {node.port for node in client.get_nodes()} == {TLS_PORT}
    keys = key_per_slot()
    pipe = client.pipeline()
    for slot, key in keys.items():
        pipe.set(key, f"slot {slot}")
    assert all(pipe.execute())
    pipe = client.pipeline()
    for key in keys.values():
        pipe.get(key)
    assert pipe.execute() == [f"slot {slot}" for slot in keys]
    # The slot map the client followed named TLS ports only.
    assert {node.port for node in client.get_nodes()} == {TLS_PORT}


def test_clients_are_told_the_tls_port_their_redirections_use(juju: jubilant.Juju, ca_file: Path, secret: str) -> None:
    unit = f"{CLIENT}/0"
    relation = juju.exec("relation-ids redis", unit=unit).stdout.split()[0]
    for redis_unit, status in units(juju).items():
        data = json.loads(juju.exec(f"relation-get -r {relation} --format=json - {redis_unit}", unit=unit).stdout)
        assert (data["tls"], data["port"], data["cluster"]) == ("true", str(TLS_PORT), "true"), redis_unit
        assert data["host"] == status.public_address
        assert data["tls-ca"].strip() == ca_file.read_text().strip()
    # The client app wrote its key with `redis-cli -c --tls`, following redirections to TLS ports.
    message = units(juju, CLIENT)[unit].workload_status.message
    assert message.startswith("connected to the cluster at ") and f":{TLS_PORT} " in message, message
    assert tls_cluster(juju, secret, ca_file).get("localjuju-check") == unit


def test_keeping_the_plain_port_tells_plain_clients_plain_ports_and_tls_clients_tls_ports(
    juju: jubilant.Juju, ca_file: Path, secret: str
) -> None:
    both = TLS_PORTS | {f"{PLAIN_PORT}/tcp"}
    juju.config(APP, {"tls-keep-plain-port": True})
    try:
        juju.wait(
            lambda status: (
                cluster_settled(status)
                and all(set(unit.open_ports) == both for unit in status.apps[APP].units.values())
            ),
            # The ports change live; no unit may report a peer failing while its links reconnect.
            error=jubilant.any_blocked,
            delay=0.5,
            timeout=STATUS_REFRESH_BEFORE,
        )
        starts = [ClusterNode(unit.public_address, PLAIN_PORT) for unit in units(juju).values()]
        plain = RedisCluster(startup_nodes=starts, password=secret, socket_timeout=10, decode_responses=True)
        plain.set("plain-client", "through plain ports")
        assert plain.get("plain-client") == "through plain ports"
        assert {node.port for node in plain.get_nodes()} == {PLAIN_PORT}
        assert {node.port for node in tls_cluster(juju, secret, ca_file).get_nodes()} == {TLS_PORT}
    finally:
        juju.config(APP, {"tls-keep-plain-port": False})
        juju.wait(formed_over_tls, error=jubilant.any_blocked, delay=0.5, timeout=STATUS_REFRESH_BEFORE)
