"""Each related application has its own Redis user and password, published on its relation only.

Two applications of the raw-reading client charm (tests/charms/redis-client) relate to a
two-unit Redis. Each gets its own credential, which works both as a password alone (the
default user, as every existing consumer authenticates) and with its username (the
application's user, with client-permissions' rights). Removing a relation revokes the
credential on every unit and closes the connections made with it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import jubilant
import pytest
import redis
from helpers import (
    ADMIN_USER,
    APP,
    MONITORING_USER,
    REPLICATION_USER,
    as_user,
    ensure_built,
    password,
    refused,
    relation_data,
    units,
    wait_active,
    wait_idle,
    world_readable_files_holding,
)

from conftest import CHARMS, model_dir, throwaway_model

pytestmark = pytest.mark.integration

WEB, WORKER = "web", "worker"


@pytest.fixture(scope="module")
def juju() -> Iterator[jubilant.Juju]:
    ensure_built()
    from helpers import CHARM

    with throwaway_model("acl", wait_timeout=240) as juju:
        juju.deploy(CHARM, APP, num_units=2)
        for name in (WEB, WORKER):
            juju.deploy(CHARMS / "redis-client", name)
            juju.integrate(APP, name)
        wait_idle(juju, lambda status: jubilant.all_active(status))
        yield juju


def secret_content(juju: jubilant.Juju) -> dict[str, str]:
    return json.loads(juju.exec("secret-get $(leader-get password-secret) --format json", unit=f"{APP}/0").stdout)


def credential(juju: jubilant.Juju, app: str) -> tuple[str, str]:
    """The username and password `app` received, the same from every Redis unit."""
    published = {(data["username"], data["password"]) for data in relation_data(juju, f"{app}/0").values()}
    assert len(published) == 1, published
    return published.pop()


def test_each_application_receives_its_own_credential_from_every_unit(juju: jubilant.Juju) -> None:
    (web_user, web_password), (worker_user, worker_password) = credential(juju, WEB), credential(juju, WORKER)
    assert (web_user, worker_user) == ("app-web", "app-worker")
    assert web_password != worker_password
    assert web_password not in repr(relation_data(juju, f"{WORKER}/0"))
    for app in (WEB, WORKER):
        assert juju.status().apps[app].units[f"{app}/0"].workload_status.message.startswith("connected to ")


def test_the_credential_works_with_the_password_alone_and_with_the_username(juju: jubilant.Juju) -> None:
    username, password = credential(juju, WEB)
    for unit in units(juju):
        assert as_user(juju, unit, password).set("acl:password-only", "1")
        assert as_user(juju, unit, password, username).get("acl:password-only") == "1"


def test_an_application_cannot_use_another_applications_credential(juju: jubilant.Juju) -> None:
    _, web_password = credential(juju, WEB)
    worker_user, _ = credential(juju, WORKER)
    with pytest.raises(redis.AuthenticationError):
        as_user(juju, f"{APP}/0", web_password, worker_user).ping()


@pytest.mark.parametrize(
    "command",
    [("CONFIG", "SET", "maxmemory", "1"), ("ACL", "LIST"), ("SHUTDOWN",), ("REPLICAOF", "127.0.0.1", "1")],
)
def test_an_applications_user_cannot_administer_redis(juju: jubilant.Juju, command: tuple[str, ...]) -> None:
    username, password = credential(juju, WEB)
    with pytest.raises(redis.exceptions.NoPermissionError):
        as_user(juju, f"{APP}/0", password, username).execute_command(*command)


def test_client_permissions_that_redis_refuses_block_naming_the_option(juju: jubilant.Juju) -> None:
    username, password = credential(juju, WEB)
    juju.config(APP, {"client-permissions": "~* +@all -@nosuchcategory"})
    try:
        wait_idle(juju, lambda status: jubilant.all_blocked(status, APP))
        for unit in units(juju).values():
            assert "client-permissions" in unit.workload_status.message
        assert as_user(juju, f"{APP}/0", password, username).set("acl:still-serving", "1")
    finally:
        juju.config(APP, reset=["client-permissions"])
    wait_active(juju)


def test_narrower_client_permissions_apply_live(juju: jubilant.Juju) -> None:
    username, password = credential(juju, WEB)
    juju.config(APP, {"client-permissions": "~acl:* +get +ping"})
    try:
        wait_idle(
            juju,
            lambda status: (
                jubilant.all_active(status, APP)
                and all(refused_set(as_user(juju, unit, password, username)) for unit in status.apps[APP].units)
            ),
        )
        assert as_user(juju, f"{APP}/1", password, username).get("acl:password-only") == "1"
    finally:
        juju.config(APP, reset=["client-permissions"])
    wait_active(juju)


def refused_set(connection: redis.Redis) -> bool:
    try:
        connection.set("acl:narrow", "1")
    except redis.exceptions.NoPermissionError:
        return True
    return False


def test_get_admin_password_gives_the_admin_users_password_in_the_results_only(juju: jubilant.Juju) -> None:
    task = juju.run(f"{APP}/0", "get-admin-password")
    given = task.stdout.strip()
    assert task.results["username"] == ADMIN_USER
    assert given != password(juju)
    admin = as_user(juju, f"{APP}/1", given, ADMIN_USER)
    assert admin.config_get("maxmemory") and admin.acl_whoami() == ADMIN_USER  # every right
    with pytest.raises(redis.AuthenticationError):
        as_user(juju, f"{APP}/1", given).ping()  # not the default user's password
    logs = "".join(log.read_text() for log in (model_dir(juju) / "logs").glob("*.log"))
    assert given not in logs
    assert given not in repr(relation_data(juju, f"{WEB}/0")) + repr(relation_data(juju, f"{WORKER}/0"))


@pytest.mark.parametrize(
    "command",
    [
        ("CONFIG", "SET", "maxmemory", "1"),
        ("ACL", "LIST"),
        ("SHUTDOWN",),
        ("REPLICAOF", "127.0.0.1", "1"),
        ("FLUSHALL",),
    ],
)
def test_a_password_only_client_cannot_administer_redis_but_reads_and_writes(
    juju: jubilant.Juju, command: tuple[str, ...]
) -> None:
    default = as_user(juju, f"{APP}/0", password(juju))
    with pytest.raises(redis.exceptions.NoPermissionError):
        default.execute_command(*command)
    assert default.set("acl:default-user", "1") and default.get("acl:default-user") == "1"
    assert default.info("server")["redis_version"]


def test_the_charms_own_users_have_only_their_rights(juju: jubilant.Juju) -> None:
    content = secret_content(juju)
    replication = as_user(juju, f"{APP}/0", content[REPLICATION_USER], REPLICATION_USER)
    monitoring = as_user(juju, f"{APP}/0", content[MONITORING_USER], MONITORING_USER)
    assert replication.ping() and monitoring.ping()
    assert monitoring.info("keyspace") is not None
    for user in (replication, monitoring):
        for command in (("GET", "acl:default-user"), ("CONFIG", "GET", "requirepass"), ("ACL", "LIST")):
            with pytest.raises(redis.exceptions.NoPermissionError):
                user.execute_command(*command)


def test_no_password_in_logs_status_world_readable_files_arguments_or_environments(juju: jubilant.Juju) -> None:
    content = secret_content(juju)
    charm_users = [content[name] for name in (ADMIN_USER, REPLICATION_USER, MONITORING_USER)]
    passwords = [credential(juju, app)[1] for app in (WEB, WORKER)] + [password(juju), *charm_users]
    logs = "".join(log.read_text() for log in (model_dir(juju) / "logs").glob("*.log"))
    status = str(juju.status())
    for secret in passwords:
        assert secret not in logs and secret not in status
    for name in units(juju):
        written = model_dir(juju) / "units" / name.replace("/", "-") / "upper"
        assert written.is_dir()
        for secret in passwords:
            assert world_readable_files_holding(written, secret.encode()) == [], name
        # The unit reads the passwords itself: a command line holding them would be found.
        found = juju.exec(
            "f=$(mktemp); secret-get $(leader-get password-secret) --format json | python3 -c "
            "'import json, sys; d = json.load(sys.stdin); "
            'live = {v for k, v in d.items() if k != "revision" and v and not k.startswith("old-")}; '
            "print(*sorted(live), sep=chr(10))'"
            " > $f; wc -l < $f; grep -lsF -f $f /proc/[0-9]*/cmdline /proc/[0-9]*/environ | wc -l; rm -f $f",
            unit=name,
        ).stdout.split()
        assert found == ["6", "0"], name


def test_a_removed_relation_revokes_the_credential_and_closes_its_connections(juju: jubilant.Juju) -> None:
    username, password = credential(juju, WORKER)
    open_connections = []
    for unit in units(juju):
        for name in (None, username):
            connection = as_user(juju, unit, password, name)
            assert connection.ping()
            open_connections.append(connection)
    juju.remove_relation(APP, WORKER)
    wait_idle(juju, lambda status: all(refused(as_user(juju, u, password)) for u in status.apps[APP].units))
    for unit in units(juju):
        assert refused(as_user(juju, unit, password, username))
    assert all(refused(connection) for connection in open_connections)
    # The other application keeps its credential.
    web_user, web_password = credential(juju, WEB)
    assert all(as_user(juju, unit, web_password, web_user).ping() for unit in units(juju))
