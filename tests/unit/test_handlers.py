"""The handlers of reactive/redis.py, dispatched by charms.reactive as in a hook, against a fake Juju.

Redis itself is faked by `FakeRedis` (what converge, the health report and the Nagios
files did); Juju by `FakeJuju` (tests/unit/fakejuju.py). Each test runs hooks
and checks what Juju and the operator would see: flags, status, ports, leader
settings and relation data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from charms.layer.redis import monitoring, service, tuning, workload

from fakejuju import FakeJuju, Unit, attach, config_defaults

READY = "Ready (redis 7.0.15)"


@dataclass
class FakeRedis:
    """The workload side of the handlers: what they asked of Redis, the host and the Nagios files."""

    converged: list[workload.Facts] = field(default_factory=list)
    # Given the facts, the outcome converge reports; None: active with the resolved settings.
    outcome: Callable[[workload.Desired], workload.Outcome] | None = None
    health: str = "active"
    active: bool = True
    tuning_refused: tuple[str, ...] = ()
    tuned: int = 0
    checks: list[tuple[monitoring.Check, str, int, str]] = field(default_factory=list)
    removed_checks: int = 0
    stopped: list[str] = field(default_factory=list)
    # (installed, problem, timeout) of each health check a hook that changes nothing made.
    checked: list[tuple[str | None, str | None, float]] = field(default_factory=list)
    groups: dict[str, int] = field(default_factory=lambda: {"nagios": 117})

    def converge(self, facts: workload.Facts, progress: Callable[[str], None]) -> workload.Outcome:
        self.converged.append(facts)
        progress("Installing Redis (apt)")
        desired = workload.resolve(facts)
        if isinstance(desired, workload.Outcome):
            return desired
        if self.outcome is not None:
            return self.outcome(desired)
        return workload.Outcome("active", READY, desired, "7.0.15", workload.installation_key(desired.settings))

    def report(self, facts: workload.Facts, problem: str | None, timeout: float = 2.0) -> workload.Outcome:
        desired = workload.resolve(facts)
        if isinstance(desired, workload.Outcome):
            return desired
        self.checked.append((facts.installed, problem, timeout))
        message = READY if self.health == "active" else "Redis is not running: Redis does not answer"
        return workload.Outcome(self.health, message, desired, "7.0.15", facts.installed)

    def tune(self) -> tuning.TuningResult:
        self.tuned += 1
        return tuning.TuningResult(self.tuning_refused)

    def install_check(self, check: monitoring.Check, host: str, port: int, password: str) -> dict[str, str]:
        self.checks.append((check, host, port, password))
        return {"redis": "check_redis"}

    def remove_checks(self) -> None:
        self.removed_checks += 1

    def systemctl(self, action: str, name: str, *options: str) -> None:
        self.stopped.append(f"{action} {name}")

    def attach(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Put this fake where the handlers reach Redis, the host and the Nagios files."""
        monkeypatch.setattr(workload, "converge", self.converge)
        monkeypatch.setattr(workload, "report", self.report)
        monkeypatch.setattr(tuning, "apply", self.tune)
        monkeypatch.setattr(monitoring, "install", self.install_check)
        monkeypatch.setattr(monitoring, "remove", self.remove_checks)
        monkeypatch.setattr(service, "is_active", lambda name: self.active)
        monkeypatch.setattr(service, "systemctl", self.systemctl)
        monkeypatch.setattr(service, "group_id", lambda name: self.groups.get(name, 0))


@pytest.fixture
def redis(monkeypatch: pytest.MonkeyPatch) -> FakeRedis:
    fake = FakeRedis()
    fake.attach(monkeypatch)
    return fake


@pytest.fixture
def juju() -> FakeJuju:
    return FakeJuju(config=config_defaults())


@pytest.fixture
def unit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, juju: FakeJuju, redis: FakeRedis) -> Unit:
    return attach(monkeypatch, juju, tmp_path)


def deploy(unit: Unit) -> None:
    """The hooks of a new unit, in Juju's order."""
    unit.run_hook("install")
    unit.run_hook("leader-elected" if unit.juju.leader else "leader-settings-changed")
    unit.run_hook("config-changed")
    unit.run_hook("start")


