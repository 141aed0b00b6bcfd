"""The files the Nagios check is made of: plugin, its config (holding the password), NRPE command, export."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from charms.layer.redis import check_redis, monitoring, service


@pytest.fixture
def nagios(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """monitoring's paths under tmp_path, laid out as on a unit."""
    monkeypatch.setattr(monitoring, "PLUGIN", tmp_path / "usr/local/lib/nagios/plugins/check_redis_charm")
    monkeypatch.setattr(monitoring, "PLUGIN_CONFIG", tmp_path / "etc/nagios/check_redis_charm.json")
    monkeypatch.setattr(monitoring, "NRPE_DIR", tmp_path / "etc/nagios/nrpe.d")
    monkeypatch.setattr(monitoring, "EXPORT_DIR", tmp_path / "var/lib/nagios/export")
    # The host's groups are not the tests' to change.
    monkeypatch.setattr(monitoring, "ensure_nagios_group", lambda: None)
    return tmp_path


def test_the_paths_are_where_nrpe_and_the_nagios_charm_look() -> None:
    paths = (monitoring.PLUGIN, monitoring.PLUGIN_CONFIG, monitoring.NRPE_DIR, monitoring.EXPORT_DIR)
    assert [str(path) for path in paths] == [
        "/usr/local/lib/nagios/plugins/check_redis_charm",
        "/etc/nagios/check_redis_charm.json",
        "/etc/nagios/nrpe.d",
        "/var/lib/nagios/export",
    ]


def test_install_writes_plugin_config_command_and_export(nagios: Path) -> None:
    check = monitoring.make_check("juju", "", "redis/0")
    assert monitoring.install(check, "10.1.2.3", 6379, "s3cret") == {"redis": "check_redis"}
    plugin = monitoring.PLUGIN
    assert plugin.read_bytes() == Path(check_redis.__file__).read_bytes()
    assert stat.S_IMODE(plugin.stat().st_mode) == 0o755
    config = monitoring.PLUGIN_CONFIG
    assert json.loads(config.read_text()) == {"host": "10.1.2.3", "port": 6379, "password": "s3cret"}
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert config.stat().st_gid == service.group_id("nagios")
    assert (monitoring.NRPE_DIR / "check_redis.cfg").read_text() == monitoring.nrpe_command(check)
    export = monitoring.EXPORT_DIR / "service__juju-redis-0_check_redis.cfg"
    assert export.read_text() == monitoring.nagios_service(check)


