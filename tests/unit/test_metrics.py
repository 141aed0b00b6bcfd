"""prometheus-redis-exporter's settings file and service, and the scrape targets the charm publishes."""

from __future__ import annotations

import http.server
import json
import shlex
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from charms.layer.redis import metrics, service

EXPORTER = metrics.Exporter("127.1.2.3", 6379, "s3cret-Pass_word", 9121)


def environment(text: str) -> dict[str, str]:
    """An EnvironmentFile's assignments, read with the shell's quoting rules systemd follows."""
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return dict(shlex.split(line)[0].split("=", 1) for line in lines)


def test_the_env_file_gives_the_exporter_redis_its_password_file_and_where_to_listen() -> None:
    assert environment(metrics.env_file_text(EXPORTER)) == {
        "REDIS_ADDR": "redis://127.1.2.3:6379",
        "REDIS_PASSWORD_FILE": str(metrics.PASSWORD_FILE),
        "REDIS_EXPORTER_WEB_LISTEN_ADDRESS": "127.1.2.3:9121",
    }
    assert EXPORTER.password not in metrics.env_file_text(EXPORTER)


def test_an_exporter_with_a_user_of_its_own_logs_in_as_that_user() -> None:
    exporter = metrics.Exporter("127.1.2.3", 6379, "s3cret-Pass_word", 9121, username="charm-monitoring")
    assert environment(metrics.env_file_text(exporter))["REDIS_USER"] == "charm-monitoring"
    assert "REDIS_USER" not in environment(metrics.env_file_text(EXPORTER))


def test_the_password_file_maps_the_scraped_address_to_the_password_literally() -> None:
    exporter = metrics.Exporter("127.1.2.3", 6379, "a$HOME;b&c|d`e", 9121)
    assert json.loads(metrics.password_file_text(exporter)) == {"redis://127.1.2.3:6379": "a$HOME;b&c|d`e"}


def test_ipv6_addresses_are_bracketed_before_the_port() -> None:
    exporter = metrics.Exporter("fd00::7", 6380, "pw", 9200)
    assert (exporter.redis_url, exporter.listen_address) == ("redis://[fd00::7]:6380", "[fd00::7]:9200")
    assert metrics.bracketed("redis-0.example") == "redis-0.example"


def test_the_scrape_job_targets_every_units_address_at_the_metrics_port() -> None:
    metadata = metrics.ScrapeMetadata("prod", "4d5f7a1e-0c3b", "cache", "cache/2", "redis")
    data = metrics.scrape_app_data(9200, metadata)
    assert json.loads(data["scrape_jobs"]) == [
        {"job_name": "redis", "metrics_path": "/metrics", "static_configs": [{"targets": ["*:9200"]}]}
    ]
    assert json.loads(data["scrape_metadata"]) == {
        "model": "prod",
        "model_uuid": "4d5f7a1e-0c3b",
        "application": "cache",
        "unit": "cache/2",
        "charm_name": "redis",
    }
    assert metrics.scrape_unit_data("127.1.2.3", "cache/2") == {
        "prometheus_scrape_unit_address": "127.1.2.3",
        "prometheus_scrape_unit_name": "cache/2",
    }


