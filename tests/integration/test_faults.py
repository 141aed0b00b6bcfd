"""Faults an operator, a related application or bad luck inflict, on the local model.

One test per way the charm could lose keys or hide a fault. Each writes keys
first and counts them afterwards: nothing the charm does may lose one. Tests run
in file order on one Redis unit and leave it active; the full-disk test comes
last because its tmpfs stays mounted (Redis keeps working in it).
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator

import jubilant
import pytest
import redis
from helpers import (
    APP,
    CHARM,
    client,
    count_keys,
    ensure_built,
    in_unit,
    leader,
    password,
    run_hook,
    run_id,
    unit_log,
    unit_status_is,
    wait_active,
    wait_applied,
    wait_idle,
    workload,
    write_keys,
)

from conftest import throwaway_model

pytestmark = pytest.mark.integration

KEYS = 5000


@pytest.fixture(scope="module")
def juju() -> Iterator[jubilant.Juju]:
    ensure_built()
    with throwaway_model("faults", wait_timeout=180) as juju:
        juju.deploy(CHARM, APP)
        wait_active(juju)
        yield juju


@pytest.fixture
def unit(juju: jubilant.Juju) -> str:
    return leader(juju)


@pytest.fixture
def keys(juju: jubilant.Juju, unit: str, request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    """KEYS keys written before the test; after it, every one must still be there."""
    prefix = request.node.name.split("[")[0]
    written = write_keys(client(juju, unit), prefix, KEYS)
    assert written == KEYS
    yield prefix, written
    wait_active(juju)
    assert count_keys(client(juju, unit), prefix) == written


# 2. Drift: what a related application holding the password can do to the server.


def test_drift_is_repaired_and_said(juju: jubilant.Juju, unit: str, keys: tuple[str, int]) -> None:
    conn = client(juju, unit)
    conn.execute_command("ACL", "SETUSER", "default", "nopass")
    conn.execute_command("REPLICAOF", "127.0.0.1", "9")  # a closed loopback port
    conn.config_set("maxmemory-policy", "allkeys-random")
    conn.config_set("loglevel", "warning")
    assert client(juju, unit, auth="").ping()  # anyone gets in
    run_hook(juju, unit)
    status = workload(juju, unit)
    assert status.current == "active"
    assert status.message.endswith(
        "repaired: replication role (was a replica), default user ACL, loglevel, maxmemory-policy"
    )
    assert "Repaired what was changed outside the charm: replication role" in unit_log(juju, unit)
    with pytest.raises(redis.AuthenticationError):
        client(juju, unit, auth="").ping()
    conn = client(juju, unit)
    assert conn.info("replication")["role"] == "master"
    assert conn.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    assert conn.set("writable-again", "yes")
    assert password(juju) not in unit_log(juju, unit)


def test_a_password_changed_outside_the_charm_is_put_back(
    juju: jubilant.Juju, unit: str, keys: tuple[str, int]
) -> None:
    other = "changed-outside-" + secrets.token_hex(4)
    client(juju, unit).config_set("requirepass", other)  # the charm's admin user is not the default user
    run_hook(juju, unit)
    status = workload(juju, unit)
    assert status.current == "active"
    assert status.message.endswith("repaired: requirepass")
    with pytest.raises(redis.AuthenticationError):
        client(juju, unit, auth=other).ping()
    assert client(juju, unit, auth=password(juju)).ping()


# 3. Status tells the truth until the configuration asked for is in effect.


def test_update_status_keeps_a_refused_port_blocked(juju: jubilant.Juju, unit: str, keys: tuple[str, int]) -> None:
    address = juju.status().apps[APP].units[unit].public_address
    with socket.socket() as squatter:
        squatter.bind((address, 6402))
        squatter.listen()
        juju.config(APP, {"port": 6402})
        try:
            wait_idle(juju, unit_status_is(unit, "blocked", "Redis refused port"))
            run_hook(juju, unit)
            status = workload(juju, unit)
            assert status.current == "blocked"
            assert status.message.startswith("Redis refused port: ")
        finally:
            juju.config(APP, reset=["port"])


# 4. Nagios names.


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("nagios_servicegroups", "web}\ndefine service {"),
        ("nagios_servicegroups", "a;b"),
        ("nagios_servicegroups", "$(reboot)"),
        ("nagios_servicegroups", "   "),
        ("nagios_context", "`id`"),
        ("nagios_context", ""),
    ],
)
def test_bad_nagios_names_are_refused(
    juju: jubilant.Juju, unit: str, keys: tuple[str, int], option: str, value: str
) -> None:
    before = run_id(client(juju, unit))
    juju.config(APP, {option: value})
    try:
        wait_idle(juju, unit_status_is(unit, "blocked", f"invalid {option}: "))
        assert run_id(client(juju, unit)) == before
    finally:
        juju.config(APP, reset=[option])


# 5. File modes.


def test_file_modes_and_owners_are_restored(juju: jubilant.Juju, unit: str, keys: tuple[str, int]) -> None:
    paths = "/etc/redis /etc/redis/redis.conf /var/lib/redis"
    expected = in_unit(juju, unit, f"stat -c '%a %U:%G' {paths}")
    assert expected.split("\n")[:3] == ["2770 redis:redis", "640 root:redis", "750 redis:redis"]
    in_unit(juju, unit, "chmod 644 /etc/redis/redis.conf && chown root:root /etc/redis && chmod 755 /etc/redis")
    run_hook(juju, unit)
    assert in_unit(juju, unit, f"stat -c '%a %U:%G' {paths}") == expected
    in_unit(juju, unit, "chmod 600 /etc/redis/redis.conf && chown root:root /etc/redis/redis.conf")
    run_hook(juju, unit)
    assert in_unit(juju, unit, f"stat -c '%a %U:%G' {paths}") == expected
    assert "repaired: /etc/redis/redis.conf was 600" in workload(juju, unit).message


# 6. A hung Redis.


def test_a_stopped_redis_is_named_not_waited_on(juju: jubilant.Juju, unit: str, keys: tuple[str, int]) -> None:
    in_unit(juju, unit, "kill -STOP $(cat /run/redis/redis-server.pid)")
    try:
        run_hook(juju, unit)
        status = workload(juju, unit)
        assert status.current == "blocked"
        assert status.message == "Redis is running: Redis did not answer within 2 s"
    finally:
        in_unit(juju, unit, "kill -CONT $(cat /run/redis/redis-server.pid)")
    run_hook(juju, unit)


# 7. Persistence and memory options.


def test_persistence_options_apply_live_and_aof_keeps_every_key(
    juju: jubilant.Juju, unit: str, keys: tuple[str, int]
) -> None:
    conn = client(juju, unit)
    before = run_id(conn)
    options = {
        "appendonly": True,
        "appendfsync": "always",
        "save": "",
        "maxmemory": "512mb",
        "maxmemory-policy": "allkeys-lru",
    }
    juju.config(APP, options)
    wait_applied(juju, unit, "appendonly", "yes")
    conn = client(juju, unit)
    assert run_id(conn) == before
    found = {name: conn.config_get(name)[name] for name in ("appendonly", "appendfsync", "save", "maxmemory")}
    assert found == {"appendonly": "yes", "appendfsync": "always", "save": "", "maxmemory": str(512 * 1024**2)}
    assert conn.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
    assert in_unit(juju, unit, "grep -E '^(appendonly|maxmemory) ' /etc/redis/redis.conf").split() == [
        "appendonly",
        "yes",
        "maxmemory",
        str(512 * 1024**2),
    ]
    # With snapshots off, only the append-only file can bring the keys back after a restart.
    prefix, written = keys
    in_unit(juju, unit, "systemctl restart redis-server")
    wait_idle(juju)
    assert count_keys(client(juju, unit), prefix) == written
    juju.config(APP, reset=list(options))
    wait_applied(juju, unit, "appendonly", "no")


def test_maxmemory_above_the_machines_memory_is_refused(juju: jubilant.Juju, unit: str, keys: tuple[str, int]) -> None:
    juju.config(APP, {"maxmemory": "100000gb"})
    try:
        wait_idle(juju, unit_status_is(unit, "blocked", "invalid maxmemory: must not exceed this machine's memory"))
        assert client(juju, unit).config_get("maxmemory")["maxmemory"] == "0"
    finally:
        juju.config(APP, reset=["maxmemory"])


# 8. Weak passwords.


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("x", "must be at least 12 characters"),
        ("Short-pw-11", "must be at least 12 characters"),
        ("100000000000", "must not read as a JSON number, true, false or null"),
        ("1e1000000000", "must not read as a JSON number, true, false or null"),
    ],
)
def test_weak_passwords_are_refused(
    juju: jubilant.Juju, unit: str, keys: tuple[str, int], value: str, rule: str
) -> None:
    juju.config(APP, {"password": value})
    try:
        wait_idle(juju, unit_status_is(unit, "blocked", f"invalid password: {rule}"))
        assert value not in workload(juju, unit).message
        assert client(
            juju, unit, auth=juju.exec("secret-get $(leader-get password-secret) password", unit=unit).stdout.strip()
        ).ping()
    finally:
        juju.config(APP, reset=["password"])


# 1. A full disk: no restart may drop what Redis acknowledged.


def test_no_restart_while_redis_cannot_save(juju: jubilant.Juju, unit: str) -> None:
    # Redis works in a 1 MB tmpfs from now on (it resolves its dir when it starts).
    in_unit(
        juju,
        unit,
        "mount -t tmpfs -o size=1m,mode=750 tmpfs /var/lib/redis && chown redis:redis /var/lib/redis"
        " && systemctl restart redis-server",
    )
    wait_idle(juju)
    conn = client(juju, unit)
    written = write_keys(conn, "full-disk", 4000, size=1024)  # about 4 MB: no snapshot fits
    assert written == 4000
    conn.bgsave()
    wait_idle(juju, lambda status: conn.info("persistence")["rdb_last_bgsave_status"] == "err")
    with pytest.raises(redis.ResponseError, match="MISCONF"):
        conn.set("never-acknowledged", "x")
    before = run_id(conn)
    juju.config(APP, {"databases": 32})
    wait_idle(juju, unit_status_is(unit, "blocked", "databases needs a restart, refused: Redis cannot save"))
    assert run_id(client(juju, unit)) == before
    assert count_keys(client(juju, unit), "full-disk") == written
    run_hook(juju, unit)  # still full: still refused, nothing restarted
    assert workload(juju, unit).current == "blocked"
    assert run_id(client(juju, unit)) == before
    # Room again: the next hook saves, restarts once and every key is back.
    in_unit(juju, unit, "mount -o remount,size=64m /var/lib/redis")
    run_hook(juju, unit)
    wait_active(juju)
    conn = client(juju, unit)
    assert conn.config_get("databases")["databases"] == "32"
    assert run_id(conn) != before
    assert count_keys(conn, "full-disk") == written
    juju.config(APP, reset=["databases"])
    wait_applied(juju, unit, "databases", "16")
    assert count_keys(client(juju, unit), "full-disk") == written
