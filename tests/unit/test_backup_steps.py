"""Backups: names, descriptions, checksums, the cluster refusals, and take/restore on a real redis-server."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import pwd
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
# Refusals name a node by its id's first 8 characters: these ids differ from the 9th on.
NODE = "aaaaaaaa" + "1" * 32
OTHER_NODE = "bbbbbbbb" + "2" * 32
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
    assert backup.checksum_problem(made, "1" * 64, "2" * 64, 10) == (
        "redis-0-20261126-142000.rdb does not match its sha256 (corrupted)"
    )
    assert backup.checksum_problem(made, "1" * 64, "1" * 64, 9) == (
        "redis-0-20261126-142000.rdb is 9 bytes, 10 were backed up"
    )
    assert backup.checksum_problem(made, "3" * 64, "1" * 64, 10) == (
        "redis-0-20261126-142000.rdb.sha256 and redis-0-20261126-142000.json name different checksums"
    )


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


def test_names_are_at_most_128_characters_and_a_refusal_quotes_at_most_40() -> None:
    assert backup.check_name("a" * 128) == "a" * 128
    assert backup.check_name("redis-0_1.x") == "redis-0_1.x"
    with pytest.raises(BackupError) as refused:
        backup.check_name("b" * 129)
    assert str(refused.value) == (
        f"name: {'b' * 40!r} is not a backup name (letters, digits, '.', '_', '-'; see list-backups)"
    )


def test_a_description_written_by_hand_without_cluster_fields_reads_as_outside_cluster_mode() -> None:
    text = backup.manifest_text(sample())
    for optional in ('"node_id": ""', '"slots": ""'):
        text = text.replace(f" {optional},\n", "").replace(f",\n {optional}\n", "\n")
    assert "node_id" not in text and "slots" not in text
    assert backup.parse_manifest(text, Path("/srv/backups")) == sample()


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("taken", '"2026-11-26T14:20:00"', "its time has no time zone"),
        ("keys", "true", "keys True is not a count"),
        ("size", '"12"', "size '12' is not a count"),
        ("expires", "-1", "expires -1 is not a count"),
        ("unit", None, "'unit'"),
        ("version", "9", "version 9 is not 1"),
        ("sha256", '"xyz"', "its sha256 is not 64 hex digits"),
        (
            "path",
            '"../../../../../../../../../../etc/shadow-and-more"',
            "its snapshot '../../../../../../../../../../etc/shadow' is not redis-0-20261126-142000.rdb",
        ),
    ],
)
def test_each_field_of_a_description_is_checked(field: str, value: str | None, complaint: str) -> None:
    fields = json.loads(backup.manifest_text(sample()))
    if value is None:
        del fields[field]
    else:
        fields[field] = json.loads(value)
    with pytest.raises(BackupError, match=f"^the backup's description does not read: {re.escape(complaint)}$"):
        backup.parse_manifest(json.dumps(fields), Path("/srv/backups"))


def test_slots_read_back_merged_and_in_order() -> None:
    assert backup.parse_slots("7,0-3,4") == (SlotRange(0, 4), SlotRange(7, 7))
    assert backup.parse_slots("") == ()
    assert backup.slots_text((SlotRange(0, 4), SlotRange(7, 7))) == "0-4,7"


def test_a_checksum_in_binary_mode_or_among_other_files_is_found() -> None:
    digest = "a" * 64
    text = f"{'b' * 64}  other.rdb\n{digest} *Xmas.rdb\n"
    assert backup.parse_checksum(text, "Xmas.rdb") == digest
    with pytest.raises(BackupError, match=r"^x\.rdb\.sha256 holds no checksum for x\.rdb$"):
        backup.parse_checksum(f"{'A' * 64}  x.rdb\n", "x.rdb")


def test_only_database_fields_count_as_keys() -> None:
    info = {"dbx": "keys=100", "db0": "keys=2,expires=1,avg_ttl=0", "xdb1": "keys=100", "db15": {"keys": 3}}
    assert backup.keyspace_of(info) == backup.Keyspace(5, 1)


def test_only_the_appendonly_directive_is_switched_off() -> None:
    text = "APPENDONLY yes\nappendfilename appendonly.aof\n  appendonly   yes\nappenddirname appendonlydir"
    assert backup.without_appendonly(text) == (
        "appendonly no\nappendfilename appendonly.aof\nappendonly no\nappenddirname appendonlydir\n"
    )


def test_an_action_describes_a_cluster_backup_with_its_node_and_slots() -> None:
    described = backup.describe(sample(node_id=NODE, slots=(SlotRange(0, 10),)))
    assert (described["node-id"], described["slots"]) == (NODE, "0-10")
    assert backup.describe(sample(node_id=NODE))["slots"] == "none"
    assert "node-id" not in backup.describe(sample()) and "slots" not in backup.describe(sample())


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
    with pytest.raises(BackupError) as refused:
        backup.prepare_directory(shared, (os.getuid(), os.getgid()))
    assert str(refused.value) == (
        f"backup directory {shared} is open to others (mode 755); use a new directory or one with mode 700"
    )


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


def test_each_refusal_names_the_nodes_by_the_start_of_their_ids() -> None:
    slots = (SlotRange(0, 5460),)
    replica = NodeIdentity(NODE, slots, replica_of=OTHER_NODE)
    assert backup.restore_refusal(sample(node_id=NODE, slots=slots), replica) == (
        "this unit's node aaaaaaaa is a replica of bbbbbbbb, which would overwrite what is restored: "
        "restore on the master's unit"
    )
    assert backup.restore_refusal(sample(), NodeIdentity(NODE, slots)) == (
        "redis-0-20261126-142000 was not taken in cluster mode; this unit is cluster node aaaaaaaa"
    )
    assert backup.restore_refusal(sample(node_id=OTHER_NODE, slots=slots), NodeIdentity(NODE, slots)) == (
        "redis-0-20261126-142000 was taken on cluster node bbbbbbbb, this unit is aaaaaaaa: "
        "restore a backup taken on this unit"
    )
    assert backup.restore_refusal(sample(node_id=NODE, slots=slots), NodeIdentity(NODE, (SlotRange(0, 1),))) == (
        "redis-0-20261126-142000 was taken when this node served slots 0-5460, it now serves 0-1: "
        "restore a backup taken since the slots moved"
    )


def test_a_node_that_serves_no_slots_says_so_when_its_backup_is_refused() -> None:
    refusal = backup.restore_refusal(sample(node_id=NODE), NodeIdentity(NODE, (SlotRange(5, 6),)))
    assert "served slots none, it now serves 5-6: restore a backup taken since the slots moved" in refusal
    refusal = backup.restore_refusal(sample(node_id=NODE, slots=(SlotRange(5, 6),)), NodeIdentity(NODE, ()))
    assert "served slots 5-6, it now serves none" in refusal


def test_backup_files_belong_to_the_redis_user_for_apt_and_to_root_for_the_snap() -> None:
    apt = service.APT_LAYOUT
    redis_user = pwd.getpwnam("redis") if apt.group == "redis" else None
    if redis_user is None:
        pytest.skip("no redis user on this machine")
    assert backup.owner_ids(apt) == (redis_user.pw_uid, redis_user.pw_gid)
    assert backup.owner_ids(dataclasses.replace(apt, group="root")) == (0, 0)


def test_a_backup_directory_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(BackupError, match=r"^backup directory .*/file is not a directory$"):
        backup.prepare_directory(tmp_path / "file", (os.getuid(), os.getgid()))


def test_a_copy_that_fails_half_way_leaves_no_partial_file_and_the_target_as_it_was(tmp_path: Path) -> None:
    class Breaks(io.BytesIO):
        def read(self, size: int = -1) -> bytes:
            if self.tell():
                raise OSError("input/output error")
            return super().read(size)

    target = tmp_path / "x.rdb"
    target.write_bytes(b"previous")
    with pytest.raises(OSError, match="input/output error"):
        backup.copy_hashed(Breaks(b"abc"), target, (os.getuid(), os.getgid()))
    assert target.read_bytes() == b"previous" and os.listdir(tmp_path) == ["x.rdb"]


def test_a_large_snapshot_is_copied_whole_with_its_checksum(tmp_path: Path) -> None:
    data = os.urandom(backup.CHUNK * 2 + 7)
    size, digest = backup.copy_hashed(io.BytesIO(data), tmp_path / "x.rdb", (os.getuid(), os.getgid()))
    assert (size, digest) == (len(data), hashlib.sha256(data).hexdigest())
    assert (tmp_path / "x.rdb").read_bytes() == data and backup.file_sha256(tmp_path / "x.rdb") == (size, digest)
    backup.write_private(tmp_path / "x.json", b"new", (os.getuid(), os.getgid()))
    backup.write_private(tmp_path / "x.json", b"newer", (os.getuid(), os.getgid()))
    assert (tmp_path / "x.json").read_bytes() == b"newer" and sorted(os.listdir(tmp_path)) == ["x.json", "x.rdb"]
    assert stat.S_IMODE((tmp_path / "x.json").stat().st_mode) == 0o600


def test_backups_taken_in_the_same_second_are_listed_by_name(tmp_path: Path) -> None:
    for name in ("redis-1-20261126-142000", "redis-0-20261126-142000"):
        made = sample(tmp_path, name=name, path=tmp_path / f"{name}.rdb")
        made.manifest_path.write_text(backup.manifest_text(made))
    assert [made.name for made in backup.listed(tmp_path)[0]] == ["redis-0-20261126-142000", "redis-1-20261126-142000"]


def test_a_backup_without_its_checksum_file_is_incomplete(tmp_path: Path) -> None:
    made = sample(tmp_path)
    made.path.write_bytes(b"x")
    with pytest.raises(BackupError, match=r"^redis-0-20261126-142000 is incomplete: .*\.rdb\.sha256 is missing$"):
        backup.verify(made)
    with pytest.raises(BackupError, match=r"^name: '\.\./x' is not a backup name"):
        backup.load(tmp_path, "../x")


# --- waiting for a snapshot, on a scripted Redis -------------------------------------------------


class Clock:
    """time.monotonic and time.sleep for a test: each sleep is recorded and advances the clock half a second.

    Half a second is exact in binary, so the clock reads exactly 2.0 s, 5.0 s... after whole numbers of polls.
    """

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += 0.5


class ScriptedRedis:
    """A client whose INFO persistence answers are scripted, one per call (the last one repeats)."""

    def __init__(
        self, *persistence: dict[str, str], bgsave_reply: str = "Background saving started", nodes: str = ""
    ) -> None:
        self.persistence = list(persistence)
        self.bgsave_reply = bgsave_reply
        self.queued: list[str] = []
        self.config: dict[str, str] = {}
        # CLUSTER NODES in cluster mode; empty outside it.
        self.nodes = nodes

    def config_get(self, name: str) -> dict[str, str]:
        return {name: self.config[name]} if name in self.config else {}

    def info(self, section: str) -> dict[str, str]:
        if section == "persistence":
            return self.persistence.pop(0) if len(self.persistence) > 1 else self.persistence[0]
        return {"keyspace": {"db0": {"keys": 5, "expires": 2}}, "cluster": {"cluster_enabled": int(bool(self.nodes))}}[
            section
        ]

    def execute_command(self, *args: str) -> None:
        self.queued.append(" ".join(args))

    def pipeline(self, transaction: bool) -> ScriptedRedis:
        assert transaction, "the key count and the fork must be one transaction"
        return self

    def bgsave(self) -> None:
        self.queued.append("BGSAVE")

    def execute(self) -> list[object]:
        return [self.info("keyspace"), *([self.nodes] if self.nodes else []), self.bgsave_reply]


SAVING = {"rdb_bgsave_in_progress": "1", "current_save_keys_processed": "40", "current_save_keys_total": "100"}
SAVED = {"rdb_bgsave_in_progress": "0", "rdb_last_bgsave_status": "ok", "rdb_saves": "8"}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    made = Clock()
    monkeypatch.setattr(backup, "time", made)
    return made


def test_a_long_snapshot_reports_its_progress_every_two_seconds(clock: Clock) -> None:
    lines: list[str] = []
    client = ScriptedRedis(*[SAVING] * 12, SAVED)  # a poll every 0.5 s here: saving until 6 s
    backup.wait_for_snapshot(client, 7, 600, lines.append)  # type: ignore[arg-type]
    assert lines == [
        "snapshot in progress: 40 of 100 keys written, 2 s",
        "snapshot in progress: 40 of 100 keys written, 4 s",
    ]
    assert clock.sleeps == [0.1] * 12  # it asks Redis ten times a second


def test_redis_6_which_does_not_count_the_keys_saved_shows_zeros(clock: Clock) -> None:
    lines: list[str] = []
    client = ScriptedRedis(*[{"rdb_bgsave_in_progress": "1"}] * 5, SAVED)
    backup.wait_for_snapshot(client, 7, 600, lines.append)  # type: ignore[arg-type]
    assert lines == ["snapshot in progress: 0 of 0 keys written, 2 s"]


def test_a_snapshot_that_does_not_finish_in_time_fails_the_backup(clock: Clock) -> None:
    with pytest.raises(BackupError, match=r"^the snapshot did not finish within 5 s; nothing was backed up$"):
        backup.wait_for_snapshot(ScriptedRedis(SAVING), 7, 5, print)  # type: ignore[arg-type]
    assert clock.now == 1005.5  # the first poll after 5 s had passed


def test_a_snapshot_redis_could_not_write_fails_the_backup(clock: Clock) -> None:
    failed = {**SAVED, "rdb_last_bgsave_status": "err"}
    with pytest.raises(BackupError, match=r"^Redis could not write the snapshot \(see its log\); nothing was"):
        backup.wait_for_snapshot(ScriptedRedis(failed), 7, 5, print)  # type: ignore[arg-type]


def test_the_wait_ends_only_when_the_count_of_snapshots_passed_the_one_before(clock: Clock) -> None:
    """A snapshot that ended before ours started (its count unchanged) is not ours."""
    earlier = {**SAVED, "rdb_saves": "7"}
    client = ScriptedRedis(earlier, earlier, earlier, SAVED)
    backup.wait_for_snapshot(client, 7, 600, print)  # type: ignore[arg-type]
    assert client.persistence == [SAVED] and clock.now == 1001.5


def test_on_redis_6_the_first_poll_without_a_snapshot_in_progress_ends_the_wait(clock: Clock) -> None:
    without_count = {"rdb_bgsave_in_progress": "0", "rdb_last_bgsave_status": "ok"}
    backup.wait_for_snapshot(ScriptedRedis(without_count), None, 600, print)  # type: ignore[arg-type]
    assert clock.now == 1000.0


def test_a_snapshot_is_started_with_the_key_count_of_the_same_instant() -> None:
    client = ScriptedRedis({"rdb_bgsave_in_progress": "0", "aof_rewrite_in_progress": "0", "rdb_saves": "3"})
    snapshot, before = backup.start_snapshot(client, 5)  # type: ignore[arg-type]
    assert snapshot == backup.Snapshot(backup.Keyspace(5, 2), None) and before == 3
    assert client.queued == ["BGSAVE"]


def test_on_redis_6_a_snapshot_postponed_by_an_append_only_rewrite_is_refused() -> None:
    idle_redis_6 = {"rdb_bgsave_in_progress": "0", "aof_rewrite_in_progress": "0"}
    client = ScriptedRedis(idle_redis_6, bgsave_reply="Background saving scheduled")
    with pytest.raises(BackupError, match=r"^Redis is rewriting its append-only file; run backup again once"):
        backup.start_snapshot(client, 5)  # type: ignore[arg-type]
    cluster_node_on_redis_6 = ScriptedRedis(
        idle_redis_6,
        bgsave_reply="Background saving scheduled",
        nodes=f"{NODE} 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-16383\n",
    )
    with pytest.raises(BackupError, match=r"^Redis is rewriting its append-only file"):
        backup.start_snapshot(cluster_node_on_redis_6, 5)  # type: ignore[arg-type]
    assert cluster_node_on_redis_6.queued == ["CLUSTER NODES", "BGSAVE"]
    postponed_redis_7 = ScriptedRedis({**idle_redis_6, "rdb_saves": "3"}, bgsave_reply="Background saving scheduled")
    assert backup.start_snapshot(postponed_redis_7, 5)[1] == 3  # type: ignore[arg-type]


def saved(count: int, at: int) -> dict[str, str]:
    return {**SAVED, "rdb_saves": str(count), "rdb_last_save_time": str(at)}


IDLE = {"rdb_bgsave_in_progress": "0", "aof_rewrite_in_progress": "0", "rdb_saves": "3"}


def take_on(client: ScriptedRedis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Backup:
    """A backup taken from `client`, whose snapshot file is tmp_path/data/dump.rdb."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dump.rdb").write_bytes(b"REDIS0011 snapshot")
    client.config = {"dir": str(tmp_path / "data"), "dbfilename": "dump.rdb", "appendfilename": "appendonly.aof"}
    monkeypatch.setattr(admin, "session", lambda *args: contextlib.nullcontext(client))
    unit = backup.Unit("redis/0", service.APT_LAYOUT, PASSWORD, tmp_path / "backups")
    return backup.take(unit, tmp_path / "backups", print, TAKEN)


