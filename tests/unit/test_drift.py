"""What a related application or an operator changes on the running server is found and put back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import real_redis
import redis
from real_redis import PASSWORD, Server

from charms.layer.redis import admin, conf, settings, users, workload

from fakejuju import config_defaults


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with real_redis.running(tmp_path_factory) as started:
        yield started


def connect(server: Server, password: str = PASSWORD) -> redis.Redis:
    return admin.connect(server.layout.unixsocket, password)


def repair(server: Server) -> list[str]:
    return admin.repair_drift(server.layout.unixsocket, PASSWORD, conf.watched(server.rendered))


def test_a_server_as_rendered_needs_no_repair(server: Server) -> None:
    assert repair(server) == []


def test_an_open_default_user_is_closed_again(server: Server) -> None:
    connect(server).execute_command("ACL", "SETUSER", "default", "nopass")
    assert connect(server, "").ping()
    assert repair(server) == ["default user ACL"]
    with pytest.raises(redis.AuthenticationError):
        connect(server, "").ping()
    assert connect(server).ping()


def test_a_narrowed_default_user_gets_every_right_back(server: Server) -> None:
    connect(server).execute_command("ACL", "SETUSER", "default", "-set")
    assert repair(server) == ["default user ACL"]
    assert connect(server).set("key", "value")


def test_a_replica_of_somewhere_else_becomes_a_master_and_keeps_its_keys(server: Server) -> None:
    client = connect(server)
    client.set("kept", "yes")
    client.execute_command("REPLICAOF", "127.0.0.1", "9")  # a closed loopback port
    with pytest.raises(redis.ReadOnlyError):
        client.set("refused", "x")
    assert repair(server) == ["replication role (was a replica)"]
    assert client.info("replication")["role"] == "master"
    assert client.get("kept") == "yes"
    assert client.set("writable", "again")


def test_changed_settings_are_set_back_and_named_without_values(server: Server) -> None:
    client = connect(server)
    client.config_set("maxmemory", "1mb")
    client.config_set("save", "")
    client.config_set("appendonly", "yes")
    client.config_set("timeout", "5")
    assert sorted(repair(server)) == ["appendonly", "maxmemory", "save", "timeout"]
    found = {name: client.config_get(name)[name] for name in ("maxmemory", "save", "appendonly", "timeout")}
    assert found == {"maxmemory": "0", "save": "3600 1 300 100 60 10000", "appendonly": "no", "timeout": "0"}


def test_a_changed_password_is_reported_not_guessed(server: Server) -> None:
    connect(server).config_set("requirepass", "someone-elses-pw")
    with pytest.raises(admin.PasswordRefused, match="Redis refused the password the charm set"):
        repair(server)
    health = admin.health(server.layout.unixsocket, PASSWORD)
    assert not health.ok and health.problem.startswith("Redis refused the password the charm set (changed outside")


def test_a_stopped_server_is_named_within_the_timeout(server: Server) -> None:
    server.process.send_signal(signal.SIGSTOP)
    try:
        health = admin.health(server.layout.unixsocket, PASSWORD, timeout=0.3)
        assert not health.ok and health.problem == "Redis did not answer within 0.3 s"
        with pytest.raises(admin.Unreachable, match=r"did not answer within 0\.3 s"):
            admin.repair_drift(server.layout.unixsocket, PASSWORD, {}, timeout=0.3)
        with pytest.raises(admin.Unreachable, match=r"did not answer within 0\.3 s"):
            admin.make_durable(server.layout.unixsocket, PASSWORD, wait=1, timeout=0.3)
    finally:
        server.process.send_signal(signal.SIGCONT)


def test_the_check_every_hook_makes_does_not_import_redis_py(server: Server) -> None:
    # redis-py costs a hook about 80 ms to import; a hook with nothing to do must not pay it.
    script = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "import charms.layer\n"
        "charms.layer.__path__.append(sys.argv[4])  # as tests/conftest.py: the charm's part of charms.layer\n"
        "from charms.layer.redis import admin\n"
        "socket, password, expected = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])\n"
        "assert admin.health(socket, password).ok\n"
        "assert admin.repair_drift(socket, password, expected) == []\n"
        "print(sorted(name for name in sys.modules if name == 'redis' or name.startswith('redis.')))\n"
    )
    expected = json.dumps(conf.watched(server.rendered))
    ran = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(server.layout.unixsocket),
            PASSWORD,
            expected,
            str(Path(admin.__file__).parent.parent),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert ran.stdout.strip() == "[]"


def test_a_changed_requirepass_is_put_back_before_the_default_user_keeps_every_password(server: Server) -> None:
    # CONFIG SET requirepass leaves the default user that one password: the application's goes back after it.
    admin_login = admin.Login(admin.ADMIN_USER, "admin-pw")
    wanted = [
        admin.AclUser(admin.ADMIN_USER, (admin.password_hash("admin-pw"),), admin.DEFAULT_USER_RULES),
        admin.AclUser(
            "default", (admin.password_hash(PASSWORD), admin.password_hash("app-pw")), admin.DEFAULT_USER_RULES
        ),
    ]
    admin.sync_users(server.layout.unixsocket, PASSWORD, wanted)
    connect(server).config_set("requirepass", "drifted-pw")
    admin.repair_drift(server.layout.unixsocket, admin_login, {"requirepass": PASSWORD}, users=wanted)
    assert connect(server, "app-pw").ping() and connect(server).ping()


def test_an_application_user_deleted_outside_the_charm_is_put_back_by_the_next_check(server: Server) -> None:
    wanted = users.wanted(PASSWORD, {"app-web": "web-pw"}, tuple(users.DEFAULT_CLIENT_PERMISSIONS.split()))
    admin.sync_users(server.layout.unixsocket, PASSWORD, wanted)
    parsed = settings.parse({**config_defaults(), "port": int(conf.directives(server.rendered)["port"])})
    reference = conf.render(parsed, PASSWORD, "127.0.0.1", server.layout, users=wanted)
    connect(server).acl_deluser("app-web")
    desired = workload.Desired(parsed, PASSWORD, wanted)
    outcome = workload.watch(desired, server.layout, reference, "apt", timeout=5.0)
    assert outcome.ready and outcome.repaired == ("app-web user ACL",)
    assert admin.connect(server.layout.unixsocket, users.Login("app-web", "web-pw")).ping()
