"""Backups: names, descriptions, checksums, the cluster refusals, and take/restore on a real redis-server."""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import real_redis
from backup_helpers import ProcessControl, Running, fill, keys_now, running
from real_redis import PASSWORD

from charms.layer.redis import admin, backup, service
from charms.layer.redis.backup import Backup, BackupError, NodeIdentity
from charms.layer.redis.cluster.nodes import SlotRange

TAKEN = datetime(2026, 11, 26, 14, 20, 0, tzinfo=timezone.utc)
NODE = "a" * 40
OTHER_NODE = "b" * 40
# Juju's action-set key rule (jujuc action-set.go): list-backups keys its results by backup name.
JUJU_RESULT_KEY = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")


def sample(directory: Path = Path("/srv/backups"), **changes: object) -> Backup:
    made = Backup(
        name="redis-0-20261126-142000",
        path=directory / "redis-0-20261126-142000.rdb",
        size=1234,
        sha256="0" * 64,
        keys=100,
        expires=0,
        taken=TAKEN,
        unit="redis/0",
    )
    return dataclasses.replace(made, **changes)


# --- names and descriptions ----------------------------------------------------------------------


def test_a_backup_is_named_by_unit_and_utc_time_and_is_a_valid_action_result_key() -> None:
    elsewhere = TAKEN.astimezone(timezone(timedelta(hours=-5)))
    assert backup.backup_name("redis/12", elsewhere) == "redis-12-20261126-142000"
    assert JUJU_RESULT_KEY.match(backup.backup_name("redis/0", TAKEN))


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", ".hidden", "", "x" * 200, "name with space"])
def test_a_name_that_could_reach_outside_the_directory_is_refused(name: str) -> None:
    with pytest.raises(BackupError, match=r"name: .* is not a backup name"):
        backup.check_name(name)


def test_a_description_reads_back_as_the_backup_it_describes() -> None:
    clustered = sample(node_id=NODE, slots=(SlotRange(0, 5460), SlotRange(10923, 10923)))
    text = backup.manifest_text(clustered)
    assert backup.parse_manifest(text, Path("/srv/backups")) == clustered
    assert '"slots": "0-5460,10923"' in text


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ('"version": 1', "version"),
        ('"path": "redis-0-20261126-142000.rdb"', "is not redis-0-20261126-142000.rdb"),
        ('"keys": 100', "keys"),
        ('"sha256": "' + "0" * 64 + '"', "sha256"),
    ],
)
def test_a_description_that_does_not_read_is_refused_saying_what(change: str, complaint: str) -> None:
    broken = {
        '"version": 1': '"version": 9',
        '"path": "redis-0-20261126-142000.rdb"': '"path": "../../etc/shadow"',
        '"keys": 100': '"keys": -1',
        '"sha256": "' + "0" * 64 + '"': '"sha256": "xyz"',
    }[change]
    text = backup.manifest_text(sample()).replace(change, broken)
    with pytest.raises(BackupError, match=f"description does not read: .*{complaint}"):
        backup.parse_manifest(text, Path("/srv/backups"))


def test_a_description_that_is_not_json_is_refused() -> None:
    with pytest.raises(BackupError, match="description does not read"):
        backup.parse_manifest("{not json", Path("/srv"))


def test_the_checksum_file_reads_as_sha256sum_writes_it() -> None:
    line = backup.checksum_line("f" * 64, "x.rdb")
    assert line == f"{'f' * 64}  x.rdb\n"
    assert backup.parse_checksum(line, "x.rdb") == "f" * 64
    with pytest.raises(BackupError, match=r"no checksum for y\.rdb"):
        backup.parse_checksum(line, "y.rdb")


def test_checksum_problems_name_what_does_not_match() -> None:
    made = sample(sha256="1" * 64, size=10)
    assert backup.checksum_problem(made, "1" * 64, "1" * 64, 10) == ""
    assert "corrupted" in backup.checksum_problem(made, "1" * 64, "2" * 64, 10)
    assert "9 bytes, 10 were backed up" in backup.checksum_problem(made, "1" * 64, "1" * 64, 9)
    assert "different checksums" in backup.checksum_problem(made, "3" * 64, "1" * 64, 10)


