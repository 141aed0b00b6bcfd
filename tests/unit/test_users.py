"""ACL users: what the charm wants Redis to have, the option that sets client rights, and Redis applying them."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import real_redis
import redis as redis_py
from fake_machine import FakeMachine
from real_redis import PASSWORD, running, start

from charms.layer.redis import admin, conf, resp, service, settings, users, workload
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


def test_a_long_rule_redis_does_not_know_is_named_in_a_refusal_cut_short(server: Path) -> None:
    rule = "+@" + "k" * 200
    wanted = users.wanted(PASSWORD, {"app-web": "web-password-1"}, ("~*", rule))
    with pytest.raises(admin.Refused) as refused:
        admin.check_users(server, PASSWORD, wanted)
    redis_says = f"ERR Error in ACL SETUSER modifier '{rule}': Unknown command or category name in ACL"
    assert str(refused.value) == f"client-permissions: {redis_says[:160]}"


class ProbedConnection:
    """A connection that, after each command it sends, tries to log in as the user rules are checked on."""

    def __init__(self, socket: Path, password: str) -> None:
        self.connection = resp.Connection(socket, 5.0)
        self.connection.command("AUTH", PASSWORD)
        self.socket, self.password = socket, password
        self.logins: list[bool] = []

    def command(self, *args: str) -> object:
        reply = self.connection.command(*args)
        probe = resp.Connection(self.socket, 5.0)
        try:
            probe.command("AUTH", admin.SCRATCH_USER, self.password)
            self.logins.append(True)
        except resp.RedisReplyError:
            self.logins.append(False)
        finally:
            probe.close()
        return reply


def test_no_one_logs_in_with_an_applications_password_while_its_rules_are_checked(server: Path) -> None:
    web = users.wanted(PASSWORD, {"app-web": "web-password-1"}, RULES)[1]
    connection = ProbedConnection(server, "web-password-1")
    try:
        line = admin.normalised(connection, web)
    finally:
        connection.connection.close()
    assert line.startswith("user app-web on ") and f"#{web.password_hashes[0]}" in line.split()
    assert len(connection.logins) == 3 and not any(connection.logins)  # made, listed, deleted


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


def test_a_departed_application_removed_with_a_user_made_by_hand_still_loses_its_password_connections(
    server: Path, admin_client
) -> None:
    admin.sync_users(server, PASSWORD, users.wanted(PASSWORD, {"app-web": "web-pw-1"}, RULES))
    admin_client.acl_setuser("app-zz", enabled=True, passwords=["+zz-pw-1"], commands=["+get"])
    by_password = client(server, "web-pw-1")
    assert by_password.ping()
    changed = admin.sync_users(server, PASSWORD, users.wanted(PASSWORD, {}, RULES))
    assert changed == ["default user ACL", "app-web user removed", "app-zz user removed"]
    by_password.connection_pool.connection_kwargs["retry_on_timeout"] = False
    with pytest.raises((redis_py.exceptions.ConnectionError, redis_py.exceptions.AuthenticationError)):
        by_password.ping()  # its connection was closed, and reconnecting is refused
    assert admin_client.ping()


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


# The charm's own users: charm-admin, charm-replication, charm-monitoring.

CHARM = {
    users.ADMIN_USER: ("admin-password-1", "admin-password-0"),
    users.REPLICATION_USER: ("replication-password-1",),
    users.MONITORING_USER: ("monitoring-password-1",),
}


def test_a_default_user_redis_refuses_inside_the_password_transaction_is_named_by_its_error_code(
    server: Path,
) -> None:
    default = AclUser("default", (users.password_hash("new-default-password-1"),), ("~*", "+@nosuchcategory"))
    with pytest.raises(admin.Refused) as refused:
        admin.set_password_with_users(server, PASSWORD, "new-default-password-1", default)
    assert str(refused.value) == "password: ERR"


def test_with_the_admin_user_the_default_user_has_only_the_client_rules() -> None:
    wanted = users.wanted("default-pw", {"app-web": "web-pw"}, RULES, charm=CHARM)
    assert [user.name for user in wanted] == ["default", "app-web", *users.CHARM_USERS]
    assert wanted[0].rules == RULES
    admin_user = wanted[2]
    assert admin_user.rules == ("~*", "&*", "+@all")
    assert admin_user.password_hashes == tuple(users.password_hash(p) for p in CHARM[users.ADMIN_USER])
    assert users.password_hash("admin-password-1") not in wanted[0].password_hashes  # not the default user's


def test_before_the_leader_made_the_admin_user_the_default_user_keeps_every_right() -> None:
    wanted = users.wanted("default-pw", {}, RULES, charm={users.MONITORING_USER: ("monitoring-password-1",)})
    assert wanted[0].rules == ("~*", "&*", "+@all")
    assert [user.name for user in wanted] == ["default", users.MONITORING_USER]


def test_the_charm_logs_in_as_the_admin_user_with_a_password_its_running_line_accepts() -> None:
    parsed = settings.parse(DEFAULTS)
    rotated = {**CHARM, users.ADMIN_USER: ("admin-password-2", "admin-password-1")}
    running = conf.render(
        parsed, "pw1", "127.1.2.3", service.APT_LAYOUT, users=users.wanted("pw1", {}, RULES, charm=CHARM)
    )
    login = admin.login_for(running, rotated[users.ADMIN_USER])
    assert login == users.Login(users.ADMIN_USER, "admin-password-1")  # the new one is not applied there yet
    rendered = conf.render(
        parsed, "pw1", "127.1.2.3", service.APT_LAYOUT, users=users.wanted("pw1", {}, RULES, charm=rotated)
    )
    assert admin.login_for(rendered, rotated[users.ADMIN_USER]) == users.Login(users.ADMIN_USER, "admin-password-2")
    before_users = conf.render(parsed, "pw1", "127.1.2.3", service.APT_LAYOUT)
    assert admin.login_for(before_users, rotated[users.ADMIN_USER]) == "pw1"  # an upgrade: the default user
    assert "admin-password" not in repr(login)


def test_the_charms_users_keep_the_names_upgraded_units_and_the_leaders_secret_know_them_by() -> None:
    made = users.charm_users({name: ["pw"] for name in users.CHARM_USERS})
    assert [user.config_line().split()[1] for user in made] == ["charm-admin", "charm-replication", "charm-monitoring"]


def test_replicas_authenticate_as_the_replication_user_or_with_the_default_password_before_it_exists() -> None:
    parsed = settings.parse(DEFAULTS)
    login = users.Login(users.REPLICATION_USER, "replication-password-1")
    found = conf.directives(conf.render(parsed, "pw1", "127.1.2.3", service.APT_LAYOUT, replication=login))
    assert (found["masteruser"], found["masterauth"]) == (users.REPLICATION_USER, "replication-password-1")
    found = conf.directives(conf.render(parsed, "pw1", "127.1.2.3", service.APT_LAYOUT))
    assert "masteruser" not in found and found["masterauth"] == "pw1"


@pytest.fixture
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[real_redis.Server]:
    with running(tmp_path_factory) as started:
        yield started


@pytest.fixture
def on_a_unit(live: real_redis.Server, monkeypatch: pytest.MonkeyPatch) -> real_redis.Server:
    """`live` as workload.apply sees a unit's Redis: its service active, its redis.conf written where it runs."""
    monkeypatch.setattr(service, "is_active", lambda name: True)
    monkeypatch.setattr(service, "write_config", lambda layout, text: layout.conf.write_text(text))
    return live