def test_the_checks_config_is_written_for_the_nagios_group(nagios: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[tuple[Path, str]] = []
    monkeypatch.setattr(
        service, "write_restricted", lambda path, text, group, mode=0o640: written.append((path, group))
    )
    monitoring.install(monitoring.make_check("juju", "", "redis/0"), "10.1.2.3", 6379, "pw")
    assert written == [(monitoring.PLUGIN_CONFIG, "nagios")]


def test_checks_are_values() -> None:
    assert hash(monitoring.make_check("juju", "", "redis/0")) == hash(monitoring.Check("juju-redis-0", "juju"))


def test_the_password_is_never_in_the_command_line(nagios: Path) -> None:
    check = monitoring.make_check("juju", "", "redis/0")
    monitoring.install(check, "10.1.2.3", 6379, "s3cret")
    assert "s3cret" not in (monitoring.NRPE_DIR / "check_redis.cfg").read_text()
    assert check.command_line == f"{monitoring.PLUGIN} --config {monitoring.PLUGIN_CONFIG}"


def test_a_new_nagios_context_replaces_the_old_export_file(nagios: Path) -> None:
    monitoring.install(monitoring.make_check("juju", "", "redis/0"), "10.1.2.3", 6379, "pw")
    unrelated = monitoring.EXPORT_DIR / "service__juju-redis-0_check_disk.cfg"
    unrelated.write_text("another charm's check\n")
    monitoring.install(monitoring.make_check("prod", "", "redis/0"), "10.1.2.3", 6379, "pw")
    assert sorted(path.name for path in monitoring.EXPORT_DIR.iterdir()) == [
        "service__juju-redis-0_check_disk.cfg",
        "service__prod-redis-0_check_redis.cfg",
    ]


def test_remove_takes_away_everything_but_the_plugin_and_others_files(nagios: Path) -> None:
    monitoring.install(monitoring.make_check("juju", "", "redis/0"), "10.1.2.3", 6379, "pw")
    unrelated = monitoring.EXPORT_DIR / "service__juju-redis-0_check_disk.cfg"
    unrelated.write_text("another charm's check\n")
    monitoring.remove()
    assert not monitoring.PLUGIN_CONFIG.exists()
    assert list(monitoring.NRPE_DIR.iterdir()) == []
    assert list(monitoring.EXPORT_DIR.iterdir()) == [unrelated]
    monitoring.remove()  # again: nothing left to remove is fine


def test_the_nagios_service_definition_in_full() -> None:
    check = monitoring.make_check("prod", "dbs", "redis/3")
    assert monitoring.nagios_service(check) == (
        "# Written by the redis charm.\n"
        "define service {\n"
        "    use                  active-service\n"
        "    host_name            prod-redis-3\n"
        "    service_description  prod-redis-3 Redis answers PING with AUTH, memory below maxmemory\n"
        "    check_command        check_nrpe!check_redis\n"
        "    servicegroups        dbs\n"
        "}\n"
    )
    assert monitoring.nrpe_command(check) == (
        f"# Written by the redis charm.\ncommand[check_redis]={monitoring.PLUGIN} --config {monitoring.PLUGIN_CONFIG}\n"
    )


def test_the_nagios_group_is_made_when_nrpe_is_not_installed_yet() -> None:
    commands: list[list[str]] = []
    monitoring.ensure_nagios_group(group_id=lambda name: 0, run=commands.append)
    assert commands == [["groupadd", "--system", "nagios"]]


def test_an_existing_nagios_group_is_kept() -> None:
    commands: list[list[str]] = []
    monitoring.ensure_nagios_group(group_id=lambda name: 120 if name == "nagios" else 0, run=commands.append)
    assert commands == []


def test_install_makes_the_nagios_group_before_writing_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps: list[str] = []
    monkeypatch.setattr(monitoring, "PLUGIN", tmp_path / "plugin")
    monkeypatch.setattr(monitoring, "NRPE_DIR", tmp_path / "nrpe.d")
    monkeypatch.setattr(monitoring, "EXPORT_DIR", tmp_path / "export")
    monkeypatch.setattr(monitoring, "ensure_nagios_group", lambda: steps.append("group"))
    monkeypatch.setattr(service, "write_restricted", lambda path, text, group, mode=0o640: steps.append(group))
    monitoring.install(monitoring.make_check("juju", "", "redis/0"), "127.0.0.1", 6379, "pw")
    assert steps == ["group", "nagios"]


def test_with_tls_the_checks_config_carries_the_ca_the_plugin_verifies_against(nagios: Path) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    monitoring.install(monitoring.make_check("juju", "", "redis/0"), "127.1.2.3", 6380, "pw", ca=pem)
    target = json.loads(monitoring.PLUGIN_CONFIG.read_text())
    assert target == {"host": "127.1.2.3", "port": 6380, "password": "pw", "ca": pem}


def test_with_a_user_of_its_own_the_check_logs_in_as_that_user(nagios: Path) -> None:
    monitoring.install(
        monitoring.make_check("juju", "", "redis/0"), "127.1.2.3", 6379, "pw", username="charm-monitoring"
    )
    target = json.loads(monitoring.PLUGIN_CONFIG.read_text())
    assert target == {"host": "127.1.2.3", "port": 6379, "username": "charm-monitoring", "password": "pw"}