def test_keys_with_an_expiry_may_be_gone_after_a_restore_others_may_not() -> None:
    keyspace = backup.Keyspace(keys=100, expires=10)
    assert keyspace.admits(100) and keyspace.admits(90)
    assert not keyspace.admits(89) and not keyspace.admits(101)
    assert backup.keyspace_of({"db0": {"keys": 3, "expires": 1}, "db2": "keys=4,expires=0,avg_ttl=0"}) == (
        backup.Keyspace(7, 1)
    )


def test_appendonly_is_switched_off_for_the_start_on_the_restored_snapshot() -> None:
    text = "port 6379\nappendonly yes\nappendfsync everysec\n"
    assert backup.without_appendonly(text) == "port 6379\nappendonly no\nappendfsync everysec\n"


# --- what a restore refuses in cluster mode ------------------------------------------------------


def test_outside_cluster_mode_any_intact_backup_may_be_restored() -> None:
    assert backup.restore_refusal(sample(), None) == ""
    assert backup.restore_refusal(sample(node_id=NODE, slots=(SlotRange(0, 10),)), None) == ""


def test_a_cluster_node_restores_only_its_own_backup_with_the_same_slots() -> None:
    slots = (SlotRange(0, 5460),)
    own = sample(node_id=NODE, slots=slots)
    assert backup.restore_refusal(own, NodeIdentity(NODE, slots)) == ""
    assert "taken on cluster node bbbbbbbb, this unit is aaaaaaaa" in backup.restore_refusal(
        sample(node_id=OTHER_NODE, slots=slots), NodeIdentity(NODE, slots)
    )
    moved = backup.restore_refusal(own, NodeIdentity(NODE, (SlotRange(0, 4000),)))
    assert "served slots 0-5460, it now serves 0-4000" in moved
    assert "not taken in cluster mode" in backup.restore_refusal(sample(), NodeIdentity(NODE, slots))


def test_a_replica_refuses_any_restore_its_master_would_overwrite() -> None:
    replica = NodeIdentity(NODE, (), replica_of=OTHER_NODE)
    refusal = backup.restore_refusal(sample(node_id=NODE), replica)
    assert "is a replica of bbbbbbbb" in refusal and "restore on the master's unit" in refusal


def test_a_node_id_and_slots_come_from_the_myself_line() -> None:
    nodes = (
        f"{NODE} 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-100 200\n"
        f"{OTHER_NODE} 127.0.0.2:7000@17000 master - 0 0 2 connected 101-199\n"
    )
    assert backup.node_identity(nodes) == NodeIdentity(NODE, (SlotRange(0, 100), SlotRange(200, 200)))
    replica = f"{NODE} 127.0.0.1:7000@17000 myself,slave {OTHER_NODE} 0 0 1 connected\n"
    assert backup.node_identity(replica) == NodeIdentity(NODE, (), replica_of=OTHER_NODE)


# --- files ---------------------------------------------------------------------------------------


def test_the_backup_directory_is_created_private_and_an_open_one_is_refused(tmp_path: Path) -> None:
    private = tmp_path / "new" / "backups"
    backup.prepare_directory(private, (os.getuid(), os.getgid()))
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    with pytest.raises(BackupError, match=r"backup directory .*shared is open to others \(mode 755\)"):
        backup.prepare_directory(shared, (os.getuid(), os.getgid()))


def test_the_dir_parameter_overrides_the_option_and_either_must_be_absolute() -> None:
    assert backup.chosen_directory("/srv/b", Path("/var/backups/redis")) == Path("/srv/b")
    assert backup.chosen_directory("", Path("/var/backups/redis")) == Path("/var/backups/redis")
    with pytest.raises(BackupError, match=r"^dir: 'relative' is not an absolute path"):
        backup.chosen_directory("relative", Path("/var/backups/redis"))
    with pytest.raises(BackupError, match=r"^backup-dir: 'x' is not an absolute path"):
        backup.chosen_directory(None, Path("x"))


