"""conf's rules one by one: which directives go live, from which version, how a file is read back."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from pathlib import Path

import pytest

from charms.layer.redis import conf, service, settings

from fakejuju import ROOT, config_defaults

BASE = settings.parse({**config_defaults(), "password": "pw1-long-enough"})


def render(parsed: settings.Settings = BASE, password: str = "pw1", ingress: str = "10.1.2.3") -> str:
    return conf.render(parsed, password, ingress, service.APT_LAYOUT)


def test_the_directives_redis_changes_at_runtime() -> None:
    assert sorted(conf.LIVE_DIRECTIVES) == [
        "appendfsync",
        "appendonly",
        "cluster-announce-port",
        "cluster-announce-tls-port",
        "loglevel",
        "masterauth",
        "masteruser",
        "maxmemory",
        "maxmemory-policy",
        "requirepass",
        "save",
        "tcp-keepalive",
        "timeout",
        "tls-auth-clients",
        "tls-ca-cert-file",
        "tls-cert-file",
        "tls-key-file",
        "tls-port",
        "tls-replication",
    ]
    assert conf.LIVE_PORT_SINCE == (7, 0, 0)
    assert conf.TEMPLATES == ROOT / "templates"


@pytest.mark.parametrize(
    ("version", "live"),
    [((6, 2, 14), False), ((7, 0, 0), True), ((7, 0, 15), True), ((8, 0, 0), True), ([7, 0, 0], True)],
)
def test_the_port_goes_live_from_redis_7_0_0(version: tuple[int, ...], live: bool) -> None:
    plan = conf.plan(render(), render(replace(BASE, port=6390)), version)
    assert plan == (conf.Plan(live={"port": "6390"}) if live else conf.Plan(restart=True))


def test_every_live_directive_changing_at_once_is_still_live() -> None:
    new = render(replace(BASE, loglevel="debug", timeout=9, tcp_keepalive=7, port=6390), password="pw2")
    plan = conf.plan(render(), new, (7, 0, 15))
    assert plan == conf.Plan(
        live={
            "loglevel": "debug",
            "masterauth": "pw2",
            "port": "6390",
            "requirepass": "pw2",
            "tcp-keepalive": "7",
            "timeout": "9",
        }
    )


def test_plans_and_layouts_are_values_with_their_defaults() -> None:
    plan = conf.Plan()
    assert (plan.live, plan.restart) == ({}, False)
    assert conf.Plan(restart=True) == conf.Plan(restart=True) != conf.Plan()
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.restart = True  # type: ignore[misc]
    layout = conf.Layout("s", "b", Path("c"), Path("d"), Path("l"), Path("u"), Path("p"))
    assert layout.group == "redis"
    assert hash(layout) == hash(conf.Layout("s", "b", Path("c"), Path("d"), Path("l"), Path("u"), Path("p")))


def test_a_live_change_beside_a_restart_is_one_restart() -> None:
    new = render(replace(BASE, loglevel="debug", databases=8))
    assert conf.plan(render(), new, (7, 0, 15)) == conf.Plan(restart=True)


def test_a_live_directive_that_disappears_needs_a_restart() -> None:
    running = render() + "timeout 5\n"
    without = "\n".join(line for line in running.splitlines() if not line.startswith("timeout"))
    assert conf.plan(running, without, (7, 0, 15)) == conf.Plan(restart=True)


def test_a_plan_with_changes_is_not_unchanged() -> None:
    assert conf.Plan().unchanged
    assert not conf.Plan(restart=True).unchanged
    assert not conf.Plan(live={"timeout": "1"}).unchanged


def test_directives_are_read_back_as_redis_reads_them() -> None:
    text = "# comment\n\n  Port 6379  \nsave 3600 1\nsave 60 10000\n   # indented comment\nbind  a b\nflag\n"
    assert conf.directives(text) == {"port": "6379", "save": "3600 1\n60 10000", "bind": "a b", "flag": ""}


def test_bind_is_the_ingress_address_plus_loopback() -> None:
    assert conf.bind_addresses("10.1.2.3") == ["10.1.2.3", "127.0.0.1"]
    assert conf.bind_addresses("127.0.0.1") == ["127.0.0.1"]
    assert conf.bind_addresses("::1") == ["::1"]
    assert conf.bind_addresses("fd00::5") == ["fd00::5", "127.0.0.1"]


def test_the_rendered_file_says_why_it_binds_loopback_only_when_it_does() -> None:
    assert "and loopback for tools on this machine" in render()
    assert "and loopback for tools on this machine" not in render(ingress="127.0.0.3")


def test_the_rendered_file_has_the_layouts_paths() -> None:
    layout = service.snap_layout("redis")
    found = conf.directives(conf.render(BASE, "pw1", "10.1.2.3", layout))
    assert (found["unixsocket"], found["pidfile"], found["logfile"], found["dir"]) == (
        str(layout.unixsocket),
        str(layout.pidfile),
        str(layout.logfile),
        str(layout.data_dir),
    )


def test_the_rendered_file_starts_as_read_config_expects() -> None:
    assert render().startswith("# Redis configuration, rendered by the redis charm")


def test_a_missing_template_value_is_an_error_not_an_empty_directive(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    (tmp_path / "redis.conf.j2").write_text("port {{ port }}\nmissing {{ nothing_gives_this }}\n")
    monkeypatch.setattr(conf, "TEMPLATES", tmp_path)
    with pytest.raises(Exception, match="nothing_gives_this"):
        render()


def test_text_is_rendered_as_is_not_escaped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "redis.conf.j2").write_text("requirepass {{ password }}")
    monkeypatch.setattr(conf, "TEMPLATES", tmp_path)
    assert render(password="a<b>&c") == "requirepass a<b>&c"
    (tmp_path / "redis.conf.j2").write_text("port {{ port }}\n")
    assert render() == "port 6379\n"


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("Redis server v=7.0.15 sha=00000000:0", (7, 0, 15)),
        ("v7.2.4", (7, 2, 4)),
        ("redis_version=6.0.16", (6, 0, 16)),
        ("1.2 then 3.4.5", (3, 4, 5)),
        ("7.0.15.1 7.0.16", (7, 0, 16)),
    ],
)
def test_versions_are_found_in_any_redis_output(text: str, version: tuple[int, int, int]) -> None:
    assert conf.parse_version(text) == version


def test_no_version_is_an_error_naming_the_text() -> None:
    with pytest.raises(ValueError, match=r"^no Redis version in 'v7\.x\.1'$"):
        conf.parse_version("v7.x.1")


def test_every_live_directive_changed_at_once_still_goes_live() -> None:
    live = sorted(conf.LIVE_DIRECTIVES | {"port"})  # port is live from Redis 7 on
    running = "".join(f"{name} {index}\n" for index, name in enumerate(live))
    rendered = "".join(f"{name} {index + 100}\n" for index, name in enumerate(live))
    plan = conf.plan(running, rendered, (7, 0, 15))
    assert not plan.restart
    assert plan.live == {name: str(index + 100) for index, name in enumerate(live)}


def test_a_status_names_the_options_behind_the_changed_directives() -> None:
    # Where the files live changes only with the installation.
    assert conf.describe(("databases", "dir", "logfile", "pidfile", "unixsocket")) == "databases, install-source"
    assert conf.describe(("loglevel", "masterauth", "requirepass")) == "log-level, password"
    assert conf.describe(()) == "the new configuration"
    assert conf.describe(("user",)) == "client-permissions"
    tls = ("tls-cert-file", "tls-key-file", "tls-ca-cert-file", "tls-auth-clients", "tls-replication", "tls-cluster")
    for directive in tls:
        assert conf.describe((directive,)) == "the certificates relation"
    assert conf.describe(("bind", "cluster-announce-ip", "cluster-enabled")) == "cluster-enabled, the unit's address"
    assert conf.describe(("masteruser",)) == "password"
    assert conf.describe(("cluster-announce-port",)) == "tls-keep-plain-port"
    assert conf.describe(("cluster-announce-tls-port",)) == "tls-port"


def test_what_is_watched_on_the_running_server_is_what_clients_reach_and_every_live_directive() -> None:
    watched = conf.watched(render(ingress="127.1.2.3"))
    assert watched["port"] == "6379"
    assert watched["bind"] == "127.1.2.3"
    assert watched["protected-mode"] == "yes"
    assert watched["requirepass"] == watched["masterauth"] == "pw1"
    assert watched["timeout"] == "0" and watched["loglevel"] == "notice"
    # Only read at start-up: CONFIG GET of these would not tell what the file says.
    assert not {"databases", "dir", "supervised", "unixsocket"} & watched.keys()


def test_no_snapshots_are_watched_as_config_get_shows_them() -> None:
    assert conf.watched(render(replace(BASE, save=())))["save"] == ""
