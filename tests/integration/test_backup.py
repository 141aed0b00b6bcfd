"""Backup and restore actions on the local model: real hooks, a real redis-server, `juju run` as operators use it.

Two models for the module: one Redis unit, and a three-unit Redis Cluster that
forms while the first model's tests run. Tests run in file order: the first
writes 100k keys and backs them up, the next ones restore that backup.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import jubilant
import pytest
import redis
from cluster_client import cluster_settled
from helpers import APP, CHARM, client, command_lines, ensure_built, password, wait_active, wait_applied, write_keys

from conftest import throwaway_model

pytestmark = pytest.mark.integration

UNIT = f"{APP}/0"
KEYS = 100_000


@pytest.fixture(scope="module")
def forming_cluster() -> Iterator[jubilant.Juju]:
    """A second model: three units forming a Redis Cluster while the first model's tests run."""
    ensure_built()
    with throwaway_model("backup-cluster", wait_timeout=300) as juju:
        juju.deploy(CHARM, APP, num_units=3, config={"cluster-enabled": True})
        yield juju


@pytest.fixture(scope="module")
def juju(forming_cluster: jubilant.Juju) -> Iterator[jubilant.Juju]:
    with throwaway_model("backup", wait_timeout=180) as juju:
        juju.deploy(CHARM, APP)
        wait_active(juju)
        yield juju


def dataset_digest(conn: redis.Redis) -> tuple[int, str]:
    """How many keys there are, and a sha256 over every key and its value, in key order."""
    keys = sorted(conn.scan_iter(count=5000))
    digest = hashlib.sha256()
    for start in range(0, len(keys), 5000):
        batch = keys[start : start + 5000]
        for key, value in zip(batch, conn.mget(batch), strict=True):
            digest.update(f"{key}\0{value}\0".encode())
    return len(keys), digest.hexdigest()


def answers(juju: jubilant.Juju) -> bool:
    try:
        return bool(client(juju, UNIT).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="module")
def backed_up(juju: jubilant.Juju) -> tuple[str, tuple[int, str]]:
    """100k keys written, then backed up: the backup's name and the dataset's digest."""
    conn = client(juju, UNIT)
    assert write_keys(conn, "k", KEYS) == KEYS
    before = dataset_digest(conn)
    task = juju.run(UNIT, "backup")
    made = task.results["backup"]
    assert made["keys"] == str(KEYS)
    assert made["path"] == f"/var/backups/redis/{made['name']}.rdb"
    assert int(made["size"]) > 0
    assert any("snapshot" in line for line in task.log)
    return made["name"], before


def test_backup_files_are_private_to_the_redis_user(juju: jubilant.Juju, backed_up: tuple[str, object]) -> None:
    name, _ = backed_up
    listing = juju.exec(f"stat -c '%a %U %n' /var/backups/redis /var/backups/redis/{name}.*", unit=UNIT).stdout
    modes = {path: [mode, user] for mode, user, path in (line.split(" ", 2) for line in listing.splitlines())}
    assert modes["/var/backups/redis"] == ["700", "redis"]
    for suffix in (".rdb", ".rdb.sha256", ".json"):
        assert modes[f"/var/backups/redis/{name}{suffix}"] == ["600", "redis"]
    checked = juju.exec(f"cd /var/backups/redis && sha256sum -c {name}.rdb.sha256", unit=UNIT).stdout
    assert f"{name}.rdb: OK" in checked


def test_list_backups_shows_the_backup(juju: jubilant.Juju, backed_up: tuple[str, object]) -> None:
    name, _ = backed_up
    listed = juju.run(UNIT, "list-backups").results
    assert listed["count"] == "1"
    entry = listed["backups"][name]
    assert entry["keys"] == str(KEYS) and int(entry["size"]) > 0 and entry["time"].startswith("20")


def test_restore_after_flushall_brings_back_every_key_identical(
    juju: jubilant.Juju, backed_up: tuple[str, tuple[int, str]]
) -> None:
    name, before = backed_up
    conn = client(juju, UNIT)
    conn.flushall()
    assert conn.dbsize() == 0
    with command_lines() as seen:
        task = juju.run(UNIT, "restore", {"name": name})
    assert task.results["keys"] == str(KEYS)
    assert dataset_digest(client(juju, UNIT)) == before
    secret = password(juju)
    assert secret not in repr(task) and secret not in repr(juju.run(UNIT, "list-backups"))
    assert any(b"actions/restore" in line for line in seen)  # the sampler saw the action at work
    assert not [line for line in seen if secret.encode() in line]
    wait_active(juju)


def test_a_corrupted_backup_is_refused_and_redis_keeps_its_data(juju: jubilant.Juju) -> None:
    conn = client(juju, UNIT)
    made = juju.run(UNIT, "backup").results["backup"]
    conn.set("written-after-the-backup", "1")
    juju.exec(f"printf 'XXXX' | dd of={made['path']} bs=1 seek=200 conv=notrunc status=none", unit=UNIT)
    with pytest.raises(jubilant.TaskError) as failed:
        juju.run(UNIT, "restore", {"name": made["name"]})
    assert "does not match its sha256 (corrupted)" in failed.value.task.message
    assert "Redis keeps its data" in failed.value.task.message
    assert conn.get("written-after-the-backup") == "1" and conn.dbsize() == KEYS + 1