@dataclass
class FakeSystemd:
    """The commands configure() ran, and whether the exporter runs."""

    active: bool = True
    serving: bool = True
    commands: list[str] = field(default_factory=list)

    def run(self, command: list[str], env: dict[str, str] | None = None, timeout: float = 0) -> str:
        self.commands.append(" ".join(command))
        return ""

    def systemctl(self, action: str, name: str, *options: str) -> None:
        self.commands.append(f"systemctl {action} {name}")
        self.active = self.active or action in ("start", "restart")

    def wait_until(self, check: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
        """Ask once: a test's exporter serves at once or never."""
        assert timeout >= 1, "a restarted exporter is given time to serve"
        return check()


@pytest.fixture
def systemd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSystemd:
    fake = FakeSystemd()
    monkeypatch.setattr(metrics, "ENV_FILE", tmp_path / "etc/prometheus-redis-exporter/redis-charm.env")
    monkeypatch.setattr(metrics, "PASSWORD_FILE", tmp_path / "etc/prometheus-redis-exporter/redis-charm-password.json")
    monkeypatch.setattr(metrics, "EXPORTER_GROUP", "root")  # the package's group is not on a test machine
    monkeypatch.setattr(metrics, "CA_FILE", tmp_path / "etc/prometheus-redis-exporter/redis-charm-ca.pem")
    monkeypatch.setattr(metrics, "DROPIN", tmp_path / "etc/systemd/system/exporter.service.d/redis-charm.conf")
    monkeypatch.setattr(metrics, "BINARY", tmp_path / "usr/bin/prometheus-redis-exporter")
    monkeypatch.setattr(service, "run", fake.run)
    monkeypatch.setattr(service, "systemctl", fake.systemctl)
    monkeypatch.setattr(service, "is_active", lambda name: fake.active)
    monkeypatch.setattr(metrics, "serving", lambda exporter: fake.serving)
    monkeypatch.setattr(service, "wait_until", fake.wait_until)
    return fake


def test_first_configure_installs_writes_private_files_and_restarts(systemd: FakeSystemd) -> None:
    assert metrics.configure(EXPORTER)
    env = metrics.ENV_FILE.stat()
    assert (stat.S_IMODE(env.st_mode), env.st_uid, env.st_gid) == (0o600, 0, 0)
    assert stat.S_IMODE(metrics.PASSWORD_FILE.stat().st_mode) == 0o640
    assert json.loads(metrics.PASSWORD_FILE.read_text()) == {EXPORTER.redis_url: EXPORTER.password}
    assert f"EnvironmentFile={metrics.ENV_FILE}" in metrics.DROPIN.read_text()
    assert EXPORTER.password not in metrics.DROPIN.read_text()
    assert systemd.commands == [
        "apt-get install -y -q --no-install-recommends prometheus-redis-exporter",
        "systemctl daemon-reload",
        "systemctl enable prometheus-redis-exporter",
        "systemctl restart prometheus-redis-exporter",
    ]


def test_configure_again_with_the_same_settings_restarts_nothing(systemd: FakeSystemd) -> None:
    metrics.configure(EXPORTER)
    metrics.BINARY.parent.mkdir(parents=True)
    metrics.BINARY.touch()
    systemd.commands.clear()
    assert not metrics.configure(EXPORTER)
    assert systemd.commands == []


def test_a_new_password_rewrites_the_file_and_restarts_the_exporter(systemd: FakeSystemd) -> None:
    metrics.configure(EXPORTER)
    systemd.commands.clear()
    assert metrics.configure(metrics.Exporter("127.1.2.3", 6379, "the-new-password", 9121))
    assert json.loads(metrics.PASSWORD_FILE.read_text()) == {EXPORTER.redis_url: "the-new-password"}
    assert systemd.commands[-1] == "systemctl restart prometheus-redis-exporter"


def test_an_exporter_that_stopped_is_started_again(systemd: FakeSystemd) -> None:
    metrics.configure(EXPORTER)
    systemd.active = False
    systemd.commands.clear()
    assert metrics.configure(EXPORTER)
    assert systemd.commands[-1] == "systemctl restart prometheus-redis-exporter"


def test_an_exporter_that_does_not_serve_after_its_restart_is_reported(systemd: FakeSystemd) -> None:
    systemd.serving = False
    with pytest.raises(
        metrics.NotServing,
        match=r"^prometheus-redis-exporter does not serve http://127.1.2.3:9121/metrics: is the port taken\?$",
    ):
        metrics.configure(EXPORTER)


def test_serving_means_redis_metrics_at_the_exporters_url_not_any_answer() -> None:
    nothing_there = metrics.Exporter("127.0.0.1", 6379, "pw", 1)  # port 1: closed on loopback
    assert not metrics.serving(nothing_there)


def test_an_exporter_scraping_over_tls_is_told_the_ca_file() -> None:
    text = metrics.env_file_text(metrics.Exporter("127.0.0.5", 6380, "secret-password-1", 9121, ca="PEM"))
    assert "REDIS_ADDR='rediss://127.0.0.5:6380'" in text
    assert f"REDIS_EXPORTER_TLS_CA_CERT_FILE='{metrics.CA_FILE}'" in text


def test_the_drop_in_adds_the_env_file_to_the_package_s_unit_and_is_world_readable(systemd: FakeSystemd) -> None:
    metrics.configure(EXPORTER)
    assert metrics.DROPIN.read_text() == (
        f"# Written by the redis charm: Redis's address and password.\n[Service]\nEnvironmentFile={metrics.ENV_FILE}\n"
    )
    assert stat.S_IMODE(metrics.DROPIN.stat().st_mode) == 0o644
    assert metrics.ENV_FILE.read_text().startswith("# Written by the redis charm.\n")


def test_a_drop_in_removed_by_hand_is_written_again_and_systemd_reloaded(systemd: FakeSystemd) -> None:
    metrics.configure(EXPORTER)
    metrics.BINARY.parent.mkdir(parents=True)
    metrics.BINARY.touch()
    metrics.DROPIN.unlink()
    systemd.commands.clear()
    assert metrics.configure(EXPORTER)
    assert systemd.commands == [
        "systemctl daemon-reload",
        "systemctl enable prometheus-redis-exporter",
        "systemctl restart prometheus-redis-exporter",
    ]


def test_the_ca_of_a_tls_redis_is_written_for_the_exporter_and_a_new_ca_restarts_it(systemd: FakeSystemd) -> None:
    exporter = metrics.Exporter("127.0.0.5", 6380, "secret-password-1", 9121, ca="PEM-1")
    assert metrics.configure(exporter)
    assert metrics.CA_FILE.read_text() == "PEM-1\n" and stat.S_IMODE(metrics.CA_FILE.stat().st_mode) == 0o644
    metrics.BINARY.parent.mkdir(parents=True)
    metrics.BINARY.touch()
    systemd.commands.clear()
    assert not metrics.configure(exporter)
    assert metrics.configure(metrics.Exporter("127.0.0.5", 6380, "secret-password-1", 9121, ca="PEM-2"))
    assert metrics.CA_FILE.read_text() == "PEM-2\n"
    assert systemd.commands == ["systemctl restart prometheus-redis-exporter"]


def test_without_tls_no_ca_file_is_written(systemd: FakeSystemd) -> None:
    metrics.configure(EXPORTER)
    assert not metrics.CA_FILE.exists()


@pytest.mark.parametrize(
    ("installed", "active", "commands"),
    [(True, True, ["systemctl stop prometheus-redis-exporter"]), (True, False, []), (False, True, [])],
)
def test_stop_stops_the_exporter_only_when_it_is_installed_and_running(
    systemd: FakeSystemd, installed: bool, active: bool, commands: list[str]
) -> None:
    if installed:
        metrics.BINARY.parent.mkdir(parents=True)
        metrics.BINARY.touch()
    systemd.active = active
    metrics.stop()
    assert systemd.commands == commands


class Page(http.server.BaseHTTPRequestHandler):
    """An HTTP server answering every GET with `body` (a class attribute set per test)."""

    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.parametrize(
    ("body", "serves"),
    [
        (b"# HELP redis_up Information about the Redis instance\nredis_up 1\n", True),
        (b"<html>some other program on the port</html>\n", False),
    ],
)
def test_serving_means_an_answer_with_redis_up_at_the_exporter_s_address(body: bytes, serves: bool) -> None:
    handler = type("Answer", (Page,), {"body": body})
    with http.server.HTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            assert metrics.serving(metrics.Exporter("127.0.0.1", 6379, "pw", server.server_address[1])) is serves
        finally:
            server.shutdown()


def test_the_exporter_s_files_are_where_systemd_and_the_package_read_them() -> None:
    assert Path("/etc/systemd/system/prometheus-redis-exporter.service.d/redis-charm.conf") == metrics.DROPIN
    assert Path("/usr/bin/prometheus-redis-exporter") == metrics.BINARY  # the package's: installed or not
    for path in (metrics.ENV_FILE, metrics.PASSWORD_FILE, metrics.CA_FILE):
        assert path.parent == Path("/etc/prometheus-redis-exporter")  # the package's configuration directory
    assert len({metrics.ENV_FILE, metrics.PASSWORD_FILE, metrics.CA_FILE}) == 3


def test_only_the_password_file_belongs_to_the_exporter_s_group(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    written: dict[Path, tuple[str, int]] = {}
    monkeypatch.setattr(
        service, "write_restricted", lambda path, text, group, mode: written.update({path: (group, mode)})
    )
    monkeypatch.setattr(service, "run", lambda *args, **kwargs: "")
    monkeypatch.setattr(service, "install_apt", lambda packages: None)
    monkeypatch.setattr(service, "systemctl", lambda *args: None)
    monkeypatch.setattr(service, "wait_until", lambda check, timeout, interval=0.1: True)
    metrics.configure(metrics.Exporter("127.0.0.5", 6380, "secret-password-1", 9121, ca="PEM"))
    assert written == {
        metrics.DROPIN: ("root", 0o644),
        metrics.CA_FILE: ("root", 0o644),
        metrics.PASSWORD_FILE: ("prometheus", 0o640),
        metrics.ENV_FILE: ("root", 0o600),
    }


def test_a_new_metrics_port_restarts_the_exporter(systemd: FakeSystemd) -> None:
    metrics.configure(EXPORTER)
    systemd.commands.clear()
    assert metrics.configure(metrics.Exporter("127.1.2.3", 6379, EXPORTER.password, 9200))
    assert systemd.commands[-1] == "systemctl restart prometheus-redis-exporter"
