"""Redis Cluster across the units on the local model: formed, grown, shrunk, with a client throughout.

One model for the module, tests in file order: each leaves a settled cluster
for the next. Clients are redis-py's RedisCluster from the host, started from
the units' addresses (127.x loopback).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator

import jubilant
import pytest
import redis
from helpers import APP, CHARM, ensure_built, leader, password, units
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import AskError, MovedError, TryAgainError

from charms.layer.redis.cluster.nodes import parse_cluster_nodes
from charms.layer.redis.cluster.topology import Role, decode

from conftest import LOCALJUJU

pytestmark = pytest.mark.integration

SLOTS = 16384
KEYS = 5000


@pytest.fixture(scope="module")
def juju() -> Iterator[jubilant.Juju]:
    ensure_built()
    juju = jubilant.Juju(cli_binary=LOCALJUJU, wait_timeout=300)
    name = f"cluster-{secrets.token_hex(4)}"
    juju.add_model(name)
    try:
        juju.deploy(CHARM, APP, num_units=3, config={"cluster-enabled": True})
        yield juju
    finally:
        juju.destroy_model(name, destroy_storage=True, force=True)


def cluster_settled(status: jubilant.Status) -> bool:
    """Every unit idle, active and reporting a healthy cluster."""
    return jubilant.all_agents_idle(status) and all(
        unit.workload_status.current == "active" and "cluster ok" in unit.workload_status.message
        for unit in status.apps[APP].units.values()
    )


def wait_cluster(juju: jubilant.Juju, count: int) -> jubilant.Status:
    return juju.wait(lambda status: len(status.apps[APP].units) == count and cluster_settled(status), delay=0.5)


def node(juju: jubilant.Juju, unit: str) -> redis.Redis:
    status = units(juju)[unit]
    port = int(status.open_ports[0].split("/")[0])
    return redis.Redis(host=status.public_address, port=port, password=password(juju), decode_responses=True)


def cluster_client(juju: jubilant.Juju) -> RedisCluster:
    starts = [ClusterNode(unit.public_address, 6379) for unit in units(juju).values()]
    return RedisCluster(startup_nodes=starts, password=password(juju), decode_responses=True, socket_timeout=10)


def shared_topology(juju: jubilant.Juju):
    return decode(juju.exec("leader-get cluster-topology", unit=leader(juju)).stdout.strip())


def slot_counts(juju: jubilant.Juju) -> dict[str, int]:
    """Slots each master serves, as the leader's node sees them."""
    view = parse_cluster_nodes(node(juju, leader(juju)).execute_command("CLUSTER", "NODES"))
    return {entry.node_id: entry.slot_count for entry in view if entry.is_master}


def assert_healthy(juju: jubilant.Juju) -> None:
    """Every unit's node: cluster_state ok, all slots served, no node failing, in handshake or without address."""
    for unit in units(juju):
        conn = node(juju, unit)
        info = conn.execute_command("CLUSTER", "INFO")
        assert "cluster_state:ok" in info and f"cluster_slots_ok:{SLOTS}" in info, unit
        for line in conn.execute_command("CLUSTER", "NODES").splitlines():
            flags = set(line.split()[2].split(","))
            assert not flags & {"fail", "fail?", "handshake", "noaddr"}, f"{unit} sees {line}"


class Traffic:
    """A client writing and reading keys through RedisCluster in the background; counts its errors."""

    def __init__(self, client: RedisCluster, prefix: str) -> None:
        self.client, self.prefix = client, prefix
        self.written: list[str] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        number = 0
        while not self._stop.is_set():
            key = f"{self.prefix}:{number}"
            try:
                self.client.set(key, key)
                if self.client.get(key) != key:
                    self.errors.append(f"{key} read back wrong")
                self.written.append(key)
            except (MovedError, AskError, TryAgainError):
                continue  # redirections RedisCluster retries itself; only their exhaustion reaches here
            except redis.RedisError as error:
                self.errors.append(f"{key}: {type(error).__name__}: {error}")
            number += 1
            self._stop.wait(0.01)


def write_keys(client: RedisCluster, prefix: str, count: int) -> list[str]:
    keys = [f"{prefix}:{number}" for number in range(count)]
    for start in range(0, count, 500):
        client.mset_nonatomic({key: key for key in keys[start : start + 500]})
    return keys


def missing_keys(client: RedisCluster, keys: list[str]) -> list[str]:
    missing = []
    for start in range(0, len(keys), 500):
        batch = keys[start : start + 500]
        missing += [key for key, value in zip(batch, client.mget_nonatomic(batch), strict=True) if value != key]
    return missing


def test_three_units_form_a_cluster_with_the_topology_shared(juju: jubilant.Juju) -> None:
    wait_cluster(juju, 3)
    assert_healthy(juju)
    topology = shared_topology(juju)
    assert sorted(topology.by_unit) == sorted(units(juju))
    assert [node.role for node in topology.nodes] == [Role.MASTER] * 3
    assert sorted(slot_counts(juju).values()) == [5461, 5461, 5462]
    for unit, status in units(juju).items():
        assert {"6379/tcp", "16379/tcp"} <= set(status.open_ports), unit
        assert "3 masters, 0 replicas, 16384 of 16384 slots served" in status.workload_status.message
    # AUTH is on: the cluster refuses a client without the password.
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=units(juju)[leader(juju)].public_address, port=6379).ping()
    client = cluster_client(juju)
    client.set("round-trip", "through the cluster")
    assert client.get("round-trip") == "through the cluster"


def assert_balanced(juju: jubilant.Juju) -> None:
    counts = slot_counts(juju)
    fair = SLOTS / len(counts)
    assert all(abs(count - fair) <= 0.1 * fair for count in counts.values()), counts
    assert sum(counts.values()) == SLOTS


def test_added_units_take_their_share_while_a_client_works(juju: jubilant.Juju) -> None:
    client = cluster_client(juju)
    keys = write_keys(client, "before-growth", KEYS)
    with Traffic(cluster_client(juju), "growing") as traffic:
        juju.add_unit(APP, num_units=3)
        wait_cluster(juju, 6)
    assert_healthy(juju)
    assert_balanced(juju)
    assert len(slot_counts(juju)) == 6
    assert sorted(shared_topology(juju).by_unit) == sorted(units(juju))
    assert missing_keys(client, keys + traffic.written) == []
    assert traffic.errors == []
    assert len(traffic.written) > 0


def test_removed_units_hand_over_their_keys_leader_included(juju: jubilant.Juju) -> None:
    client = cluster_client(juju)
    keys = write_keys(client, "before-shrink", KEYS)
    first = leader(juju)
    others = [unit for unit in sorted(units(juju)) if unit != first][:2]
    with Traffic(cluster_client(juju), "shrinking") as traffic:
        juju.remove_unit(first, *others)
        wait_cluster(juju, 3)
    assert_healthy(juju)
    assert_balanced(juju)
    remaining = units(juju)
    assert first not in remaining and not set(others) & set(remaining)
    assert len(slot_counts(juju)) == 3
    assert sorted(shared_topology(juju).by_unit) == sorted(remaining)
    fresh = cluster_client(juju)
    assert missing_keys(fresh, keys + traffic.written) == []
    assert traffic.errors == []
