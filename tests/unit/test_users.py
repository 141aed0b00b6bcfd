"""ACL users: what the charm wants Redis to have, the option that sets client rights, and Redis applying them."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_py
from real_redis import PASSWORD, running, start

from charms.layer.redis import admin, conf, service, settings, users
from charms.layer.redis.users import AclUser

from test_settings import DEFAULTS

RULES = tuple(users.DEFAULT_CLIENT_PERMISSIONS.split())


def test_the_default_user_takes_its_own_password_and_each_applications() -> None:
    wanted = users.wanted("default-pw", {"app-web": "web-pw", "app-api": "api-pw"}, RULES)
    assert [user.name for user in wanted] == ["default", "app-api", "app-web"]
    default = wanted[0]
    assert default.password_hashes == tuple(users.password_hash(p) for p in ("default-pw", "api-pw", "web-pw"))
    assert default.rules == ("~*", "&*", "+@all")
    assert wanted[2] == AclUser("app-web", (users.password_hash("web-pw"),), RULES)


def test_a_user_never_holds_or_renders_a_plaintext_password() -> None:
    user = users.wanted("default-pw", {"app-web": "web-pw"}, RULES)[1]
    assert "web-pw" not in repr(user) and "web-pw" not in user.config_line()
    line = f"user app-web reset on #{users.password_hash('web-pw')} {users.DEFAULT_CLIENT_PERMISSIONS}"
    assert user.config_line() == line
    assert user.modifiers()[:2] == ("reset", "on")


@pytest.mark.parametrize(
    "rules",
    ["~* +@all >extra-password", "~* +@all nopass", "~* +@all off", "reset ~* +@all", "(~x +get)", "", "~* #abc"],
)
def test_client_permissions_that_touch_passwords_or_the_users_state_are_refused(rules: str) -> None:
    with pytest.raises(settings.InvalidOption) as refused:
        settings.parse({**DEFAULTS, "client-permissions": rules})
    assert str(refused.value).startswith("invalid client-permissions: must be ACL rules")


def test_client_permissions_default_and_a_custom_rule_set() -> None:
    assert settings.parse(DEFAULTS).client_permissions == RULES
    custom = settings.parse({**DEFAULTS, "client-permissions": "~cache:* +get +set"})
    assert custom.client_permissions == ("~cache:*", "+get", "+set")


def test_users_alone_changing_is_applied_live_without_restart() -> None:
    parsed = settings.parse({**DEFAULTS, "password": "configured-pw1"})
    before = conf.render(parsed, "pw1", "127.1.2.3", service.APT_LAYOUT, users=users.wanted("pw1", {}, RULES))
    after = conf.render(
        parsed, "pw1", "127.1.2.3", service.APT_LAYOUT, users=users.wanted("pw1", {"app-a": "a-pw"}, RULES)
    )
    plan = conf.plan(before, after, (7, 0, 15))
    assert plan.users and not plan.restart and not plan.live and not plan.unchanged
    assert conf.plan(after, after, (7, 0, 15)).unchanged
    assert "a-pw" not in after


def client(socket: Path, password: str, username: str | None = None) -> redis_py.Redis:
    return redis_py.Redis(unix_socket_path=str(socket), username=username, password=password, decode_responses=True)


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The admin socket of a real redis-server started from the charm's redis.conf."""
    with running(tmp_path_factory) as started:
        yield started.layout.unixsocket


@pytest.fixture
def admin_client(server: Path) -> Iterator[redis_py.Redis]:
    connection = client(server, PASSWORD)
    yield connection
    connection.close()


def test_sync_creates_the_users_and_a_second_sync_changes_nothing(server: Path, admin_client) -> None:
    wanted = users.wanted(PASSWORD, {"app-web": "web-password-1"}, RULES)
    assert admin.sync_users(server, PASSWORD, wanted) == ["default user ACL", "app-web user ACL"]
    assert admin.sync_users(server, PASSWORD, wanted) == []
    assert client(server, "web-password-1", "app-web").set("k", "v")
    assert client(server, "web-password-1").ping()  # a password-only client is the default user
    with pytest.raises(redis_py.exceptions.NoPermissionError):
        client(server, "web-password-1", "app-web").config_set("maxmemory", "1")
    assert "charm-rules-check" not in admin_client.acl_users()


