"""Every hook puts the charm's files and the package's directories back to their modes and owners."""

from __future__ import annotations

import dataclasses
import grp
import os
import pwd
import stat
from pathlib import Path

import pytest

from charms.layer.redis import conf, service

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")


def owners(path: Path) -> tuple[str, str, str]:
    found = path.stat()
    mode = f"{stat.S_IMODE(found.st_mode):o}"
    return mode, pwd.getpwuid(found.st_uid).pw_name, grp.getgrgid(found.st_gid).gr_name


@pytest.fixture
def layout(tmp_path: Path) -> conf.Layout:
    try:
        pwd.getpwnam("redis"), grp.getgrnam("adm")
    except KeyError:
        pytest.skip("no redis user or adm group here")
    for directory in ("etc", "data", "log"):
        (tmp_path / directory).mkdir()
    (tmp_path / "etc" / "redis.conf").write_text("requirepass secret\n")
    return conf.Layout(
        service="redis-server",
        binary="redis-server",
        conf=tmp_path / "etc" / "redis.conf",
        data_dir=tmp_path / "data",
        logfile=tmp_path / "log" / "redis.log",
        unixsocket=tmp_path / "r.sock",
        pidfile=tmp_path / "r.pid",
    )


@needs_root
def test_a_world_readable_config_and_a_root_owned_directory_are_put_back(layout: conf.Layout) -> None:
    layout.conf.chmod(0o644)
    os.chown(layout.conf.parent, 0, 0)
    repaired = service.restore_ownerships(layout)
    assert owners(layout.conf) == ("640", "root", "redis")
    assert owners(layout.conf.parent) == ("2770", "redis", "redis")
    assert owners(layout.data_dir) == ("750", "redis", "redis")
    assert owners(layout.logfile.parent) == ("2750", "redis", "adm")
    assert f"{layout.conf} was 644 0:0" in repaired
    assert service.restore_ownerships(layout) == []


@needs_root
def test_a_config_redis_cannot_read_is_put_back(layout: conf.Layout) -> None:
    service.restore_ownerships(layout)
    layout.conf.chmod(0o600)
    assert service.restore_ownerships(layout) == [f"{layout.conf} was 600 0:{grp.getgrnam('redis').gr_gid}"]
    assert owners(layout.conf) == ("640", "root", "redis")


@needs_root
def test_a_symbolic_link_in_place_of_the_config_is_reported_and_its_target_left_alone(
    layout: conf.Layout, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("not the charm's\n")
    target.chmod(0o600)
    os.chown(target, pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid)
    layout.conf.unlink()
    layout.conf.symlink_to(target)
    assert f"{layout.conf} is a symbolic link, left alone" in service.restore_ownerships(layout)
    assert owners(target) == ("600", "nobody", "nogroup")


@needs_root
def test_a_path_whose_owner_cannot_be_changed_is_reported_with_the_reason(
    layout: conf.Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*args: object, **kwargs: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    service.restore_ownerships(layout)
    layout.conf.chmod(0o644)
    monkeypatch.setattr(service.os, "chown", refused)
    redis_gid = grp.getgrnam("redis").gr_gid
    expected = f"{layout.conf} was 644 0:{redis_gid}, cannot be restored (Operation not permitted)"
    assert service.restore_ownerships(layout) == [expected]


@needs_root
def test_a_snaps_config_is_put_back_to_root_and_the_snaps_group(layout: conf.Layout) -> None:
    snap = dataclasses.replace(layout, group="root")
    snap.conf.chmod(0o644)
    assert service.restore_ownerships(snap) == [f"{snap.conf} was 644 0:0"]
    assert owners(snap.conf) == ("640", "root", "root")
    assert owners(snap.data_dir)[1:] == ("root", "root")  # the snap's own tree: not the charm's to change


@needs_root
def test_missing_paths_are_left_to_the_install() -> None:
    layout = service.snap_layout("not-installed-here")
    assert service.restore_ownerships(layout) == []


def test_machine_memory_comes_from_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:        8000000 kB\nMemFree:         100 kB\n")
    assert service.machine_memory(meminfo) == 8000000 * 1024
    assert service.machine_memory(tmp_path / "absent") is None