def test_restore_of_an_unknown_name_fails_with_one_readable_line(juju: jubilant.Juju) -> None:
    with pytest.raises(jubilant.TaskError) as failed:
        juju.run(UNIT, "restore", {"name": "../../etc/passwd"})
    assert failed.value.task.message.startswith("name: '../../etc/passwd' is not a backup name")
    assert "\n" not in failed.value.task.message.strip()


def test_restore_with_appendonly_on_rebuilds_the_append_only_file(
    juju: jubilant.Juju, backed_up: tuple[str, tuple[int, str]]
) -> None:
    name, before = backed_up
    juju.config(APP, {"appendonly": True})
    wait_applied(juju, UNIT, "appendonly", "yes")
    conn = client(juju, UNIT)
    conn.flushall()
    juju.run(UNIT, "restore", {"name": name})
    assert dataset_digest(client(juju, UNIT)) == before
    conn = client(juju, UNIT)
    assert conn.config_get("appendonly")["appendonly"] == "yes"
    assert conn.info("persistence")["aof_enabled"] == 1
    # The next start loads the append-only file: it must hold the restored data.
    juju.exec("systemctl restart redis-server", unit=UNIT)
    juju.wait(lambda status: answers(juju), timeout=60)
    assert dataset_digest(client(juju, UNIT)) == before


def test_cluster_status_is_refused_outside_cluster_mode(juju: jubilant.Juju) -> None:
    with pytest.raises(jubilant.TaskError) as failed:
        juju.run(UNIT, "cluster-status")
    assert "not in cluster mode" in failed.value.task.message


# --- cluster mode ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(forming_cluster: jubilant.Juju) -> jubilant.Juju:
    forming_cluster.wait(cluster_settled, delay=0.5)
    return forming_cluster


def test_cluster_status_names_every_node_by_unit(cluster: jubilant.Juju) -> None:
    status = cluster.status().apps[APP].units
    report = cluster.run(UNIT, "cluster-status").results
    assert report["cluster-state"] == "ok"
    assert (report["masters"], report["replicas"]) == ("3", "0")
    assert report["slots-covered"] == "16384 of 16384"
    for unit, seen in status.items():
        node = report["nodes"][unit.replace("/", "-")]
        assert node["unit"] == unit and node["role"] == "master" and node["health"] == "ok"
        assert node["address"] == f"{seen.public_address}:6379"


def test_in_cluster_mode_a_node_restores_its_own_backup_and_refuses_another_nodes(cluster: jubilant.Juju) -> None:
    node = client(cluster, UNIT)
    own = [key for key in (f"c:{number}" for number in range(3000)) if is_served_by(node, key)]
    each(node, "set", own, upper=True)
    made = cluster.run(UNIT, "backup").results["backup"]
    assert made["keys"] == str(len(own)) and made["node-id"] == node.execute_command("CLUSTER", "MYID")
    copy_backup(cluster, made, UNIT, f"{APP}/1")
    with pytest.raises(jubilant.TaskError) as failed:
        cluster.run(f"{APP}/1", "restore", {"name": made["name"]})
    assert f"was taken on cluster node {made['node-id'][:8]}" in failed.value.task.message
    each(node, "delete", own)
    restored = cluster.run(UNIT, "restore", {"name": made["name"]}).results
    assert restored["keys"] == str(len(own)) and restored["cluster-state"] == "ok"
    assert each(client(cluster, UNIT), "get", own) == [key.upper() for key in own]
    cluster.wait(cluster_settled, delay=0.5)


def each(node: redis.Redis, command: str, keys: list[str], upper: bool = False) -> list[object]:
    """One command per key in a pipeline (a cluster node takes no multi-key command across slots)."""
    pipe = node.pipeline(transaction=False)
    for key in keys:
        getattr(pipe, command)(key, *([key.upper()] if upper else []))
    return pipe.execute()


def is_served_by(node: redis.Redis, key: str) -> bool:
    slot = node.cluster("KEYSLOT", key)
    mine = next(line for line in node.execute_command("CLUSTER", "NODES").splitlines() if "myself" in line)
    ranges = [field.split("-") for field in mine.split()[8:]]
    return any(int(bounds[0]) <= slot <= int(bounds[-1]) for bounds in ranges)


def copy_backup(juju: jubilant.Juju, made: dict[str, str], source: str, target: str) -> None:
    """Copy a backup's three files from one unit's machine to another's backup directory."""
    for suffix in (".rdb", ".rdb.sha256", ".json"):
        path = f"/var/backups/redis/{made['name']}{suffix}"
        encoded = juju.exec(f"base64 -w0 {path}", unit=source).stdout.strip()
        command = f"install -d -m 700 -o redis /var/backups/redis && echo {encoded} | base64 -d > {path}"
        juju.exec(command, unit=target)