def test_the_leader_without_a_password_generates_one_and_redis_uses_it(unit: Unit, redis: FakeRedis) -> None:
    unit.run_hook("install")
    password = unit.juju.generated_password()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", password)  # 32 random bytes, URL-safe
    assert redis.converged[-1].leader_password == password
    assert unit.juju.status == ("active", READY)
    assert {"leadership.set.password-secret", "redis.ready"} <= unit.flags()


def test_each_application_gets_its_own_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis: FakeRedis):
    passwords = set()
    for name in ("one", "two"):
        juju = FakeJuju(config=config_defaults())
        attach(monkeypatch, juju, tmp_path / name).run_hook("install")
        passwords.add(juju.generated_password())
    assert len(passwords) == 2


def test_a_configured_password_is_not_replaced_but_the_leader_still_shares_one(unit: Unit, redis: FakeRedis) -> None:
    unit.juju.config["password"] = "operator-chosen"
    unit.run_hook("install")
    assert redis.converged[-1].config["password"] == "operator-chosen"
    assert unit.juju.generated_password()  # for when the option is emptied again


def test_the_leader_keeps_the_password_it_generated(unit: Unit) -> None:
    deploy(unit)
    first = unit.juju.generated_password()
    unit.run_hook("update-status")
    unit.run_hook("leader-elected")
    assert unit.juju.generated_password() == first
    assert len(unit.juju.secrets) == 1


def test_a_follower_waits_for_the_password_then_converges_when_the_leader_shares_it(
    unit: Unit, redis: FakeRedis
) -> None:
    unit.juju.leader = False
    deploy(unit)
    assert unit.juju.leader_settings == {}
    assert unit.juju.status == ("waiting", "Waiting for the leader to generate the password")
    assert "redis.ready" not in unit.flags() and not unit.juju.ports
    unit.juju.share_password("from-the-leader")
    unit.run_hook("leader-settings-changed")
    assert redis.converged[-1].leader_password == "from-the-leader"
    assert unit.juju.status == ("active", READY)