def rendered_for(live: real_redis.Server, config: dict[str, object], password: str, **options: object) -> str:
    """The redis.conf the charm renders from `config`, on the port `live` listens on."""
    parsed = replace(settings.parse(config), port=int(conf.directives(live.rendered)["port"]))
    return conf.render(parsed, password, "127.0.0.1", live.layout, **options)


def test_an_upgraded_unit_makes_the_admin_user_with_the_default_password_and_then_the_default_user_loses_admin(
    on_a_unit: real_redis.Server,
) -> None:
    # The unit's Redis runs a redis.conf of a revision without the charm's users: the default user has every right.
    live = on_a_unit
    socket, layout = live.layout.unixsocket, live.layout
    wanted = users.wanted(PASSWORD, {"app-web": "web-password-1"}, RULES, charm=CHARM)
    replication = users.Login(users.REPLICATION_USER, "replication-password-1")
    rendered = rendered_for(live, DEFAULTS, PASSWORD, users=wanted, replication=replication)
    plan = conf.plan(live.rendered, rendered, (7, 0, 15))
    assert plan.users and not plan.restart
    restarted = workload.apply(
        plan, layout, live.rendered, rendered, lambda _: None, acl=wanted, admin_passwords=CHARM[users.ADMIN_USER]
    )
    assert not restarted
    default = client(socket, PASSWORD)
    with pytest.raises(redis_py.exceptions.NoPermissionError):
        default.config_set("maxmemory", "1")
    assert default.set("upgraded", "1") and default.get("upgraded") == "1"
    admin_client = client(socket, "admin-password-1", users.ADMIN_USER)
    assert admin_client.config_get("masteruser") == {"masteruser": users.REPLICATION_USER}
    assert admin.health(socket, admin.login_for(rendered, CHARM[users.ADMIN_USER])).ok
    assert admin.sync_users(socket, users.Login(users.ADMIN_USER, "admin-password-0"), wanted) == []  # the old one too