def test_listing_skips_what_does_not_read_and_sorts_by_time(tmp_path: Path) -> None:
    later = sample(tmp_path, name="redis-0-20261126-150000", path=tmp_path / "redis-0-20261126-150000.rdb")
    later = dataclasses.replace(later, taken=TAKEN.replace(hour=15))
    for made in (later, sample(tmp_path)):
        made.manifest_path.write_text(backup.manifest_text(made))
    (tmp_path / "junk.json").write_text("[]")
    found, unreadable = backup.listed(tmp_path)
    assert [made.name for made in found] == ["redis-0-20261126-142000", "redis-0-20261126-150000"]
    assert len(unreadable) == 1 and unreadable[0].startswith("junk.json")
    assert backup.listed(tmp_path / "absent") == ([], [])


# --- take and restore on a real redis-server -----------------------------------------------------


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Running]:
    with running(tmp_path) as started:
        yield started


@pytest.fixture
def appendonly_server(tmp_path: Path) -> Iterator[Running]:
    with running(tmp_path, appendonly=True) as started:
        yield started


def unit_of(started: real_redis.Server, tmp_path: Path) -> backup.Unit:
    return backup.Unit("redis/0", started.layout, PASSWORD, tmp_path / "backups")


QUIET = print  # progress lines go to the test's captured output


def backed_up(
    running: Running, tmp_path: Path, keys: int
) -> tuple[real_redis.Server, ProcessControl, backup.Unit, Backup]:
    """A running server holding `keys` keys, and a backup of them."""
    server, control = running
    fill(server, keys)
    unit = unit_of(server, tmp_path)
    return server, control, unit, backup.take(unit, unit.backup_dir, QUIET, TAKEN)


