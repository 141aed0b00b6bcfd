"""The Nagios plugin against a real redis-server, and the NRPE/export files it is registered with."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from charms.layer.redis import check_redis, monitoring

from conftest import free_port

PLUGIN = Path(check_redis.__file__)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[int]:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server not installed")
    port = free_port()
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--requirepass",
            "pw",
            "--dir",
            str(tmp_path),
            "--save",
            "",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            subprocess.run(["sleep", "0.05"], check=True)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def run_plugin(tmp_path: Path, host: str, port: int, password: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "check.json"
    config.write_text(json.dumps({"host": host, "port": port, "password": password}))
    return subprocess.run([sys.executable, str(PLUGIN), "--config", str(config)], capture_output=True, text=True)


def test_healthy_redis_is_ok(tmp_path: Path, redis_server: int) -> None:
    result = run_plugin(tmp_path, "127.0.0.1", redis_server, "pw")
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("REDIS OK: redis ") and "role=master" in result.stdout


def test_wrong_password_is_critical_and_not_echoed(tmp_path: Path, redis_server: int) -> None:
    result = run_plugin(tmp_path, "127.0.0.1", redis_server, "not-the-password")
    assert result.returncode == 2
    assert "not-the-password" not in result.stdout + result.stderr


def test_stopped_redis_is_critical(tmp_path: Path) -> None:
    result = run_plugin(tmp_path, "127.0.0.1", free_port(), "pw")
    assert result.returncode == 2
    assert "cannot reach Redis" in result.stdout


def test_unreadable_config_is_unknown(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(PLUGIN), "--config", str(tmp_path / "missing.json")], capture_output=True, text=True
    )
    assert result.returncode == 3


@pytest.mark.parametrize(
    ("used", "limit", "code"),
    [
        (100, 0, check_redis.OK),
        (79, 100, check_redis.OK),
        (85, 100, check_redis.WARNING),
        (95, 100, check_redis.CRITICAL),
    ],
)
def test_memory_against_maxmemory(used: int, limit: int, code: int) -> None:
    info = {"redis_version": "7.0.15", "role": "master", "used_memory": str(used), "maxmemory": str(limit)}
    assert check_redis.judge(info, 0.8, 0.9).code == code


def test_nrpe_command_and_nagios_export_use_context_and_servicegroups() -> None:
    check = monitoring.make_check("prod", "", "redis/3")
    assert check.nagios_host == "prod-redis-3"
    assert check.servicegroups == "prod"
    assert monitoring.nrpe_command(check).splitlines()[-1] == (
        f"command[check_redis]={monitoring.PLUGIN} --config {monitoring.PLUGIN_CONFIG}"
    )
    export = monitoring.nagios_service(monitoring.make_check("prod", "dbs,cache", "redis/3"))
    assert "host_name            prod-redis-3" in export
    assert "servicegroups        dbs,cache" in export
    assert "check_command        check_nrpe!check_redis" in export


def test_cluster_node_is_critical_until_every_slot_is_served(tmp_path: Path) -> None:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server not installed")
    from cluster_helpers import local_cluster

    from charms.layer.redis.cluster.plan import plan_formation

    with local_cluster(tmp_path / "nodes") as cluster:
        first = cluster.start(3)[0]
        lone = run_plugin(tmp_path, "127.0.0.1", first.port, cluster.password)
        assert lone.returncode == 2, lone.stdout
        assert "cluster_state=fail slots_ok=0/16384" in lone.stdout
        with cluster.executor() as executor:
            executor.form(plan_formation(list(cluster.endpoints), 0), cluster.endpoints)
        formed = run_plugin(tmp_path, "127.0.0.1", first.port, cluster.password)
        assert formed.returncode == 0, formed.stdout
        assert "cluster_state=ok slots_ok=16384/16384" in formed.stdout
