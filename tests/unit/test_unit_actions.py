"""The actions on this unit's Redis as an operator runs them, on a real redis-server.

backup, list-backups, restore and cluster-status.

The unit's environment (its name, its options, its store, systemd) is faked;
Redis, its files and the backup files are real.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from backup_helpers import ProcessControl, fill, keys_now, running
from real_redis import PASSWORD, Server

from charms.layer.redis import admin, backup, cluster_status, run_action, service, workload
from charms.layer.redis.backup import BackupError
from charms.layer.redis.cluster.nodes import SlotRange
from charms.layer.redis.cluster.topology import Node, Role, Topology, encode
from charms.layer.redis.run_action import ActionRefused

if TYPE_CHECKING:
    import redis


class Store(dict):
    """The unit's kv store: get and set."""

    def set(self, key: str, value: object) -> None:
        self[key] = value


@dataclass
class OnUnit:
    """A unit of the charm whose Redis is a real redis-server: its options, its systemd and what actions say."""

    server: Server
    control: ProcessControl
    options: dict[str, Any]
    progress: list[str] = field(default_factory=list)
    systemctl: list[str] = field(default_factory=list)

    @property
    def backup_dir(self) -> Path:
        return Path(self.options["backup-dir"])

    def fake_systemctl(self, action: str, name: str, *options: str) -> None:
        self.systemctl.append(f"{action} {name}")
        assert name == self.server.layout.service
        {"stop": self.control.stop, "start": self.control.start}[action]()


@contextmanager
def on_a_unit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **options: object) -> Iterator[OnUnit]:
    from charmhelpers.core import hookenv, unitdata

    with running(tmp_path, **options) as (server, control):
        on_unit = OnUnit(server, control, {"backup-dir": str(tmp_path / "backups")})
        store = Store({"redis.installed": "apt"})  # what the install handler keeps
        monkeypatch.setattr(unitdata, "kv", lambda: store)
        monkeypatch.setattr(workload, "layout_of", {"apt": server.layout}.__getitem__)
        monkeypatch.setattr(hookenv, "local_unit", lambda: "redis/3")
        monkeypatch.setattr(hookenv, "config", lambda: on_unit.options)
        # No admin user shared yet (a unit upgraded from before it): the unit logs in as redis.conf says.
        monkeypatch.setattr(hookenv, "leader_get", lambda *key: {})
        monkeypatch.setattr(run_action, "progress", on_unit.progress.append)
        monkeypatch.setattr(service, "systemctl", on_unit.fake_systemctl)
        monkeypatch.setattr(service, "is_active", lambda name: name == server.layout.service and control.running())
        yield on_unit


@pytest.fixture
def unit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[OnUnit]:
    with on_a_unit(tmp_path, monkeypatch) as on_unit:
        yield on_unit


@pytest.fixture
def cluster_unit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[OnUnit]:
    """A unit whose Redis is a cluster of one node serving every slot, once the cluster is ok."""
    with on_a_unit(tmp_path, monkeypatch, **{"cluster-enabled": True}) as on_unit:
        with admin.session(on_unit.server.layout.unixsocket, PASSWORD) as client:
            client.execute_command("CLUSTER", "ADDSLOTS", *range(16384))
            assert service.wait_until(lambda: "cluster_state:ok" in cluster_info(client), timeout=30, interval=0.05)
        yield on_unit


def cluster_info(client: redis.Redis) -> str:
    return str(client.execute_command("CLUSTER", "INFO"))


def node_id(unit: OnUnit) -> str:
    with admin.session(unit.server.layout.unixsocket, PASSWORD) as client:
        return str(client.execute_command("CLUSTER", "MYID"))


def owner_of_redis_data() -> tuple[int, int]:
    """The redis user's ids where the machine has one (the apt package creates it), else root's."""
    try:
        entry = pwd.getpwnam("redis")
    except KeyError:
        return (0, 0)
    return (entry.pw_uid, entry.pw_gid)


# --- backup --------------------------------------------------------------------------------------


