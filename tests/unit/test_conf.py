"""redis.conf rendering and the plan that decides between CONFIG SET, restart and nothing."""

from __future__ import annotations

from dataclasses import replace

import pytest
import real_redis
import redis

from charms.layer.redis import conf, service, settings

from fakejuju import config_defaults

DEFAULTS = config_defaults()

BASE = settings.parse({**DEFAULTS, "password": "configured-pw1"})
REDIS_7 = (7, 0, 15)
REDIS_6 = (6, 0, 16)


def render(parsed: settings.Settings = BASE, password: str = "pw1", ingress: str = "10.1.2.3") -> str:
    return conf.render(parsed, password, ingress, service.APT_LAYOUT)


def test_rendering_holds_every_option_and_the_charms_own_settings() -> None:
    parsed = replace(BASE, port=6380, loglevel="warning", databases=4, timeout=30, tcp_keepalive=60)
    found = conf.directives(render(parsed))
    assert found["port"] == "6380"
    assert found["loglevel"] == "warning"
    assert found["databases"] == "4"
    assert found["timeout"] == "30"
    assert found["tcp-keepalive"] == "60"
    assert found["requirepass"] == found["masterauth"] == "pw1"
    assert found["bind"] == "10.1.2.3 127.0.0.1"
    assert found["protected-mode"] == "yes"
    assert found["supervised"] == "systemd"
    assert found["dir"] == "/var/lib/redis"
    assert found["unixsocket"] == "/run/redis/redis-server.sock"
    assert "cluster-enabled" not in found


def test_loopback_ingress_is_bound_alone() -> None:
    assert conf.directives(render(ingress="127.0.1.5"))["bind"] == "127.0.1.5"


def test_cluster_mode_adds_the_cluster_directives() -> None:
    found = conf.directives(render(replace(BASE, cluster_enabled=True), ingress="127.0.1.5"))
    assert found["cluster-enabled"] == "yes"
    assert found["cluster-config-file"] == "/var/lib/redis/nodes.conf"
    assert found["cluster-announce-ip"] == "127.0.1.5"
    assert found["cluster-allow-replica-migration"] == "no"
    assert found["masterauth"] == found["requirepass"]


def test_rendered_file_is_what_a_real_redis_server_runs_with(tmp_path_factory: pytest.TempPathFactory) -> None:
    options = {"log-level": "verbose", "databases": 3, "timeout": 7}
    with real_redis.running(tmp_path_factory, **options) as server:
        socket = str(server.layout.unixsocket)
        client = redis.Redis(unix_socket_path=socket, password=real_redis.PASSWORD, decode_responses=True)
        assert client.ping()
        assert client.config_get("port")["port"] == conf.directives(server.rendered)["port"]
        assert client.config_get("loglevel")["loglevel"] == "verbose"
        assert client.config_get("databases")["databases"] == "3"
        assert client.config_get("timeout")["timeout"] == "7"
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(unix_socket_path=socket, password="wrong-password").ping()
        client.close()


def test_nothing_changed_means_nothing_to_do() -> None:
    assert conf.plan(render(), render(), REDIS_7).unchanged


def test_runtime_options_go_live_without_restart() -> None:
    new = replace(BASE, loglevel="debug", timeout=10, tcp_keepalive=30)
    plan = conf.plan(render(), render(new), REDIS_7)
    assert plan == conf.Plan(live={"loglevel": "debug", "tcp-keepalive": "30", "timeout": "10"})


def test_password_change_sets_requirepass_and_masterauth_live() -> None:
    plan = conf.plan(render(), render(password="pw2"), REDIS_7)
    assert plan == conf.Plan(live={"masterauth": "pw2", "requirepass": "pw2"})


def test_port_is_live_on_redis_7_and_a_restart_before() -> None:
    new = render(replace(BASE, port=6390))
    assert conf.plan(render(), new, REDIS_7) == conf.Plan(live={"port": "6390"})
    assert conf.plan(render(), new, REDIS_6) == conf.Plan(restart=True)


def test_databases_needs_a_restart() -> None:
    assert conf.plan(render(), render(replace(BASE, databases=32)), REDIS_7) == conf.Plan(restart=True)


def test_a_file_the_charm_did_not_write_needs_a_restart() -> None:
    assert conf.plan(None, render(), REDIS_7) == conf.Plan(restart=True)


def test_version_parsing() -> None:
    assert conf.parse_version("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64") == (7, 0, 15)
    assert conf.parse_version("6.0.16") == (6, 0, 16)
    with pytest.raises(ValueError):
        conf.parse_version("no version here")