def test_install_converges_opens_the_port_and_records_what_was_installed(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    facts = redis.converged[-1]
    assert (facts.ingress, facts.installed, facts.deployed_cluster_enabled) == ("127.1.2.3", "apt", False)
    assert facts.config == unit.juju.config
    assert unit.juju.ports == {"6379/tcp"}
    assert unit.juju.version == "7.0.15"
    assert unit.kv("redis.installed") == "apt"
    assert unit.kv("redis.deployed-cluster-enabled") is False
    assert "redis.pending" not in unit.flags()


def test_converge_reports_its_progress_as_maintenance(unit: Unit) -> None:
    unit.run_hook("install")
    assert ("maintenance", "Installing Redis (apt)") in unit.juju.statuses


def test_update_status_without_relations_publishes_nothing(unit: Unit) -> None:
    deploy(unit)
    unit.juju.calls.clear()
    unit.run_hook("update-status")
    asked = [call[0] for call in unit.juju.calls]
    assert asked.count("network-get") == 1  # for the health check; nothing to publish
    assert "relation-set" not in asked


def test_the_first_converge_knows_nothing_is_installed_yet(unit: Unit, redis: FakeRedis) -> None:
    unit.run_hook("install")
    assert redis.converged[0].installed is None and redis.converged[0].deployed_cluster_enabled is None


def test_a_hook_with_nothing_changed_does_not_converge(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    converged = len(redis.converged)
    unit.run_hook("update-status")
    unit.run_hook("leader-elected")
    assert len(redis.converged) == converged


def test_config_changed_converges_and_moves_the_opened_port(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    unit.juju.ports.add("9999/udp")  # opened by something else: not the charm's to close
    unit.juju.config["port"] = 6380
    unit.run_hook("config-changed")
    assert redis.converged[-1].config["port"] == 6380
    assert unit.juju.ports == {"6380/tcp", "9999/udp"}
    assert [call for call in unit.juju.calls if call[0] == "close-port"] == [["close-port", "6379/TCP"]]


def test_an_option_changed_between_hooks_converges_even_outside_config_changed(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    unit.juju.config["timeout"] = 30
    unit.run_hook("update-status")
    assert redis.converged[-1].config["timeout"] == 30


def test_a_new_address_is_rendered_and_published_to_clients(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    rid = unit.juju.relate("redis", "webapp/0")
    unit.run_hook("redis-relation-joined", rid, "webapp/0")
    unit.juju.address = "10.1.2.4"
    unit.run_hook("config-changed")  # Juju runs it when the unit's address changes
    assert redis.converged[-1].ingress == "10.1.2.4"
    assert unit.juju.relations[rid].local["host"] == "10.1.2.4"
    assert unit.juju.relations[rid].local["hostname"] == "10.1.2.4"


def test_the_address_falls_back_to_the_private_address_without_network_get(
    unit: Unit, redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FakeJuju, "tool_network_get", lambda self, args: "bind-addresses: []\n")
    unit.run_hook("install")
    assert redis.converged[-1].ingress == unit.juju.private_address


def test_clients_receive_host_port_and_password_raw(unit: Unit) -> None:
    deploy(unit)
    rid = unit.juju.relate("redis", "webapp/0")
    unit.run_hook("redis-relation-joined", rid, "webapp/0")
    password = unit.juju.secret_content()["app-webapp"]
    assert unit.juju.relations[rid].local == {
        "host": "127.1.2.3",
        "hostname": "127.1.2.3",
        "port": "6379",
        "username": "app-webapp",
        "password": password,
    }
    assert password != unit.juju.generated_password()


def test_clients_are_told_the_new_port(unit: Unit) -> None:
    deploy(unit)
    rid = unit.juju.relate("redis", "webapp/0")
    unit.run_hook("redis-relation-joined", rid, "webapp/0")
    unit.juju.config["port"] = 6390
    unit.run_hook("config-changed")
    assert unit.juju.relations[rid].local["port"] == "6390"


def test_nothing_is_published_while_redis_is_not_ready(unit: Unit, redis: FakeRedis) -> None:
    redis.outcome = lambda desired: workload.Outcome("blocked", "Redis is not running", desired)
    rid = unit.juju.relate("redis", "webapp/0")
    deploy(unit)
    unit.run_hook("redis-relation-joined", rid, "webapp/0")
    assert unit.juju.relations[rid].local == {}
    assert not unit.juju.ports and unit.juju.version == ""
    assert unit.juju.status == ("blocked", "Redis is not running")


def test_a_converge_that_fails_with_retry_stays_pending_and_the_next_hook_tries_again(
    unit: Unit, redis: FakeRedis
) -> None:
    failing = workload.Outcome("blocked", "apt-get install failed: Temporary failure resolving", retry=True)
    redis.outcome = lambda desired: failing
    unit.run_hook("install")
    assert "redis.pending" in unit.flags() and "redis.ready" not in unit.flags()
    assert unit.juju.status == ("blocked", failing.message)
    redis.outcome = None
    tries = len(redis.converged)
    unit.run_hook("update-status")
    assert len(redis.converged) == tries + 1
    assert unit.juju.status == ("active", READY)
    assert "redis.pending" not in unit.flags() and "redis.ready" in unit.flags()


def test_a_converge_that_fails_without_retry_is_not_repeated(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    redis.outcome = lambda desired: workload.Outcome("blocked", "Redis refused port", desired, "", "apt")
    unit.juju.config["port"] = 6400
    unit.run_hook("config-changed")
    assert "redis.pending" not in unit.flags() and "redis.ready" not in unit.flags()
    tries = len(redis.converged)
    unit.run_hook("update-status")
    assert len(redis.converged) == tries


def test_update_status_reports_what_a_health_check_finds(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    redis.health = "blocked"
    unit.run_hook("update-status")
    assert unit.juju.status == ("blocked", "Redis is not running: Redis does not answer")
    installed, problem, timeout = redis.checked[-1]
    assert (installed, problem) == ("apt", None)  # the installation converge made, and no change left pending
    assert timeout <= 2.0  # update-status must not hang on a Redis that does not answer
    redis.health = "active"
    unit.run_hook("update-status")
    assert unit.juju.status == ("active", READY)


def test_update_status_reports_an_invalid_option_without_checking_redis(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    redis.health = "blocked"
    unit.juju.config["log-level"] = "loud"
    unit.run_hook("config-changed")
    unit.run_hook("update-status")
    assert unit.juju.status[0] == "blocked" and unit.juju.status[1].startswith("invalid log-level")


def test_update_status_leaves_a_pending_converge_to_report(unit: Unit, redis: FakeRedis) -> None:
    redis.outcome = lambda desired: workload.Outcome("maintenance", "still installing", retry=True)
    unit.run_hook("install")
    redis.health = "blocked"
    unit.run_hook("update-status")
    assert unit.juju.status == ("maintenance", "still installing")
    assert redis.checked == []


def test_the_host_is_tuned_at_install_only(unit: Unit, redis: FakeRedis) -> None:
    redis.tuning_refused = ("sysctl", "transparent_hugepage")
    deploy(unit)
    unit.run_hook("upgrade-charm")
    assert redis.tuned == 1
    assert "Host tuning not applied here (kept in files for boot): sysctl, transparent_hugepage" in unit.juju.logs


def test_tuning_that_worked_is_not_reported_as_refused(unit: Unit, redis: FakeRedis) -> None:
    unit.run_hook("install")
    assert not any("Host tuning" in line for line in unit.juju.logs)


def test_upgrade_charm_converges(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    tries = len(redis.converged)
    unit.run_hook("upgrade-charm")
    assert len(redis.converged) == tries + 1


def relate_nrpe(unit: Unit) -> str:
    rid = unit.juju.relate("nrpe-external-master", "nrpe/0")
    unit.run_hook("nrpe-external-master-relation-joined", rid, "nrpe/0")
    return rid


def test_nrpe_gets_the_check_with_host_port_and_password(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    rid = relate_nrpe(unit)
    check, host, port, password = redis.checks[-1]
    assert check == monitoring.make_check("juju", "", "redis/0")
    assert (host, port, password) == ("127.1.2.3", 6379, unit.juju.generated_password())
    assert unit.juju.relations[rid].local["monitors"] == "monitors:\n  remote:\n    nrpe:\n      redis: check_redis\n"
    assert "redis.checks-registered" in unit.flags()


def test_the_check_is_installed_again_only_when_it_changes(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    relate_nrpe(unit)
    unit.run_hook("update-status")
    unit.run_hook("config-changed")
    assert len(redis.checks) == 1
    unit.juju.config["nagios_context"] = "prod"
    unit.run_hook("config-changed")
    assert redis.checks[-1][0].nagios_host == "prod-redis-0"
    unit.juju.config["nagios_servicegroups"] = "caches"
    unit.run_hook("config-changed")
    assert redis.checks[-1][0].servicegroups == "caches"
    assert len(redis.checks) == 3


def test_the_check_is_installed_again_once_the_nagios_group_exists(unit: Unit, redis: FakeRedis) -> None:
    redis.groups = {}
    deploy(unit)
    relate_nrpe(unit)
    redis.groups = {"nagios": 117}  # the nrpe charm installed its packages
    unit.run_hook("update-status")
    assert len(redis.checks) == 2


def test_nrpe_departing_removes_the_check(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    rid = relate_nrpe(unit)
    del unit.juju.relations[rid].units["nrpe/0"]
    unit.run_hook("nrpe-external-master-relation-departed", rid, "nrpe/0")
    assert redis.removed_checks == 1
    assert "redis.checks-registered" not in unit.flags()
    unit.run_hook("update-status")
    assert redis.removed_checks == 1


def test_a_check_is_registered_again_after_nrpe_returns(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    rid = relate_nrpe(unit)
    del unit.juju.relations[rid].units["nrpe/0"]
    unit.run_hook("nrpe-external-master-relation-departed", rid, "nrpe/0")
    del unit.juju.relations[rid]
    relate_nrpe(unit)
    assert len(redis.checks) == 2


def test_no_check_without_nrpe(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    assert redis.checks == [] and redis.removed_checks == 0


def test_stop_stops_a_running_redis_and_clears_ready(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    unit.run_hook("stop")
    assert redis.stopped == ["stop redis-server"]
    assert "redis.ready" not in unit.flags()


def test_stop_leaves_a_stopped_redis_alone(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    redis.active = False
    unit.run_hook("stop")
    assert redis.stopped == []


def test_stop_survives_a_failing_systemctl(unit: Unit, redis: FakeRedis, monkeypatch: pytest.MonkeyPatch) -> None:
    deploy(unit)

    def failing(*args: str) -> None:
        raise service.ServiceError("systemctl stop redis-server failed: timeout")

    monkeypatch.setattr(service, "systemctl", failing)
    unit.run_hook("stop")
    assert "Stopping Redis failed: systemctl stop redis-server failed: timeout" in unit.juju.logs
    assert "redis.ready" not in unit.flags()


def test_peers_join_but_the_charm_publishes_nothing_to_them_yet(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    rid = unit.juju.relate("cluster", "redis/1", {"address": "10.1.2.4"})
    unit.run_hook("cluster-relation-joined", rid, "redis/1")
    unit.run_hook("cluster-relation-changed", rid, "redis/1")
    assert unit.juju.relations[rid].local == {}
    assert unit.juju.status == ("active", READY)


def test_a_refused_leader_set_fails_the_hook_without_logging_the_password(unit: Unit) -> None:
    unit.juju.leadership_lapses = True
    with pytest.raises(RuntimeError) as failed:  # charms.leadership is imported anew by each hook
        unit.run_hook("install")
    assert type(failed.value).__name__ == "LeaderSetError"
    assert str(failed.value) == "leader-set of password-secret, password-secret-revision failed on redis/0"
    assert failed.value.__cause__ is None and failed.value.__suppress_context__
    tried = next(call for call in unit.juju.calls if call[0] == "leader-set")
    password = next(iter(unit.juju.secrets.values()))[-1]["password"]
    assert len(password) >= 32
    assert not [arg for arg in tried if password in arg]
    assert not [line for line in unit.juju.logs if password in line]


def test_the_nrpe_endpoint_is_available_while_nrpe_is_related(unit: Unit) -> None:
    deploy(unit)
    rid = relate_nrpe(unit)
    assert "endpoint.nrpe-external-master.available" in unit.flags()
    del unit.juju.relations[rid].units["nrpe/0"]
    unit.run_hook("nrpe-external-master-relation-departed", rid, "nrpe/0")
    assert "endpoint.nrpe-external-master.available" not in unit.flags()


def secret_reads(juju: FakeJuju) -> int:
    return sum(1 for call in juju.calls if call[0] == "secret-get")


def test_the_generated_password_is_kept_in_a_secret_and_only_its_id_is_shared(unit: Unit) -> None:
    deploy(unit)
    password = unit.juju.generated_password()
    assert set(unit.juju.leader_settings) == {"password-secret", "password-secret-revision"}
    assert password not in repr(unit.juju.leader_settings)
    assert not [call for call in unit.juju.calls if any(password in arg for arg in call)]
    assert unit.juju.secret_labels == {unit.juju.leader_settings["password-secret"]: "redis-passwords"}


def test_an_upgraded_leader_keeps_the_password_an_earlier_revision_shared(unit: Unit, redis: FakeRedis) -> None:
    unit.juju.leader_settings["password"] = "shared-by-an-earlier-revision"
    unit.run_hook("upgrade-charm")
    assert unit.juju.generated_password() == "shared-by-an-earlier-revision"
    assert "password" not in unit.juju.leader_settings
    assert redis.converged[-1].leader_password == "shared-by-an-earlier-revision"


def test_a_follower_keeps_the_earlier_password_until_the_leader_moved_it(unit: Unit, redis: FakeRedis) -> None:
    unit.juju.leader = False
    unit.juju.leader_settings["password"] = "shared-by-an-earlier-revision"
    unit.run_hook("upgrade-charm")
    assert redis.converged[-1].leader_password == "shared-by-an-earlier-revision"
    unit.juju.share_password("shared-by-an-earlier-revision")
    del unit.juju.leader_settings["password"]
    unit.run_hook("leader-settings-changed")
    assert redis.converged[-1].leader_password == "shared-by-an-earlier-revision"
    assert unit.juju.status == ("active", READY)


def test_a_follower_reads_the_secret_once_per_revision(unit: Unit, redis: FakeRedis) -> None:
    unit.juju.leader = False
    unit.juju.share_password("first-revision-password")
    deploy(unit)
    unit.run_hook("update-status")
    unit.run_hook("leader-settings-changed")
    assert secret_reads(unit.juju) == 1
    unit.juju.share_password("second-revision-password")
    unit.run_hook("leader-settings-changed")
    unit.run_hook("update-status")
    assert secret_reads(unit.juju) == 2
    assert redis.converged[-1].leader_password == "second-revision-password"


def test_the_cache_of_what_was_read_is_readable_by_root_only(unit: Unit) -> None:
    unit.juju.leader = False
    unit.juju.share_password("first-revision-password")
    deploy(unit)
    cache = unit.charm_dir / ".redis-passwords.json"
    assert cache.stat().st_mode & 0o777 == 0o600
    assert "first-revision-password" in cache.read_text()


def test_a_secret_that_cannot_be_read_waits_without_naming_a_value(
    unit: Unit, redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from charms.layer.redis import credentials

    monkeypatch.setattr(credentials, "REVISION_WAIT", 0.0)
    unit.juju.leader = False
    unit.juju.leader_settings.update({"password-secret": "secret:gone", "password-secret-revision": "1"})
    deploy(unit)
    assert unit.juju.status == ("waiting", "Waiting for the leader to generate the password")
    assert [line for line in unit.juju.logs if "revision 1 of the passwords' secret is not readable yet" in line]


def test_each_related_application_gets_its_own_user_on_its_own_relation_only(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    web = unit.juju.relate("redis", "webapp/0")
    unit.run_hook("redis-relation-joined", web, "webapp/0")
    worker = unit.juju.relate("redis", "worker/0")
    unit.run_hook("redis-relation-joined", worker, "worker/0")
    content = unit.juju.secret_content()
    assert unit.juju.relations[web].local["password"] == content["app-webapp"]
    assert unit.juju.relations[worker].local["password"] == content["app-worker"]
    assert content["app-webapp"] not in repr(unit.juju.relations[worker].local)
    assert content["app-worker"] not in repr(unit.juju.relations[web].local)
    assert dict(redis.converged[-1].client_passwords) == {
        "app-webapp": content["app-webapp"],
        "app-worker": content["app-worker"],
    }
    assert unit.juju.leader_settings["password-secret-revision"] == str(len(next(iter(unit.juju.secrets.values()))))


def test_a_hook_with_nothing_changed_writes_no_new_revision(unit: Unit) -> None:
    deploy(unit)
    rid = unit.juju.relate("redis", "webapp/0")
    unit.run_hook("redis-relation-joined", rid, "webapp/0")
    calls = len(unit.juju.calls)
    unit.run_hook("update-status")
    unit.run_hook("redis-relation-changed", rid, "webapp/0")
    later = [call[0] for call in unit.juju.calls[calls:]]
    assert not {"secret-set", "secret-get", "secret-add", "leader-set"} & set(later)


def test_a_removed_relation_takes_its_applications_password_away(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    rid = unit.juju.relate("redis", "webapp/0")
    unit.run_hook("redis-relation-joined", rid, "webapp/0")
    assert "app-webapp" in unit.juju.secret_content()
    unit.run_hook("redis-relation-broken", rid)
    assert "app-webapp" not in unit.juju.secret_content()
    assert redis.converged[-1].client_passwords == ()


def test_a_follower_takes_the_users_from_the_leaders_secret(unit: Unit, redis: FakeRedis) -> None:
    unit.juju.leader = False
    unit.juju.share_password("default-password-1")
    deploy(unit)
    ident = unit.juju.leader_settings["password-secret"]
    unit.juju.secrets[ident].append(
        {"password": "default-password-1", "app-webapp": "webapp-password-1", "revision": "2"}
    )
    unit.juju.leader_settings["password-secret-revision"] = "2"
    rid = unit.juju.relate("redis", "webapp/0")
    unit.run_hook("leader-settings-changed")
    assert redis.converged[-1].client_passwords == (("app-webapp", "webapp-password-1"),)
    unit.run_hook("redis-relation-joined", rid, "webapp/0")
    assert unit.juju.relations[rid].local["password"] == "webapp-password-1"