def test_backup_writes_to_the_backup_dir_option_and_reports_the_backup(unit: OnUnit) -> None:
    fill(unit.server, 120)
    before = datetime.now(timezone.utc).replace(microsecond=0)
    results = backup.backup_action({})["backup"]
    made = backup.load(unit.backup_dir, results["name"])
    assert results == {
        "name": made.name,
        "path": str(unit.backup_dir / f"{made.name}.rdb"),
        "size": str(made.path.stat().st_size),
        "keys": "120",
        "sha256": backup.file_sha256(made.path)[1],
        "time": made.taken.isoformat(),
        "unit": "redis/3",
    }
    assert made.name.startswith("redis-3-") and made.taken >= before and made.taken.tzinfo == timezone.utc
    assert results["time"].endswith("+00:00")
    assert [line for line in unit.progress if not line.startswith("snapshot in progress")] == [
        "asking Redis for a snapshot (BGSAVE)",
        f"copying the snapshot to {unit.backup_dir}",
    ]


def test_the_backup_files_and_directory_are_private_to_the_redis_user(unit: OnUnit) -> None:
    made = backup.load(unit.backup_dir, backup.backup_action({})["backup"]["name"])
    assert stat.S_IMODE(unit.backup_dir.stat().st_mode) == 0o700
    for path in (unit.backup_dir, made.path, made.checksum_path, made.manifest_path):
        assert (path.stat().st_uid, path.stat().st_gid) == owner_of_redis_data()
    for path in (made.path, made.checksum_path, made.manifest_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(os.listdir(unit.backup_dir)) == [f"{made.name}.json", f"{made.name}.rdb", f"{made.name}.rdb.sha256"]


def test_the_dir_parameter_overrides_the_backup_dir_option(unit: OnUnit, tmp_path: Path) -> None:
    results = backup.backup_action({"dir": str(tmp_path / "elsewhere")})["backup"]
    assert results["path"].startswith(f"{tmp_path / 'elsewhere'}/")
    assert not unit.backup_dir.exists()


def test_a_restore_takes_the_backup_from_the_dir_parameter(unit: OnUnit, tmp_path: Path) -> None:
    fill(unit.server, 30)
    name = backup.backup_action({"dir": str(tmp_path / "elsewhere")})["backup"]["name"]
    fill(unit.server, 60)
    assert backup.restore_action({"dir": str(tmp_path / "elsewhere"), "name": name})["restored"] == name
    assert keys_now(unit.server) == 30


def test_a_backup_dir_that_cannot_be_made_is_one_readable_line(unit: OnUnit, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(BackupError, match=rf"^Not a directory: {tmp_path / 'a-file'}/backups$"):
        backup.backup_action({"dir": str(tmp_path / "a-file" / "backups")})


def test_a_backup_of_a_stopped_redis_fails_saying_it_is_unreachable(unit: OnUnit) -> None:
    unit.control.stop()
    with pytest.raises(BackupError, match=r"^Redis does not accept connections \(ConnectionError\)$"):
        backup.backup_action({})


def test_an_action_before_the_charm_configured_redis_is_refused(unit: OnUnit) -> None:
    unit.server.layout.conf.write_text("port 6379\n")  # not rendered by the charm
    with pytest.raises(BackupError, match=r"^Redis is not installed and configured by the charm yet$"):
        backup.backup_action({})


def test_without_the_backup_dir_option_backups_are_in_var_backups_redis(unit: OnUnit) -> None:
    unit.options["backup-dir"] = ""
    assert backup.this_unit().backup_dir == Path("/var/backups/redis")
    with pytest.raises(BackupError, match=r"backup-dir: 'x' .*give a directory such as /var/backups/redis$"):
        backup.chosen_directory("", Path("x"))


def test_the_unit_authenticates_with_the_password_of_the_redis_conf_it_runs_with(unit: OnUnit) -> None:
    found = backup.this_unit()
    assert found.password == admin_password(unit) and found.name == "redis/3"
    assert found.layout == unit.server.layout


def admin_password(unit: OnUnit) -> str:
    return next(line.split()[1] for line in unit.server.rendered.splitlines() if line.startswith("requirepass "))


# --- list-backups --------------------------------------------------------------------------------


def test_list_backups_reports_each_backup_by_name_oldest_first(unit: OnUnit) -> None:
    fill(unit.server, 5)
    first = backup.take(backup.this_unit(), unit.backup_dir, print, datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    fill(unit.server, 7)
    second = backup.take(backup.this_unit(), unit.backup_dir, print, datetime(2026, 1, 2, 3, 4, 6, tzinfo=timezone.utc))
    (unit.backup_dir / "stray.json").write_text("{}")
    results = backup.list_backups_action({})
    assert results["count"] == 2 and results["dir"] == str(unit.backup_dir)
    assert list(results["backups"]) == [first.name, second.name]
    assert results["backups"][second.name] == {
        "path": str(second.path),
        "size": str(second.size),
        "keys": "7",
        "sha256": second.sha256,
        "time": "2026-01-02T03:04:06+00:00",
        "unit": "redis/3",
    }
    assert unit.progress == ["skipped stray.json: the backup's description does not read: version None is not 1"]


def test_list_backups_of_a_directory_without_backups_says_none(unit: OnUnit, tmp_path: Path) -> None:
    assert backup.list_backups_action({"dir": str(tmp_path / "nothing")}) == {
        "count": 0,
        "dir": str(tmp_path / "nothing"),
    }


# --- restore -------------------------------------------------------------------------------------


def test_restore_brings_back_the_named_backup_through_systemd(unit: OnUnit) -> None:
    fill(unit.server, 40)
    name = backup.backup_action({})["backup"]["name"]
    fill(unit.server, 90)
    results = backup.restore_action({"name": name})
    assert results == {"restored": name, "keys": 40, "backup-keys": 40}
    assert keys_now(unit.server) == 40
    assert [line for line in unit.progress if not line.startswith(("snapshot in progress", "asking", "copying"))] == [
        f"{name}: checksum verified",
        "saving the current data, to keep it until the restore is verified",
        "stopping Redis",
        f"putting {name} in place of {unit.server.layout.data_dir / 'dump.rdb'}",
        "starting Redis",
    ]
    assert unit.systemctl == ["stop redis-server", "start redis-server"]


def test_restore_of_a_name_that_is_not_there_is_refused_naming_it(unit: OnUnit) -> None:
    with pytest.raises(BackupError, match=rf"^name: no backup 'redis-3-x' in {unit.backup_dir} \(see list-backups\)$"):
        backup.restore_action({"name": "redis-3-x"})
    with pytest.raises(BackupError, match=r"^name: '' is not a backup name"):
        backup.restore_action({})


def test_a_systemd_failure_during_a_restore_is_one_line_and_the_data_is_put_back(unit: OnUnit) -> None:
    fill(unit.server, 10)
    name = backup.backup_action({})["backup"]["name"]
    fill(unit.server, 30)
    unit.control.fail_start = True
    with pytest.raises(BackupError, match=r"^restore of .* failed: .*start refused; the previous data was put back"):
        backup.restore_action({"name": name})
    assert keys_now(unit.server) == 30
    assert "putting the previous data back" in unit.progress


def test_a_backup_whose_snapshot_is_missing_is_refused_as_incomplete(unit: OnUnit) -> None:
    made = backup.load(unit.backup_dir, backup.backup_action({})["backup"]["name"])
    made.path.unlink()
    with pytest.raises(BackupError, match=rf"^{made.name} is incomplete: {made.path.name} is missing$"):
        backup.restore_action({"name": made.name})


def test_the_description_on_disk_is_the_json_the_listing_reads(unit: OnUnit) -> None:
    made = backup.load(unit.backup_dir, backup.backup_action({})["backup"]["name"])
    described = json.loads(made.manifest_path.read_text())
    assert described["version"] == 1 and described["path"] == made.path.name
    assert described["node_id"] == "" and described["slots"] == ""


# --- cluster mode --------------------------------------------------------------------------------


def test_a_backup_on_a_cluster_node_records_the_node_and_the_slots_it_serves(cluster_unit: OnUnit) -> None:
    fill(cluster_unit.server, 20)
    results = backup.backup_action({})["backup"]
    assert results["node-id"] == node_id(cluster_unit) and results["slots"] == "0-16383"
    assert results["keys"] == "20"
    made = backup.load(cluster_unit.backup_dir, results["name"])
    assert made.node_id == node_id(cluster_unit) and made.slots == (SlotRange(0, 16383),)


def test_a_restore_on_a_cluster_node_reports_the_cluster_state_once_it_sees_the_node_again(
    cluster_unit: OnUnit,
) -> None:
    fill(cluster_unit.server, 20)
    name = backup.backup_action({})["backup"]["name"]
    fill(cluster_unit.server, 50)
    results = backup.restore_action({"name": name})
    assert results == {"restored": name, "keys": 20, "backup-keys": 20, "cluster-state": "ok"}
    assert "waiting for the cluster to see this node again" in cluster_unit.progress
    assert keys_now(cluster_unit.server) == 20


def test_a_cluster_node_that_answers_only_after_a_while_is_waited_for(cluster_unit: OnUnit) -> None:
    cluster_unit.control.stop()
    starting = threading.Timer(0.5, cluster_unit.control.start)
    starting.start()
    try:
        assert backup.wait_cluster_ok(backup.this_unit(), 30, cluster_unit.progress.append) == "ok"
    finally:
        starting.join()


def test_a_backup_from_before_the_node_s_slots_moved_is_refused_and_redis_is_left_running(
    cluster_unit: OnUnit,
) -> None:
    name = backup.backup_action({})["backup"]["name"]
    fill(cluster_unit.server, 3)
    with admin.session(cluster_unit.server.layout.unixsocket, PASSWORD) as client:
        client.execute_command("CLUSTER", "DELSLOTS", "16383")
    with pytest.raises(BackupError, match=r"^refused: .* served slots 0-16383, it now serves 0-16382: restore a"):
        backup.restore_action({"name": name})
    assert cluster_unit.systemctl == [] and keys_now(cluster_unit.server) == 3


def test_a_restore_after_which_redis_is_another_cluster_node_puts_the_previous_data_back(
    cluster_unit: OnUnit,
) -> None:
    name = backup.backup_action({})["backup"]["name"]  # of no keys: a new node loading it serves no slots
    before = node_id(cluster_unit)
    start = cluster_unit.control.start

    def start_without_nodes_conf() -> None:  # as if nodes.conf were lost: Redis starts as a new node
        (cluster_unit.server.layout.data_dir / "nodes.conf").unlink(missing_ok=True)
        start()

    cluster_unit.control.start = start_without_nodes_conf  # type: ignore[method-assign]
    with pytest.raises(BackupError) as failed:
        backup.restore_action({"name": name})
    assert re.fullmatch(
        rf"restore of {name} failed: after the restart Redis is node [0-9a-f]{{8}} serving no slots, "
        rf"not node {before[:8]}; the previous data was put back \(0 keys\)",
        str(failed.value),
    )


# --- cluster-status ------------------------------------------------------------------------------


def test_cluster_status_names_each_node_by_the_unit_the_leader_shared(
    cluster_unit: OnUnit, monkeypatch: pytest.MonkeyPatch
) -> None:
    from charmhelpers.core import hookenv

    port = int(re.search(r"^port (\d+)$", cluster_unit.server.rendered, re.MULTILINE)[1])
    shared = encode(Topology.of([Node("redis/3", node_id(cluster_unit), "127.0.0.1", port, Role.MASTER)]))
    settings = {"cluster-topology": shared}  # the key the leader sets
    monkeypatch.setattr(hookenv, "leader_get", lambda key=None: settings if key is None else settings.get(key))
    results = cluster_status.cluster_status_action({})
    assert (results["cluster-state"], results["masters"], results["slots-covered"]) == ("ok", 1, "16384 of 16384")
    assert results["nodes"]["redis-3"]["slots"] == "0-16383"
    assert results["nodes"]["redis-3"]["address"] == f"127.0.0.1:{port}"


def test_cluster_status_without_a_shared_topology_names_nodes_by_id(
    cluster_unit: OnUnit, monkeypatch: pytest.MonkeyPatch
) -> None:
    from charmhelpers.core import hookenv

    monkeypatch.setattr(hookenv, "leader_get", lambda key=None: None)
    results = cluster_status.cluster_status_action({})
    assert list(results["nodes"]) == [f"node-{node_id(cluster_unit)[:8]}"]


def test_cluster_status_outside_cluster_mode_is_refused_saying_so(unit: OnUnit) -> None:
    with pytest.raises(
        ActionRefused, match=r"^cluster-status: this unit's Redis is not in cluster mode \(cluster-enabled"
    ):
        cluster_status.cluster_status_action({})


def test_cluster_status_of_a_stopped_redis_is_one_line(unit: OnUnit) -> None:
    unit.control.stop()
    with pytest.raises(BackupError, match=r"^Redis does not accept connections \(ConnectionError\)$"):
        cluster_status.cluster_status_action({})
