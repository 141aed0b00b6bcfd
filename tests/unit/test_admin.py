"""Talking to Redis as its administrator over the unix socket, against a real redis-server."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis as redis_py

from charms.layer.redis import admin, service

PASSWORD = "admin-test-pw"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Path]:
    """A redis-server listening only on a unix socket (no TCP), with PASSWORD; its socket."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server not installed")
    socket = tmp_path / "redis.sock"
    process = subprocess.Popen(
        ["redis-server", "--port", "0", "--unixsocket", str(socket), "--requirepass", PASSWORD, "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        assert service.wait_until(lambda: admin.health(socket, PASSWORD).ok, timeout=10, interval=0.02)
        yield socket
    finally:
        process.terminate()
        process.wait(10)


def config_get(socket: Path, name: str) -> str:
    client = redis_py.Redis(unix_socket_path=str(socket), password=PASSWORD, decode_responses=True)
    try:
        return client.config_get(name)[name]
    finally:
        client.close()


@contextlib.contextmanager
def scripted_redis(listening: Path, answer: Callable[[list[str]], bytes]) -> Iterator[list[list[str]]]:
    """A one-connection server on `listening` that answers each command with `answer(command)`, in RESP.

    For the replies a real redis-server here cannot give (an older version's wording, LOADING);
    yields the commands it received.
    """
    received: list[list[str]] = []
    with socket.socket(socket.AF_UNIX) as server_socket:
        server_socket.bind(str(listening))
        server_socket.listen(1)

        def serve() -> None:
            connection, _ = server_socket.accept()
            with connection, connection.makefile("rb") as stream:
                while header := stream.readline():
                    command = [stream.readline() and stream.readline()[:-2].decode() for _ in range(int(header[1:]))]
                    received.append(command)
                    connection.sendall(answer(command))

        threading.Thread(target=serve, daemon=True).start()
        yield received


def bulk(text: str) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(text.encode()), text.encode())


def test_health_of_a_server_that_answers(server: Path) -> None:
    health = admin.health(server, PASSWORD)
    assert health.ok and health.problem == ""
    assert admin.health.__module__ == admin.__name__
    assert tuple(int(part) for part in health.version.split(".")) >= (5, 0, 0)
    assert len(health.run_id) == 40


def test_health_with_the_wrong_password_says_so_without_the_password(server: Path) -> None:
    health = admin.health(server, "wrong-pw")
    assert (health.ok, health.version, health.run_id) == (False, "", "")
    assert health.problem == (
        "Redis refused the password the charm set (changed outside the charm? a restart restores it)"
    )
    assert "wrong-pw" not in health.problem


def test_health_without_a_password_on_a_server_that_needs_one_says_it_was_refused(server: Path) -> None:
    # No AUTH is sent: Redis answers the PING with NOAUTH.
    assert admin.health(server, "").problem == (
        "Redis refused the password the charm set (changed outside the charm? a restart restores it)"
    )


def test_health_of_a_redis_5_that_refuses_the_password_says_it_was_refused(tmp_path: Path) -> None:
    # Redis before 6 answers a wrong AUTH with "-ERR invalid password", not WRONGPASS.
    with scripted_redis(tmp_path / "redis5.sock", lambda command: b"-ERR invalid password\r\n"):
        assert admin.health(tmp_path / "redis5.sock", "wrong-pw").problem == (
            "Redis refused the password the charm set (changed outside the charm? a restart restores it)"
        )


def test_health_without_a_server_says_it_does_not_answer(tmp_path: Path) -> None:
    health = admin.health(tmp_path / "nothing.sock", PASSWORD)
    assert (health.ok, health.version, health.run_id) == (False, "", "")
    assert health.problem == "Redis does not accept connections (ConnectionError)"
    assert hash(health) == hash(admin.Health(False, "", "", health.problem))  # a value, usable as a key


def test_config_set_applies_every_change_with_the_password_it_is_given(server: Path) -> None:
    admin.config_set(server, PASSWORD, {"timeout": "30", "loglevel": "warning"})
    assert (config_get(server, "timeout"), config_get(server, "loglevel")) == ("30", "warning")


def test_config_set_with_the_wrong_password_cannot_reach_the_server(server: Path) -> None:
    with pytest.raises(admin.PasswordRefused) as refused:
        admin.config_set(server, "wrong-pw", {"timeout": "30"})
    assert str(refused.value) == (
        "Redis refused the password the charm set (changed outside the charm? a restart restores it)"
    )
    assert config_get(server, "timeout") == "0"


def test_a_server_that_never_answers_is_given_up_after_one_try(tmp_path: Path) -> None:
    # redis-py would otherwise connect again after a time-out: a hook would wait twice as long.
    listening = tmp_path / "silent.sock"
    accepted: list[socket.socket] = []
    with socket.socket(socket.AF_UNIX) as silent:
        silent.bind(str(listening))
        silent.listen(8)
        silent.settimeout(0.05)

        def accept_all() -> None:
            with contextlib.suppress(OSError):
                while True:
                    with contextlib.suppress(TimeoutError):
                        accepted.append(silent.accept()[0])

        threading.Thread(target=accept_all, daemon=True).start()
        with pytest.raises(admin.Unreachable, match=r"^Redis did not answer within 0.3 s$"):
            admin.config_set(listening, PASSWORD, {"timeout": "30"}, timeout=0.3)
    assert len(accepted) == 1
    for connection in accepted:
        connection.close()


def test_a_refused_value_names_the_directive_and_stops_there(server: Path) -> None:
    with pytest.raises(admin.Refused) as refused:
        admin.config_set(server, PASSWORD, {"loglevel": "loud-secret-value", "timeout": "30"})
    message = str(refused.value)
    # Only the part of Redis's error after " - ": what is allowed, not the value that was refused.
    assert message.startswith("loglevel: argument(s) must be one of the following: debug, verbose")
    assert "loud-secret-value" not in message
    assert config_get(server, "timeout") == "0"


def test_without_a_server_config_set_is_unreachable(tmp_path: Path) -> None:
    with pytest.raises(admin.Unreachable, match=r"^Redis does not accept connections \(ConnectionError\)$"):
        admin.config_set(tmp_path / "nothing.sock", PASSWORD, {"timeout": "30"})


def test_an_empty_password_connects_without_auth(server: Path) -> None:
    assert admin.connect(server, "").connection_pool.connection_kwargs["password"] is None
    kwargs = admin.connect(server, "pw", timeout=2.5).connection_pool.connection_kwargs
    assert (kwargs["password"], kwargs["socket_timeout"]) == ("pw", 2.5)
    assert kwargs["path"] == str(server) and kwargs["decode_responses"] is True
    assert admin.connect(server, "pw").connection_pool.connection_kwargs["socket_timeout"] == 5.0


def test_health_of_a_redis_still_loading_its_data_says_so(tmp_path: Path) -> None:
    def loading(command: list[str]) -> bytes:
        return b"-LOADING Redis is loading the dataset in memory\r\n"

    with scripted_redis(tmp_path / "loading.sock", loading):
        health = admin.health(tmp_path / "loading.sock", "")
    assert (health.ok, health.problem) == (False, "Redis answers LOADING")


def test_health_of_a_server_whose_info_names_no_version_shows_none(tmp_path: Path) -> None:
    def without_version(command: list[str]) -> bytes:
        return b"+PONG\r\n" if command == ["PING"] else bulk("# Server\r\nredis_mode:standalone\r\n")

    with scripted_redis(tmp_path / "anonymous.sock", without_version):
        health = admin.health(tmp_path / "anonymous.sock", "")
    assert (health.ok, health.version, health.run_id) == (True, "", "")


@pytest.mark.parametrize(
    "refusal",
    [
        "ERR AUTH <password> called without any password configured for the default user",
        "ERR Client sent AUTH, but no password is set",
    ],
)
def test_health_of_a_redis_without_any_password_is_ok(tmp_path: Path, refusal: str) -> None:
    # Redis 6 and 7, then older ones: AUTH to a server with no password is an error the charm may go on past.
    def open_server(command: list[str]) -> bytes:
        if command[0] == "AUTH":
            return b"-%s\r\n" % refusal.encode()
        return b"+PONG\r\n" if command == ["PING"] else bulk("# Server\r\nredis_version:7.0.15\r\n")

    with scripted_redis(tmp_path / "open.sock", open_server) as received:
        health = admin.health(tmp_path / "open.sock", PASSWORD)
    assert (health.ok, health.version, health.problem) == (True, "7.0.15", "")
    assert received[0] == ["AUTH", PASSWORD]


def test_health_of_a_real_redis_without_any_password_is_ok(tmp_path: Path) -> None:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server not installed")
    listening = tmp_path / "open.sock"
    process = subprocess.Popen(
        ["redis-server", "--port", "0", "--unixsocket", str(listening), "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        assert service.wait_until(lambda: admin.health(listening, "").ok, timeout=10, interval=0.02)
        assert admin.health(listening, PASSWORD).ok
    finally:
        process.terminate()
        process.wait(10)


def test_health_logs_in_to_a_redis_5_with_the_password_alone(tmp_path: Path) -> None:
    # Redis before 6 has no users: AUTH takes the password alone, and two arguments are an error.
    def redis_5(command: list[str]) -> bytes:
        if command[0] == "AUTH":
            return b"+OK\r\n" if len(command) == 2 else b"-ERR wrong number of arguments for 'auth' command\r\n"
        return b"+PONG\r\n" if command == ["PING"] else bulk("# Server\r\nredis_version:5.0.7\r\n")

    with scripted_redis(tmp_path / "redis5.sock", redis_5) as received:
        health = admin.health(tmp_path / "redis5.sock", admin.Login("default", PASSWORD))
    assert (health.ok, health.version) == (True, "5.0.7")
    assert received[0] == ["AUTH", PASSWORD]


def array(*items: bytes) -> bytes:
    return b"*%d\r\n%s" % (len(items), b"".join(items))


def test_a_cluster_replica_is_left_a_replica(tmp_path: Path) -> None:
    # Its role is the cluster's business: REPLICAOF NO ONE would make two masters of one slot range.
    def cluster_replica(command: list[str]) -> bytes:
        if command == ["INFO", "cluster"]:
            return bulk("# Cluster\r\ncluster_enabled:1\r\n")
        if command == ["INFO", "replication"]:
            return bulk("# Replication\r\nrole:slave\r\n")
        if command[:2] == ["ACL", "GETUSER"]:
            fields = [bulk("flags"), array(bulk("on")), bulk("passwords"), array(bulk(admin.password_hash("")))]
            rules = zip(("keys", "channels", "commands"), admin.DEFAULT_USER_RULES, strict=True)
            return array(*fields, *(bulk(part) for pair in rules for part in pair))
        return b"-ERR unexpected\r\n"

    with scripted_redis(tmp_path / "replica.sock", cluster_replica) as received:
        assert admin.repair_drift(tmp_path / "replica.sock", "", {}) == []
    assert ["REPLICAOF", "NO", "ONE"] not in received


def test_a_new_password_redis_refuses_is_named_by_its_error_code_alone(tmp_path: Path) -> None:
    def without_config_rights(command: list[str]) -> bytes:
        if command[0] == "CONFIG":
            return b"-NOPERM this user has no permissions to run the 'config|set' command\r\n"
        return b"+OK\r\n"

    default = admin.AclUser("default", (admin.password_hash("new-pw"),), admin.DEFAULT_USER_RULES)
    with scripted_redis(tmp_path / "narrow.sock", without_config_rights), pytest.raises(admin.Refused) as refused:
        admin.set_password_with_users(tmp_path / "narrow.sock", "", "new-pw", default)
    assert str(refused.value) == "password: NOPERM"


def persistence_reply(**fields: str) -> bytes:
    return bulk("# Persistence\r\n" + "".join(f"{name}:{value}\r\n" for name, value in fields.items()))


def test_a_snapshot_that_ends_in_the_same_second_as_the_last_one_while_clients_write_is_enough(
    tmp_path: Path,
) -> None:
    # Redis counts the time of a save in whole seconds: a snapshot taken right after another (one
    # Redis took on its own, just waited for) ends at the same second, and the writes clients made
    # while it ran are not in it. It was taken all the same: the restart may go on.
    snapshots = []

    def busy_redis(command: list[str]) -> bytes:
        if command[0] == "BGSAVE":
            snapshots.append("taken")
            return b"+Background saving started\r\n"
        if command == ["INFO", "persistence"]:
            changes = "3" if snapshots else "12"  # clients wrote while the snapshot ran
            return persistence_reply(
                rdb_bgsave_in_progress="0",
                rdb_last_save_time="1700000000",
                rdb_last_bgsave_status="ok",
                rdb_changes_since_last_save=changes,
            )
        if command[:2] == ["CONFIG", "GET"]:
            return b"%1\r\n" + bulk("save") + bulk("3600 1")  # a RESP3 map: redis-py says HELLO 3
        return b"+OK\r\n"

    with scripted_redis(tmp_path / "busy.sock", busy_redis):
        admin.make_durable(tmp_path / "busy.sock", PASSWORD, wait=1)
    assert snapshots == ["taken"]
