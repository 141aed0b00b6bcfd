"""Installing and controlling Redis: commands run through stand-ins on PATH that record what they were asked."""

from __future__ import annotations

import grp
import http.server
import os
import stat
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from charms.layer.redis import service

from conftest import free_port


class StandIns:
    """Executables on PATH that log their arguments (one line each) and answer as a script says."""

    def __init__(self, directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.directory = directory
        self.log = directory / "calls.log"
        self.log.touch()
        monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")

    def add(self, name: str, body: str = "exit 0") -> None:
        path = self.directory / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >> {self.log}\n{body}\n')
        path.chmod(0o755)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines()


@pytest.fixture
def commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIns:
    (tmp_path / "bin").mkdir()
    return StandIns(tmp_path / "bin", monkeypatch)


def test_run_returns_the_output(commands: StandIns) -> None:
    commands.add("tool", 'echo "out $GREETING"')
    assert service.run(["tool", "a"], {"GREETING": "hi"}) == "out hi\n"
    assert commands.calls() == ["tool a"]


def test_a_failure_names_the_command_and_its_last_line_of_error(commands: StandIns) -> None:
    commands.add("tool", 'echo "first" >&2; echo "E: the real reason" >&2; exit 100')
    with pytest.raises(service.ServiceError) as failed:
        service.run(["tool", "install", "-y", "redis-server"])
    assert str(failed.value) == "tool install -y failed: E: the real reason"


def test_a_failure_without_stderr_falls_back_to_stdout_then_the_exit_code(commands: StandIns) -> None:
    commands.add("quiet", "echo 'said on stdout'; exit 3")
    commands.add("silent", "exit 4")
    with pytest.raises(service.ServiceError, match=r"^quiet failed: said on stdout$"):
        service.run(["quiet"])
    with pytest.raises(service.ServiceError, match=r"^silent x failed: 4$"):
        service.run(["silent", "x"])


def test_a_program_that_cannot_run_is_named() -> None:
    with pytest.raises(service.ServiceError) as failed:
        service.run(["/nonexistent/redis-server", "--version"])
    assert str(failed.value) == "/nonexistent/redis-server cannot run: No such file or directory"


def test_install_apt_is_quiet_noninteractive_and_without_recommends(
    commands: StandIns, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEBIAN_FRONTEND", raising=False)
    commands.add("apt-get", 'echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >> ' + str(commands.log))
    service.install_apt()
    assert commands.calls() == [
        "apt-get install -y -q --no-install-recommends redis-server redis-tools",
        "DEBIAN_FRONTEND=noninteractive",
    ]


def test_install_apt_refreshes_the_package_lists_once_when_install_fails(commands: StandIns) -> None:
    marker = commands.directory / "updated"
    commands.add("apt-get", f'[ "$1" = update ] && touch {marker}; [ "$1" = update ] || [ -e {marker} ]')
    service.install_apt()
    assert [call.split()[1] for call in commands.calls()] == ["install", "update", "install"]
    assert commands.calls()[1] == "apt-get update -q"


def test_install_apt_gives_up_with_the_error_after_one_refresh(commands: StandIns) -> None:
    commands.add("apt-get", '[ "$1" = update ] || { echo "E: Unable to locate package" >&2; exit 100; }')
    with pytest.raises(service.ServiceError, match="Unable to locate package"):
        service.install_apt()
    assert len(commands.calls()) == 3


def test_install_apt_that_does_not_finish_in_time_is_not_tried_again_in_the_same_hook(commands: StandIns) -> None:
    commands.add("apt-get", "sleep 5")
    with pytest.raises(service.NoAnswer, match=r"^apt-get install -y did not answer within 0.3 s$"):
        service.install_apt(timeout=0.3)
    assert len(commands.calls()) == 1


def test_store_id_without_a_store_header_is_an_error() -> None:
    with pytest.raises(service.ServiceError, match=r"^snap_proxy_url: the proxy's assertions name no store$"):
        service.store_id("type: account\nstores: no\n")
    assert service.store_id("store:  X1 \n") == "X1"
    assert service.store_id("store: a:b\n") == "a:b"  # everything after the header's colon


ASSERTIONS = "type: account-key\nauthority-id: canonical\n\ntype: store\nstore: STORE42\nurl: http://proxy\n"


@pytest.fixture
def store_proxy() -> Iterator[tuple[str, list[str]]]:
    """A Snap Store Proxy on loopback that serves its assertions; the paths it was asked for."""
    requested: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requested.append(self.path)
            body = ASSERTIONS.encode()
            self.send_response(200 if self.path.endswith("/v2/auth/store/assertions") else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", requested
    server.shutdown()


def test_a_store_proxy_is_trusted_and_used(commands: StandIns, store_proxy: tuple[str, list[str]]) -> None:
    url, requested = store_proxy
    acked = commands.directory / "acked.assert"
    commands.add("snap", f'[ "$1" = ack ] && cp "$2" {acked}; exit 0')
    service.use_store_proxy(url + "/")
    assert requested == ["/v2/auth/store/assertions"]
    assert acked.read_text() == ASSERTIONS
    calls = commands.calls()
    assert calls[0].startswith("snap ack ") and calls[0].endswith(".assert")
    assert calls[1:] == ["snap set system proxy.store=STORE42"]
    assert not Path(calls[0].split()[-1]).exists()  # the temporary file is gone


def test_a_store_proxy_under_a_path_is_asked_there(commands: StandIns, store_proxy: tuple[str, list[str]]) -> None:
    url, requested = store_proxy
    commands.add("snap")
    service.use_store_proxy(f"{url}/proxyX/")
    assert requested == ["/proxyX/v2/auth/store/assertions"]


def test_install_snap_trusts_the_store_proxy_before_installing(
    commands: StandIns, store_proxy: tuple[str, list[str]]
) -> None:
    url, _ = store_proxy
    commands.add("snap", '[ "$1" = list ] && exit 1; exit 0')
    service.install_snap("redis", "7/stable", "", url, "")
    calls = commands.calls()
    assert calls[3].startswith("snap ack ")
    assert calls[4:] == [
        "snap set system proxy.store=STORE42",
        "snap list redis",
        "snap install redis --channel=7/stable",
    ]


def test_an_empty_store_proxy_url_undoes_it(commands: StandIns) -> None:
    commands.add("snap")
    service.use_store_proxy("")
    assert commands.calls() == ["snap unset system proxy.store"]


def test_an_unreachable_store_proxy_is_an_error_naming_the_option(commands: StandIns) -> None:
    commands.add("snap")
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(service.ServiceError) as failed:
        service.use_store_proxy(url)
    assert str(failed.value).startswith(f"snap_proxy_url: cannot fetch the store assertions from {url}: ")
    assert commands.calls() == []


def test_install_snap_configures_snapd_then_installs(commands: StandIns) -> None:
    commands.add("snap", '[ "$1" = list ] && exit 1; exit 0')
    service.install_snap("redis", "7/stable", "http://proxy:3128", "", "max")
    assert commands.calls() == [
        "snap set system proxy.http=http://proxy:3128",
        "snap set system proxy.https=http://proxy:3128",
        f"snap set system refresh.timer={service.MONTHLY_REFRESH_TIMER}",
        "snap unset system proxy.store",
        "snap list redis",
        "snap install redis --channel=7/stable",
    ]


def test_install_snap_refreshes_an_installed_snap_to_the_channel(commands: StandIns) -> None:
    commands.add("snap")
    service.install_snap("redis", "7/edge", "", "", "")
    assert commands.calls()[-2:] == ["snap list redis", "snap refresh redis --channel=7/edge"]
    assert "snap unset system refresh.timer" in commands.calls()


def test_monthly_refresh_is_the_last_friday_at_night() -> None:
    assert service.MONTHLY_REFRESH_TIMER == "fri5,23:00-01:00"


def test_installed_version_asks_the_binary(commands: StandIns) -> None:
    commands.add("redis-server", 'echo "Redis server v=7.2.4 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64"')
    layout = service.snap_layout("x")
    assert service.installed_version(replace(layout, binary="redis-server")) == (7, 2, 4)
    assert commands.calls() == ["redis-server --version"]
    commands.add("garbled", "echo 'no version here'")
    assert service.installed_version(replace(layout, binary="garbled")) == (0, 0, 0)


def test_the_layouts_of_apt_and_of_a_snap() -> None:
    assert service.APT_LAYOUT.service == "redis-server"
    assert service.APT_LAYOUT.binary == "/usr/bin/redis-server"
    assert service.APT_LAYOUT.conf == Path("/etc/redis/redis.conf")
    assert service.APT_LAYOUT.data_dir == Path("/var/lib/redis")
    assert service.APT_LAYOUT.logfile == Path("/var/log/redis/redis-server.log")
    assert service.APT_LAYOUT.unixsocket == Path("/run/redis/redis-server.sock")
    assert service.APT_LAYOUT.pidfile == Path("/run/redis/redis-server.pid")
    assert service.APT_LAYOUT.group == "redis"
    snap = service.snap_layout("redis")
    common = Path("/var/snap/redis/common")
    assert (snap.service, snap.binary, snap.group) == ("snap.redis.server", "/snap/bin/redis.server", "root")
    assert snap.conf == common / "etc/redis.conf"
    assert snap.data_dir == common / "var/lib/redis"
    assert snap.logfile == common / "var/log/redis.log"
    assert snap.unixsocket == common / "run/redis.sock"
    assert snap.pidfile == common / "run/redis.pid"


def test_group_id_is_the_groups_or_roots_while_it_does_not_exist() -> None:
    some_group = next(group for group in grp.getgrall() if group.gr_gid != 0)
    assert service.group_id(some_group.gr_name) == some_group.gr_gid
    assert service.group_id("no-such-group-here") == 0


def test_restricted_files_are_0640_root_and_the_group_and_replaced_whole(tmp_path: Path) -> None:
    some_group = next(group for group in grp.getgrall() if group.gr_gid != 0)
    path = tmp_path / "new" / "dir" / "secret.conf"
    service.write_restricted(path, "first", some_group.gr_name)
    service.write_restricted(path, "second", some_group.gr_name)
    status = path.stat()
    assert path.read_text() == "second"
    assert (stat.S_IMODE(status.st_mode), status.st_uid, status.st_gid) == (0o640, 0, some_group.gr_gid)
    assert [p.name for p in path.parent.iterdir()] == ["secret.conf"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.conf"
    service.write_restricted(path, "old", "root")

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(service.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        service.write_restricted(path, "new", "root")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["secret.conf"]


def test_only_a_config_the_charm_wrote_counts_as_running_config(tmp_path: Path) -> None:
    layout = replace(service.APT_LAYOUT, conf=tmp_path / "redis.conf", group="root")
    assert service.read_config(layout) is None
    layout.conf.write_text("port 6379\n")  # the package's own file
    assert service.read_config(layout) is None
    service.write_config(layout, "# Redis configuration, rendered by the redis charm\nport 6380\n")
    assert service.read_config(layout) == "# Redis configuration, rendered by the redis charm\nport 6380\n"
    assert stat.S_IMODE(layout.conf.stat().st_mode) == 0o640


def test_systemctl_and_is_active(commands: StandIns) -> None:
    commands.add("systemctl", 'if [ "$1" = is-active ]; then [ "$3" = redis-server ]; fi')
    service.systemctl("restart", "redis-server", "--no-block")
    assert service.is_active("redis-server") is True
    assert service.is_active("snap.redis.server") is False
    assert commands.calls() == [
        "systemctl restart redis-server --no-block",
        "systemctl is-active --quiet redis-server",
        "systemctl is-active --quiet snap.redis.server",
    ]


def test_wait_until_polls_until_true_or_the_timeout() -> None:
    answers = iter([False, False, True])
    assert service.wait_until(lambda: next(answers), timeout=5, interval=0.001) is True
    polled: list[int] = []
    assert service.wait_until(lambda: bool(polled.append(1)), timeout=0.05, interval=0.01) is False
    assert 2 <= len(polled) <= 7
    assert service.wait_until(lambda: bool(polled.append(1)), timeout=0, interval=5) is False


@pytest.fixture
def hung_commands(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every command runs past the time it is given; the commands asked for."""
    asked: list[list[str]] = []

    def never_finishes(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        asked.append(command)
        raise subprocess.TimeoutExpired(command, float(kwargs["timeout"]))  # type: ignore[arg-type]

    monkeypatch.setattr(service.subprocess, "run", never_finishes)
    return asked


def test_a_hung_command_is_given_up_after_ten_minutes_and_named(hung_commands: list[list[str]]) -> None:
    with pytest.raises(service.NoAnswer, match=r"^snap install redis did not answer within 600 s$"):
        service.run(["snap", "install", "redis", "--channel=7/stable"])


def test_a_hung_systemd_is_given_up_after_two_minutes_and_named(hung_commands: list[list[str]]) -> None:
    with pytest.raises(service.NoAnswer, match=r"^systemctl restart redis-server did not answer within 120 s$"):
        service.systemctl("restart", "redis-server")
    with pytest.raises(service.NoAnswer, match=r"^systemctl is-active redis-server did not answer within 10 s$"):
        service.is_active("redis-server")
    assert hung_commands == [
        ["systemctl", "restart", "redis-server"],
        ["systemctl", "is-active", "--quiet", "redis-server"],
    ]


def test_a_systemctl_that_cannot_run_means_not_active(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert service.is_active("redis-server") is False


def test_ownerships_are_values() -> None:
    wanted = service.ownerships(service.APT_LAYOUT)
    assert hash(tuple(wanted)) == hash(tuple(service.ownerships(service.APT_LAYOUT)))
    with pytest.raises(AttributeError):
        wanted[0].mode = 0o777  # type: ignore[misc]


def test_machine_memory_is_this_machines_by_default() -> None:
    total = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:"))
    assert service.machine_memory() == int(total.split()[1]) * 1024