def test_a_backup_holds_the_snapshot_its_checksum_and_description(redis_server: Running, tmp_path: Path) -> None:
    server, _ = redis_server
    fill(server, 1000)
    lines: list[str] = []
    made = backup.take(unit_of(server, tmp_path), tmp_path / "backups", lines.append, TAKEN)
    assert made.keys == 1000 and made.size == made.path.stat().st_size
    assert backup.load(tmp_path / "backups", made.name) == made
    backup.verify(made)
    for path in (made.path, made.checksum_path, made.manifest_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert subprocess.run(["sha256sum", "-c", made.checksum_path.name], cwd=made.path.parent).returncode == 0
    assert any("BGSAVE" in line for line in lines)


def test_a_restore_brings_back_the_backed_up_keys(redis_server: Running, tmp_path: Path) -> None:
    server, control, unit, made = backed_up(redis_server, tmp_path, 1000)
    with admin.session(server.layout.unixsocket, PASSWORD) as client:
        client.flushall()
        client.set("written-after", "1")
    restored = backup.restore(unit, made, control, QUIET)
    assert restored.keyspace.keys == 1000 and restored.cluster_state == "" and keys_now(server) == 1000
    with admin.session(server.layout.unixsocket, PASSWORD) as client:
        assert client.get("k:999") == "value-999" and client.get("written-after") is None
    assert not (server.layout.data_dir / backup.ASIDE).exists()


def test_a_corrupted_backup_is_refused_and_redis_keeps_its_data(redis_server: Running, tmp_path: Path) -> None:
    server, control, unit, made = backed_up(redis_server, tmp_path, 100)
    with made.path.open("r+b") as handle:
        handle.seek(made.size // 2)
        handle.write(b"\xff\xff\xff\xff")
    fill(server, 200)
    with pytest.raises(BackupError, match=r"does not match its sha256 .*Redis keeps its data"):
        backup.restore(unit, made, control, QUIET)
    assert keys_now(server) == 200 and control.process.poll() is None


def test_a_failed_restore_puts_the_previous_data_back(redis_server: Running, tmp_path: Path) -> None:
    server, control, unit, made = backed_up(redis_server, tmp_path, 100)
    fill(server, 300)
    control.fail_start = True
    with pytest.raises(BackupError, match=r"failed: .*start refused; the previous data was put back \(300 keys\)"):
        backup.restore(unit, made, control, QUIET)
    assert keys_now(server) == 300


def test_a_restore_with_appendonly_on_rebuilds_the_append_only_file(appendonly_server: Running, tmp_path: Path) -> None:
    server, control, unit, made = backed_up(appendonly_server, tmp_path, 500)
    with admin.session(server.layout.unixsocket, PASSWORD) as client:
        client.flushall()
    backup.restore(unit, made, control, QUIET)
    assert keys_now(server) == 500
    assert server.layout.conf.read_text() == server.rendered  # appendonly yes again in the file
    control.stop()  # the next start loads the rebuilt append-only file
    control.start()
    assert service.wait_until(lambda: admin.health(server.layout.unixsocket, PASSWORD, 1.0).ok, timeout=10)
    assert keys_now(server) == 500


def test_data_files_moved_aside_come_back_as_they_were_and_what_the_restore_wrote_goes(tmp_path: Path) -> None:
    """Redis 7 keeps an append-only directory, Redis 6 one file beside the snapshot: both are kept aside."""
    files = backup.DataFiles(tmp_path / "dump.rdb", (tmp_path / "appendonly.aof", tmp_path / "appendonlydir"), True)
    files.snapshot.write_text("old snapshot")
    (tmp_path / "appendonly.aof").write_text("old aof")
    files.move_aside()
    assert not files.snapshot.exists() and not (tmp_path / "appendonly.aof").exists()
    files.snapshot.write_text("restored snapshot")
    (tmp_path / "appendonlydir").mkdir()
    (tmp_path / "appendonlydir" / "x.aof").write_text("rewritten")
    files.put_back()
    assert files.snapshot.read_text() == "old snapshot"
    assert (tmp_path / "appendonly.aof").read_text() == "old aof"
    assert not (tmp_path / "appendonlydir").exists() and not files.aside.exists()


def test_a_restore_refuses_to_run_over_what_an_unfinished_restore_kept_aside(
    redis_server: Running, tmp_path: Path
) -> None:
    server, control, unit, made = backed_up(redis_server, tmp_path, 10)
    kept = server.layout.data_dir / backup.ASIDE
    kept.mkdir()
    (kept / "dump.rdb").write_text("the only copy")
    with pytest.raises(BackupError, match="left from a restore that did not finish"):
        backup.restore(unit, made, control, QUIET)
    assert (kept / "dump.rdb").read_text() == "the only copy" and control.process.poll() is None


def test_a_restore_whose_key_count_does_not_match_puts_the_previous_data_back(
    redis_server: Running, tmp_path: Path
) -> None:
    server, control, unit, made = backed_up(redis_server, tmp_path, 100)
    fill(server, 150)
    claims_more = dataclasses.replace(made, keys=120)  # as if keys went missing from the snapshot
    with pytest.raises(BackupError, match=r"loaded 100 keys, the backup holds 120; the previous data was put back"):
        backup.restore(unit, claims_more, control, QUIET)
    assert keys_now(server) == 150


def test_a_redis_that_is_not_running_is_restored_from_what_its_redis_conf_says(
    redis_server: Running, tmp_path: Path
) -> None:
    server, control, unit, made = backed_up(redis_server, tmp_path, 100)
    control.stop()
    (server.layout.data_dir / "dump.rdb").write_bytes(b"REDIS0009 not a snapshot")  # Redis could not start on it
    restored = backup.restore(unit, made, control, QUIET)
    assert restored.keyspace.keys == 100 and keys_now(server) == 100


def test_a_stopped_cluster_node_is_not_restored_without_checking_its_identity() -> None:
    with pytest.raises(BackupError, match="Redis is not running, and a cluster node's id"):
        backup.inspect_stopped("dir /var/lib/redis\ncluster-enabled yes\n")


def test_a_restore_whose_stop_fails_leaves_the_data_files_alone(redis_server: Running, tmp_path: Path) -> None:
    server, control, unit, made = backed_up(redis_server, tmp_path, 100)
    fill(server, 200)
    control.fail_stop = True
    with pytest.raises(BackupError, match="did not answer within 120 s; the previous data was put back"):
        backup.restore(unit, made, control, QUIET)
    assert keys_now(server) == 200 and (server.layout.data_dir / "dump.rdb").exists()