def test_an_upgraded_unit_whose_password_and_memory_limit_change_in_the_same_hook_applies_both_as_admin(
    on_a_unit: real_redis.Server,
) -> None:
    # The new password gives the default user the client rules at once: the memory limit after it
    # is set as the admin user, made first with the old password (the leader made it one password).
    live = on_a_unit
    socket, layout = live.layout.unixsocket, live.layout
    charm = {**CHARM, users.ADMIN_USER: ("admin-password-1",)}
    wanted = users.wanted("new-password-2", {}, RULES, charm=charm)
    rendered = rendered_for(live, {**DEFAULTS, "maxmemory": "64mb"}, "new-password-2", users=wanted)
    plan = conf.plan(live.rendered, rendered, (7, 0, 15))
    assert plan.users and not plan.restart and {"requirepass", "maxmemory"} <= set(plan.live)
    assert not workload.apply(
        plan, layout, live.rendered, rendered, lambda _: None, acl=wanted, admin_passwords=charm[users.ADMIN_USER]
    )
    admin_client = client(socket, "admin-password-1", users.ADMIN_USER)
    assert admin_client.config_get("maxmemory") == {"maxmemory": str(64 * 1024 * 1024)}
    assert client(socket, "new-password-2").ping()
    with pytest.raises(redis_py.exceptions.AuthenticationError):
        client(socket, PASSWORD).ping()