def test_rules_redis_does_not_know_are_refused_naming_the_option_and_nothing_changes(server: Path, admin_client):
    wanted = users.wanted(PASSWORD, {"app-web": "web-password-1"}, ("~*", "+@nosuchcategory"))
    with pytest.raises(admin.Refused) as refused:
        admin.check_users(server, PASSWORD, wanted)
    assert str(refused.value).startswith("client-permissions: ")
    assert sorted(admin_client.acl_users()) == ["default"]


def test_a_user_changed_outside_the_charm_is_put_back(server: Path, admin_client) -> None:
    wanted = users.wanted(PASSWORD, {"app-web": "web-password-1"}, RULES)
    admin.sync_users(server, PASSWORD, wanted)
    admin_client.execute_command("ACL", "SETUSER", "app-web", "+@all")
    assert admin.sync_users(server, PASSWORD, wanted) == ["app-web user ACL"]
    with pytest.raises(redis_py.exceptions.NoPermissionError):
        client(server, "web-password-1", "app-web").execute_command("ACL", "LIST")


def test_a_removed_application_loses_its_user_password_and_connections(server: Path, admin_client) -> None:
    admin.sync_users(server, PASSWORD, users.wanted(PASSWORD, {"app-web": "web-pw-1", "app-api": "api-pw-1"}, RULES))
    by_user = client(server, "web-pw-1", "app-web")
    by_password = client(server, "web-pw-1")
    assert by_user.ping() and by_password.ping()
    changed = admin.sync_users(server, PASSWORD, users.wanted(PASSWORD, {"app-api": "api-pw-1"}, RULES))
    assert "app-web user removed" in changed
    for connection in (by_user, by_password):
        connection.connection_pool.connection_kwargs["retry_on_timeout"] = False
        with pytest.raises((redis_py.exceptions.ConnectionError, redis_py.exceptions.AuthenticationError)):
            connection.ping()  # its connection was closed, and reconnecting is refused
    assert client(server, "api-pw-1", "app-api").ping()
    assert admin_client.ping()  # the administrator's password still works


def test_users_rendered_into_redis_conf_are_there_after_a_restart(tmp_path: Path) -> None:
    wanted = users.wanted(PASSWORD, {"app-web": "web-password-1"}, RULES)
    first = start(tmp_path)
    try:
        rendered = conf.render(settings.parse(DEFAULTS), PASSWORD, "127.0.0.1", first.layout, users=wanted)
        rendered = rendered.replace(
            f"port {conf.directives(rendered)['port']}", f"port {conf.directives(first.rendered)['port']}"
        )
        first.layout.conf.write_text(rendered)
    finally:
        first.process.terminate()
        first.process.wait(10)
    process = subprocess.Popen(["redis-server", str(first.layout.conf), "--supervised", "no"])
    try:
        assert service.wait_until(lambda: admin.health(first.layout.unixsocket, PASSWORD, 1.0).ok, timeout=10)
        assert client(first.layout.unixsocket, "web-password-1", "app-web").ping()
        assert client(first.layout.unixsocket, "web-password-1").ping()
        assert admin.sync_users(first.layout.unixsocket, PASSWORD, wanted) == []
    finally:
        process.terminate()
        process.wait(10)


def test_a_new_default_password_and_the_old_one_are_set_in_one_step(server: Path, admin_client) -> None:
    new = "new-default-password-1"
    wanted = users.wanted(new, {"app-web": "web-password-1"}, RULES, old_default=(PASSWORD,))
    admin.set_password_with_users(server, PASSWORD, new, wanted[0])
    assert admin_client.config_get("requirepass") == {"requirepass": new}
    for password in (new, PASSWORD, "web-password-1"):
        assert client(server, password).ping()