def test_a_snapshot_copied_as_redis_wrote_it_is_the_backup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = ScriptedRedis(IDLE, IDLE, saved(4, 100), saved(4, 100), saved(4, 100))
    made = take_on(client, tmp_path, monkeypatch)
    assert made.path.read_bytes() == b"REDIS0011 snapshot" and made.keyspace == backup.Keyspace(5, 2)


@pytest.mark.parametrize(
    "after_ours",
    [
        (saved(4, 100), saved(4, 100), saved(5, 101)),  # another snapshot ended while the file was opened
        (saved(5, 101), saved(5, 101), saved(5, 101)),  # another one had ended before the wait saw ours
        (saved(4, 100), saved(4, 100), {**saved(4, 100), "rdb_bgsave_in_progress": "1"}),  # another one began
    ],
)
def test_a_snapshot_another_one_replaced_before_the_copy_is_not_taken(
    after_ours: tuple[dict[str, str], ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(BackupError, match=r"^another snapshot replaced this one before it was copied; try again$"):
        take_on(ScriptedRedis(IDLE, IDLE, *after_ours), tmp_path, monkeypatch)
    assert os.listdir(tmp_path / "backups") == []


def test_on_redis_6_a_snapshot_replaced_before_the_copy_is_seen_by_its_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis_6_idle = {"rdb_bgsave_in_progress": "0", "aof_rewrite_in_progress": "0"}
    done = {"rdb_bgsave_in_progress": "0", "rdb_last_bgsave_status": "ok"}
    client = ScriptedRedis(
        redis_6_idle, redis_6_idle, done, {**done, "rdb_last_save_time": "100"}, {**done, "rdb_last_save_time": "101"}
    )
    with pytest.raises(BackupError, match=r"^another snapshot replaced this one"):
        take_on(client, tmp_path, monkeypatch)


def test_a_second_backup_in_the_same_second_is_refused_and_the_first_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = take_on(ScriptedRedis(IDLE, IDLE, saved(4, 100)), tmp_path, monkeypatch)
    unit = backup.Unit("redis/0", service.APT_LAYOUT, PASSWORD, tmp_path / "backups")
    with pytest.raises(BackupError, match=rf"^a backup named {made.name} exists already; try again in a second$"):
        backup.take(unit, tmp_path / "backups", print, TAKEN)
    backup.verify(made)


def test_the_password_is_not_in_how_a_unit_is_shown() -> None:
    unit = backup.Unit("redis/0", service.APT_LAYOUT, "secret-password-9", Path("/var/backups/redis"))
    assert "secret-password-9" not in repr(unit) and "secret-password-9" not in str(unit)


# --- waiting for a restored snapshot to load, on a scripted Redis ---------------------------------


def scripted_unit(client: ScriptedRedis, monkeypatch: pytest.MonkeyPatch, clock: Clock) -> backup.Unit:
    """This unit's Redis as `client` answers, on the test's clock."""
    monkeypatch.setattr(admin, "session", lambda *args: contextlib.nullcontext(client))
    monkeypatch.setattr(service, "time", clock)
    return backup.Unit("redis/0", service.APT_LAYOUT, PASSWORD, Path("/srv/backups"))


def test_a_restore_waits_until_redis_has_loaded_the_snapshot_before_counting_its_keys(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large snapshot takes a while to load: Redis answers INFO meanwhile, with loading:1."""
    client = ScriptedRedis({"loading": "1"}, {"loading": "1"}, {"loading": "0"})
    unit = scripted_unit(client, monkeypatch, clock)
    assert backup.wait_loaded(unit, 60) == backup.Keyspace(5, 2)
    assert clock.sleeps == [0.2, 0.2] and client.persistence == [{"loading": "0"}]


def test_a_redis_still_loading_when_the_wait_is_over_fails_the_restore_saying_how_long_it_waited(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    unit = scripted_unit(ScriptedRedis({"loading": "1"}), monkeypatch, clock)
    with pytest.raises(BackupError) as failed:
        backup.wait_loaded(unit, 1.5)
    assert str(failed.value) == "Redis did not load its data within 1.5 s"


def test_the_keys_a_restore_checks_are_those_read_from_the_snapshot_not_those_written_since(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis 7 says how many keys it loaded; clients may have written more since it started."""
    written_since = backup.Keyspace(keys=103, expires=0)
    redis_7 = scripted_unit(ScriptedRedis({"rdb_last_load_keys_loaded": "100"}), monkeypatch, clock)
    assert backup.keys_loaded(redis_7, written_since) == 100
    redis_6 = scripted_unit(ScriptedRedis({"loading": "0"}), monkeypatch, clock)
    assert backup.keys_loaded(redis_6, written_since) == 103  # Redis 6 does not say: the keys there are


# --- take and restore on a real redis-server -----------------------------------------------------


@pytest.fixture(autouse=True)
def loads_in_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test Redis that has not saved or loaded its data within 15 s never will: fail then, not after minutes."""
    monkeypatch.setattr(backup, "LOAD_WAIT", 15.0)
    monkeypatch.setattr(backup, "SNAPSHOT_WAIT", 15.0)


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
    with pytest.raises(BackupError) as refused:
        backup.restore(unit, made, control, QUIET)
    assert str(refused.value) == (
        f"refused to restore {made.name}: {made.path.name} does not match its sha256 (corrupted); Redis keeps its data"
    )
    assert keys_now(server) == 200 and control.process.poll() is None


def test_a_failed_restore_puts_the_previous_data_back(redis_server: Running, tmp_path: Path) -> None:
    server, control, unit, made = backed_up(redis_server, tmp_path, 100)
    fill(server, 300)
    control.fail_start = True
    with pytest.raises(BackupError) as failed:
        backup.restore(unit, made, control, QUIET)
    assert str(failed.value) == (
        f"restore of {made.name} failed: systemctl start redis-server failed: start refused; "
        "the previous data was put back (300 keys)"
    )
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
    kept = server.layout.data_dir / ".pre-restore"  # where every restore keeps the data it replaces
    kept.mkdir()
    (kept / "dump.rdb").write_text("the only copy")
    with pytest.raises(BackupError) as refused:
        backup.restore(unit, made, control, QUIET)
    assert str(refused.value) == (
        f"refused: {kept} is left from a restore that did not finish and may hold the only copy of the data "
        "from before it; move it elsewhere, then run restore again"
    )
    assert (kept / "dump.rdb").read_text() == "the only copy" and control.process.poll() is None


def test_a_restore_whose_key_count_does_not_match_puts_the_previous_data_back(
    redis_server: Running, tmp_path: Path
) -> None:
    server, control, unit, made = backed_up(redis_server, tmp_path, 100)
    fill(server, 150)
    claims_more = dataclasses.replace(made, keys=120)  # as if keys went missing from the snapshot
    with pytest.raises(BackupError) as failed:
        backup.restore(unit, claims_more, control, QUIET)
    assert str(failed.value) == (
        f"restore of {made.name} failed: Redis loaded 100 keys, the backup holds 120; "
        "the previous data was put back (150 keys)"
    )
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
    with pytest.raises(BackupError) as refused:
        backup.inspect_stopped("dir /var/lib/redis\ncluster-enabled yes\n")
    assert str(refused.value) == (
        "refused: Redis is not running, and a cluster node's id and slots must be checked against the backup; "
        "start Redis first"
    )


def test_a_restore_whose_stop_fails_leaves_the_data_files_alone(redis_server: Running, tmp_path: Path) -> None:
    server, control, unit, made = backed_up(redis_server, tmp_path, 100)
    fill(server, 200)
    control.fail_stop = True
    with pytest.raises(BackupError) as failed:
        backup.restore(unit, made, control, QUIET)
    assert str(failed.value) == (
        f"restore of {made.name} failed: systemctl stop redis-server did not answer within 120 s; "
        "the previous data was put back (200 keys)"
    )
    assert keys_now(server) == 200 and (server.layout.data_dir / "dump.rdb").exists()


def test_a_restore_whose_roll_back_cannot_start_redis_says_the_previous_data_is_back_in_place(
    redis_server: Running, tmp_path: Path
) -> None:
    server, control, unit, made = backed_up(redis_server, tmp_path, 10)
    control.fail_start = True
    real_start = control.start

    def start_refused_twice() -> None:
        control.fail_start = True
        real_start()

    control.start = start_refused_twice  # type: ignore[method-assign]
    with pytest.raises(BackupError) as failed:
        backup.restore(unit, made, control, QUIET)
    assert str(failed.value) == (
        f"restore of {made.name} failed: systemctl start redis-server failed: start refused; putting the previous "
        f"data back failed too (systemctl start redis-server failed: start refused); it is back in "
        f"{server.layout.data_dir}"
    )
    assert not (server.layout.data_dir / ".pre-restore").exists()
    real_start()
    assert service.wait_until(lambda: admin.health(server.layout.unixsocket, PASSWORD, 1.0).ok, timeout=10)
    assert keys_now(server) == 10


def test_a_roll_back_that_cannot_put_the_files_back_says_where_the_previous_data_is_kept(
    redis_server: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, control, unit, made = backed_up(redis_server, tmp_path, 10)
    control.fail_start = True

    def disk_fails(path: Path) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(backup, "remove", disk_fails)
    with pytest.raises(BackupError) as failed:
        backup.restore(unit, made, control, QUIET)
    assert str(failed.value) == (
        f"restore of {made.name} failed: systemctl start redis-server failed: start refused; putting the previous "
        f"data back failed too ([Errno 5] Input/output error); it is kept in {server.layout.data_dir / '.pre-restore'}"
    )


def test_a_restore_onto_a_redis_conf_the_charm_did_not_write_is_refused(redis_server: Running, tmp_path: Path) -> None:
    server, control, unit, made = backed_up(redis_server, tmp_path, 10)
    server.layout.conf.write_text("port 6379\n")
    with pytest.raises(BackupError) as refused:
        backup.restore(unit, made, control, QUIET)
    assert str(refused.value) == "Redis is not configured by the charm yet; nothing was restored"


def test_a_restore_says_each_step_it_takes(appendonly_server: Running, tmp_path: Path) -> None:
    server, control, unit, made = backed_up(appendonly_server, tmp_path, 10)
    lines: list[str] = []
    backup.restore(unit, made, control, lines.append)
    assert lines == [
        f"{made.name}: checksum verified",
        "stopping Redis",
        f"putting {made.name} in place of {server.layout.data_dir / 'dump.rdb'}",
        "starting Redis",
        "writing the append-only file from the restored data",
    ]


def test_the_data_files_of_a_running_redis_are_its_snapshot_append_only_file_and_directory(
    appendonly_server: Running,
) -> None:
    server, _ = appendonly_server
    data = server.layout.data_dir
    with admin.session(server.layout.unixsocket, PASSWORD) as client:
        files = backup.data_files(client)
    assert files == backup.DataFiles(data / "dump.rdb", (data / "appendonly.aof", data / "appendonlydir"), True)


def test_the_data_files_of_a_stopped_redis_come_from_its_redis_conf(tmp_path: Path) -> None:
    rendered = f'dir {tmp_path}\ndbfilename "dump-1.rdb"\nappendfilename "log.aof"\nappendonly yes\n'
    files, node = backup.inspect_stopped(rendered)
    assert node is None
    assert files == backup.DataFiles(tmp_path / "dump-1.rdb", (tmp_path / "log.aof", tmp_path / "appendonlydir"), True)
    files, _ = backup.inspect_stopped(f"dir {tmp_path}\n")
    assert files == backup.DataFiles(
        tmp_path / "dump.rdb", (tmp_path / "appendonly.aof", tmp_path / "appendonlydir"), False
    )
    # Only the quotes are taken off a name, whatever it starts or ends with.
    files, _ = backup.inspect_stopped(f'dir {tmp_path}\ndbfilename "X-dump.rdbX"\nappendfilename "X-log.aofX"\n')
    assert (files.snapshot, files.append_only[0]) == (tmp_path / "X-dump.rdbX", tmp_path / "X-log.aofX")
    # Without `dir`, the data directory of Redis's package.
    files, _ = backup.inspect_stopped("appendonly no\n")
    assert files.snapshot == Path("/var/lib/redis/dump.rdb")


def test_the_units_password_never_shows_in_its_repr() -> None:
    unit = backup.Unit("redis/0", service.APT_LAYOUT, PASSWORD, Path("/var/backups/redis"))
    assert PASSWORD not in repr(unit)


def test_files_that_did_not_exist_before_the_restore_are_removed_whether_it_made_them_or_not(tmp_path: Path) -> None:
    files = backup.DataFiles(tmp_path / "dump.rdb", (tmp_path / "appendonly.aof", tmp_path / "appendonlydir"), True)
    files.snapshot.write_text("old snapshot")
    files.move_aside()
    assert stat.S_IMODE(files.aside.stat().st_mode) == 0o700
    (tmp_path / "appendonlydir").mkdir()  # the restore made this one, not appendonly.aof
    files.put_back()
    assert sorted(os.listdir(tmp_path)) == ["dump.rdb"]


def test_a_cluster_state_never_read_is_unknown(redis_server: Running, tmp_path: Path) -> None:
    server, control = redis_server
    control.stop()
    assert backup.wait_cluster_ok(unit_of(server, tmp_path), 0.3, QUIET) == "unknown"


def test_a_relative_directory_is_quoted_up_to_80_characters() -> None:
    with pytest.raises(BackupError) as refused:
        backup.chosen_directory("r" * 100, Path("/var/backups/redis"))
    assert str(refused.value) == (
        f"dir: {'r' * 80!r} is not an absolute path; give a directory such as /var/backups/redis"
    )