def test_a_value_redis_refuses_leaves_the_admin_user_as_it_was_on_a_unit_that_missed_a_rotation(
    live: real_redis.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    socket, layout = live.layout.unixsocket, live.layout
    monkeypatch.setattr(service, "is_active", lambda name: True)
    port = int(conf.directives(live.rendered)["port"])
    old = users.wanted(PASSWORD, {}, RULES, charm={**CHARM, users.ADMIN_USER: ("admin-password-0",)})
    admin.sync_users(socket, PASSWORD, old)
    running = conf.render(replace(settings.parse(DEFAULTS), port=port), PASSWORD, "127.0.0.1", layout, users=old)
    workload.remember_admin(layout, ("admin-password-0",))  # the leader has forgotten it since
    new = users.wanted(PASSWORD, {}, RULES, charm={**CHARM, users.ADMIN_USER: ("admin-password-1",)})
    parsed = replace(settings.parse({**DEFAULTS, "maxmemory": "64mb"}), port=port)
    rendered = conf.render(parsed, PASSWORD, "127.0.0.1", layout, users=new)
    rendered = rendered.replace(f"maxmemory {conf.directives(rendered)['maxmemory']}", "maxmemory 64zb")
    plan = conf.plan(running, rendered, (7, 0, 15))
    assert plan.users and set(plan.live) == {"maxmemory"}
    with pytest.raises(admin.Refused, match="maxmemory"):
        workload.apply(plan, layout, running, rendered, lambda _: None, acl=new, admin_passwords=("admin-password-1",))
    assert client(socket, "admin-password-0", users.ADMIN_USER).ping()
    with pytest.raises(redis_py.exceptions.AuthenticationError):
        client(socket, "admin-password-1", users.ADMIN_USER).ping()


def test_the_replication_and_monitoring_users_cannot_read_keys_or_configuration(live: real_redis.Server) -> None:
    socket = live.layout.unixsocket
    admin.sync_users(socket, PASSWORD, users.wanted(PASSWORD, {}, RULES, charm=CHARM))
    monitoring = client(socket, "monitoring-password-1", users.MONITORING_USER)
    assert monitoring.ping() and monitoring.info("keyspace") is not None
    assert monitoring.execute_command("SLOWLOG", "LEN") >= 0
    replication = client(socket, "replication-password-1", users.REPLICATION_USER)
    assert replication.ping()
    for user in (monitoring, replication):
        for command in (("GET", "k"), ("CONFIG", "GET", "requirepass"), ("ACL", "LIST"), ("KEYS", "*")):
            with pytest.raises(redis_py.exceptions.NoPermissionError):
                user.execute_command(*command)


def test_a_replica_syncs_from_its_master_as_the_replication_user(
    tmp_path_factory: pytest.TempPathFactory, live: real_redis.Server
) -> None:
    master = live.layout.unixsocket
    admin.sync_users(master, PASSWORD, users.wanted(PASSWORD, {}, RULES, charm=CHARM))
    client(master, PASSWORD).set("replicated", "yes")
    port = conf.directives(live.rendered)["port"]
    with running(tmp_path_factory) as other:
        replica = client(other.layout.unixsocket, PASSWORD)
        replica.config_set("masteruser", users.REPLICATION_USER)
        replica.config_set("masterauth", "replication-password-1")
        replica.execute_command("REPLICAOF", "127.0.0.1", port)
        assert service.wait_until(lambda: replica.info("replication")["master_link_status"] == "up", timeout=10)
        assert service.wait_until(lambda: replica.get("replicated") == "yes", timeout=10)
        replica.config_set("masterauth", "a-wrong-password")
        replica.execute_command("CLIENT", "KILL", "TYPE", "master")
        assert service.wait_until(lambda: replica.info("replication")["master_link_status"] == "down", timeout=10)


def test_a_unit_that_missed_a_rotation_logs_in_with_the_admin_password_its_file_was_written_with(
    tmp_path: Path,
) -> None:
    layout = replace(service.APT_LAYOUT, conf=tmp_path / "redis.conf")
    parsed = settings.parse(DEFAULTS)
    old = {**CHARM, users.ADMIN_USER: ("admin-password-0",)}
    running = conf.render(parsed, "pw1", "127.1.2.3", layout, users=users.wanted("pw1", {}, RULES, charm=old))
    workload.remember_admin(layout, old[users.ADMIN_USER])
    kept = workload.admin_file(layout)
    assert kept == tmp_path / ".charm-admin-passwords"  # beside redis.conf, as README says
    assert (oct(kept.stat().st_mode & 0o777), kept.stat().st_uid, kept.stat().st_gid) == ("0o600", 0, 0)
    now = {**CHARM, users.ADMIN_USER: ("admin-password-9",)}  # the old one already forgotten by the leader
    desired = workload.Desired(parsed, "pw1", users.wanted("pw1", {}, RULES, charm=now), tuple(now.items()))
    assert desired.login(running, layout) == users.Login(users.ADMIN_USER, "admin-password-0")
    workload.admin_file(layout).unlink()
    assert desired.login(running, layout) == "pw1"  # nothing else to try: the default user's password


@pytest.mark.parametrize(("version", "shown"), [((5, 0, 7), "5.0.7"), ((1, 0, 0), "1.0.0"), ((0, 0, 1), "0.0.1")])
def test_redis_older_than_6_blocks_naming_the_option_and_nothing_is_written(
    monkeypatch: pytest.MonkeyPatch, version: tuple[int, int, int], shown: str
) -> None:
    machine = FakeMachine(config=None, active=False)
    machine.attach(monkeypatch)
    monkeypatch.setattr(service, "installed_version", lambda layout: version)
    facts = workload.Facts(
        config={**DEFAULTS, "install-source": "snap"},
        leader_password="generated-pw-1",
        ingress="127.1.2.3",
        installed=workload.installation_key(settings.parse({**DEFAULTS, "install-source": "snap"})),
    )
    outcome = workload.converge(facts, lambda message: None)
    assert (outcome.status, outcome.message) == (
        "blocked",
        f"snap-channel: Redis {shown} has no ACL users; the charm needs Redis 6 or newer (it keeps what runs)",
    )
    assert machine.config is None and machine.actions == []


# (0, 0, 0): a redis-server whose --version the charm cannot read is not refused for it.
@pytest.mark.parametrize("version", [(6, 0, 0), (0, 0, 0)], ids=["6.0.0", "unknown"])
def test_redis_6_0_0_the_first_with_acl_users_is_used(
    machine: FakeMachine, monkeypatch: pytest.MonkeyPatch, version: tuple[int, int, int]
) -> None:
    monkeypatch.setattr(service, "installed_version", lambda layout: version)
    facts = workload.Facts(config=DEFAULTS, leader_password="generated-pw-1", ingress="127.1.2.3", installed="apt")
    outcome = workload.converge(facts, lambda message: None)
    assert outcome.ready and outcome.status == "active"
    assert conf.directives(machine.config or "")["requirepass"] == "generated-pw-1"


def test_before_the_leader_made_the_charms_users_the_charm_logs_in_as_the_default_user() -> None:
    desired = workload.Desired(settings.parse(DEFAULTS), "pw1")
    assert desired.as_user(users.MONITORING_USER) == users.Login("default", "pw1")
    assert desired.charm_login(users.ADMIN_USER) is None


def test_an_apt_redis_older_than_6_names_install_source() -> None:
    assert workload.too_old((5, 0, 7), settings.parse(DEFAULTS)) == (
        "install-source: Redis 5.0.7 has no ACL users; the charm needs Redis 6 or newer (it keeps what runs)"
    )


def test_the_unit_renders_replicas_logging_in_as_the_replication_user_it_was_given() -> None:
    charm = {**CHARM, users.REPLICATION_USER: ("replication-password-3",)}
    facts = workload.Facts(
        config=DEFAULTS, leader_password="pw1", ingress="127.1.2.3", charm_passwords=tuple(charm.items())
    )
    desired = workload.resolve(facts)
    assert isinstance(desired, workload.Desired)
    rendered = workload.render(desired, facts, service.APT_LAYOUT)
    found = conf.directives(rendered)
    assert (found["masteruser"], found["masterauth"]) == (users.REPLICATION_USER, "replication-password-3")
    assert users.REPLICATION_USER in {user.name for user in users.from_conf(rendered)}  # and the user exists


def test_the_users_a_rendered_redis_conf_makes_are_read_back_exactly() -> None:
    wanted = users.wanted("pw1", {"app-web": "web-pw"}, RULES, charm=CHARM)
    rendered = conf.render(settings.parse(DEFAULTS), "pw1", "127.1.2.3", service.APT_LAYOUT, users=wanted)
    assert users.from_conf(rendered) == wanted
    assert users.from_conf(conf.render(settings.parse(DEFAULTS), "pw1", "127.1.2.3", service.APT_LAYOUT)) == ()


def test_a_check_before_the_converge_keeps_the_users_redis_runs_with(
    live: real_redis.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Redis runs a redis.conf without the charm's users; the desired ones (with them) are not applied yet.
    monkeypatch.setattr(service, "is_active", lambda name: True)
    wanted = users.wanted(PASSWORD, {}, RULES, charm=CHARM)
    desired = workload.Desired(settings.parse(DEFAULTS), PASSWORD, wanted, tuple(CHARM.items()))
    outcome = workload.watch(desired, live.layout, live.rendered, "apt", 2.0)
    assert outcome.ready, outcome.message
    assert client(live.layout.unixsocket, PASSWORD).config_get("maxmemory")  # not demoted by a check
