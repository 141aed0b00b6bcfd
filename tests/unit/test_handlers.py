"""The handlers of reactive/redis.py, dispatched by charms.reactive as in a hook, against a fake Juju.

Redis itself is faked by `FakeRedis` (what converge, the health report and the Nagios
files did); Juju by `FakeJuju` (tests/unit/fakejuju.py). Each test runs hooks
and checks what Juju and the operator would see: flags, status, ports, leader
settings and relation data.
"""

from __future__ import annotations

import getpass
import json
import re
import socket
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ca_helpers import UnitCa
from cryptography import x509

from charms.layer.redis import clustering, metrics, monitoring, rotation, service, tls, tuning, users, workload
from charms.layer.redis.cluster.executor import ClusterError, Endpoint
from charms.layer.redis.cluster.topology import Node, Role, Topology, encode
from charms.layer.redis.clustering import Step, View

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
    check_users: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    # (installed, problem, timeout) of each health check a hook that changes nothing made.
    checked: list[tuple[str | None, str | None, float]] = field(default_factory=list)
    groups: dict[str, int] = field(default_factory=lambda: {"nagios": 117})
    # What prometheus-redis-exporter was configured with, each time; how often it was stopped.
    exporters: list[metrics.Exporter] = field(default_factory=list)
    exporter_stops: int = 0

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

    def install_check(
        self, check: monitoring.Check, host: str, port: int, password: str, ca: str = "", username: str = ""
    ) -> dict[str, str]:
        self.checks.append((check, host, port, password) + ((ca,) if ca else ()))
        self.check_users.append(username)
        return {"redis": "check_redis"}

    def remove_checks(self) -> None:
        self.removed_checks += 1

    def configure_exporter(self, exporter: metrics.Exporter) -> bool:
        self.exporters.append(exporter)
        return True

    def stop_exporter(self) -> None:
        self.exporter_stops += 1

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
        monkeypatch.setattr(metrics, "configure", self.configure_exporter)
        monkeypatch.setattr(metrics, "stop", self.stop_exporter)
        monkeypatch.setattr(metrics, "serving", lambda exporter: True)


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
    assert "network-get" not in asked  # the address is remembered from the deploy's config-changed
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


def test_a_follower_tells_a_new_client_where_redis_is_in_its_joined_hook(unit: Unit, redis: FakeRedis) -> None:
    unit.juju.leader = False
    unit.juju.share_password("default-password-1")
    deploy(unit)
    rid = unit.juju.relate("redis", "webapp/0")
    unit.run_hook("redis-relation-joined", rid, "webapp/0")
    told = unit.juju.relations[rid].local
    assert (told["host"], told["port"]) == ("127.1.2.3", "6379")


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


def test_a_hook_that_converges_checks_redis_only_through_the_converge(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    checked = len(redis.checked)
    unit.juju.config["timeout"] = 30
    unit.run_hook("config-changed")
    unit.run_hook("upgrade-charm")
    assert len(redis.checked) == checked


@pytest.mark.parametrize("hook", ["stop", "remove"])
def test_a_unit_going_away_does_not_check_redis(unit: Unit, redis: FakeRedis, hook: str) -> None:
    deploy(unit)
    checked = len(redis.checked)
    unit.run_hook(hook)
    assert len(redis.checked) == checked


def test_nothing_is_checked_before_anything_was_installed(unit: Unit, redis: FakeRedis) -> None:
    redis.outcome = lambda desired: workload.Outcome("blocked", "Redis refused port", desired)  # nothing installed
    unit.run_hook("install")
    unit.run_hook("update-status")
    assert redis.checked == []
    assert unit.juju.status == ("blocked", "Redis refused port")


def test_what_converge_repaired_and_why_redis_is_not_ready_are_logged_as_warnings(unit: Unit, redis: FakeRedis) -> None:
    def repaired(desired: workload.Desired) -> workload.Outcome:
        key = workload.installation_key(desired.settings)
        return workload.Outcome("active", READY, desired, "7.0.15", key, repaired=("requirepass", "file modes"))

    redis.outcome = repaired
    unit.run_hook("install")
    assert logged_at(unit, "WARNING", "Repaired what was changed outside the charm: requirepass, file modes")
    assert not [line for line in unit.juju.logs if line.startswith("Redis: ")]
    redis.outcome = lambda desired: workload.Outcome("blocked", "Redis refused port", desired, "", "apt")
    unit.juju.config["port"] = 6400
    unit.run_hook("config-changed")
    assert logged_at(unit, "WARNING", "Redis: Redis refused port")


def test_a_change_that_did_not_take_effect_is_remembered_until_one_does(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    redis.outcome = lambda desired: workload.Outcome("blocked", "Redis refused port", desired, "", "apt")
    unit.juju.config["port"] = 6400
    unit.run_hook("config-changed")
    unit.run_hook("update-status")
    assert redis.checked[-1][1] == "Redis refused port"  # the health report keeps saying it
    redis.outcome = None
    unit.juju.config["port"] = 6401
    unit.run_hook("config-changed")
    unit.run_hook("update-status")
    assert redis.checked[-1][1] is None


def test_a_failed_health_check_withholds_the_nagios_check_until_redis_answers(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    redis.health = "blocked"
    unit.run_hook("update-status")
    assert "redis.ready" not in unit.flags()
    relate_nrpe(unit)
    assert redis.checks == []
    redis.health = "active"
    unit.run_hook("update-status")
    assert "redis.ready" in unit.flags()
    assert len(redis.checks) == 1


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
    monitoring_password = unit.juju.secret_content()["charm-monitoring"]
    assert (host, port, password, redis.check_users[-1]) == ("127.1.2.3", 6379, monitoring_password, "charm-monitoring")
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


def deployed_with_a_converge_pending(unit: Unit, redis: FakeRedis) -> None:
    """A deployed unit whose last converge asked to be retried; the next converge would succeed (and start Redis)."""
    deploy(unit)
    redis.outcome = lambda desired: workload.Outcome("maintenance", "restarting", retry=True)
    unit.juju.config["timeout"] = 30
    unit.run_hook("config-changed")
    assert "redis.pending" in unit.flags()
    redis.outcome = None


@pytest.mark.parametrize("hook", ["stop", "remove"])
def test_a_pending_converge_does_not_start_redis_again_once_the_unit_is_stopped(
    unit: Unit, redis: FakeRedis, hook: str
) -> None:
    deployed_with_a_converge_pending(unit, redis)
    converged = len(redis.converged)
    unit.run_hook("stop")
    if hook == "remove":
        unit.run_hook("remove")
    assert redis.stopped == ["stop redis-server"] and len(redis.converged) == converged
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


# Cluster mode: the peers, the leader's steps and a departing unit's hand-over (the steps themselves are faked).

NODE_ID = "a" * 40


def cluster_node(unit: str, host: str, node_id: str) -> Node:
    return Node(unit, node_id, host, 6379, Role.MASTER)


THREE_MASTERS = Topology.of(
    [
        cluster_node("redis/0", "127.1.2.3", NODE_ID),
        cluster_node("redis/1", "127.1.2.4", "b" * 40),
        cluster_node("redis/2", "127.1.2.5", "c" * 40),
    ]
)


@dataclass
class FakeCluster:
    """The cluster steps the handlers take: the view each was given, and the step it returns."""

    answering: bool = True
    led: Step = field(default_factory=lambda: Step("waiting", "waiting for 2 more units to form the cluster"))
    member: Step = field(default_factory=lambda: Step("active", "cluster ok: 3 masters"))
    retired: Step = field(default_factory=lambda: Step("maintenance", "handed 5461 slots over and left the cluster"))
    # (step, view) in the order the handlers took them; the units waited for.
    views: list[tuple[str, View]] = field(default_factory=list)
    awaited: list[str] = field(default_factory=list)
    # Runs inside the leader's step (a long step during which something else happens).
    during_lead: Callable[[], None] = lambda: None

    def node_id(self, endpoint: Endpoint, password: str, username: str = "default", ca_file: str | None = None) -> str:
        if not self.answering:
            raise ClusterError(f"{endpoint} refused the connection")
        return NODE_ID

    def lead(self, view: View, say: Callable[[str], None]) -> Step:
        self.views.append(("lead", view))
        self.during_lead()
        return self.led

    def member_status(self, view: View) -> Step:
        self.views.append(("member", view))
        return self.member

    def retire(self, view: View, say: Callable[[str], None]) -> Step:
        self.views.append(("retire", view))
        return self.retired

    def await_departure(self, view: View, unit: str, say: Callable[[str], None]) -> None:
        self.views.append(("await", view))
        self.awaited.append(unit)

    def steps(self) -> list[str]:
        return [step for step, _ in self.views]

    def view(self, step: str) -> View:
        return next(view for taken, view in reversed(self.views) if taken == step)


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch, juju: FakeJuju) -> FakeCluster:
    fake = FakeCluster()
    for name in ("node_id", "lead", "member_status", "retire", "await_departure"):
        monkeypatch.setattr(clustering, name, getattr(fake, name))
    juju.config["cluster-enabled"] = True
    return fake


def relate_peers(unit: Unit, *peers: tuple[str, dict[str, str]]) -> str:
    """The peer relation with these units and what each published; its -joined hook for the first."""
    rid = unit.juju.relate("cluster", peers[0][0], peers[0][1])
    unit.juju.relations[rid].units.update(dict(peers[1:]))
    unit.run_hook("cluster-relation-joined", rid, peers[0][0])
    return rid


def peer(unit: str, host: str, node_id: str = "", port: str = "6379") -> tuple[str, dict[str, str]]:
    return unit, {key: value for key, value in {"address": host, "port": port, "node-id": node_id}.items() if value}


def run_departed(unit: Unit, rid: str, departing: str) -> None:
    unit.monkeypatch.setenv("JUJU_DEPARTING_UNIT", departing)
    try:
        unit.run_hook("cluster-relation-departed", rid, departing)
    finally:
        unit.monkeypatch.delenv("JUJU_DEPARTING_UNIT")


def logged_at(unit: Unit, level: str, text: str) -> bool:
    return any(call[:3] == ["juju-log", "-l", level] and call[-1].startswith(text) for call in unit.juju.calls)


def test_a_cluster_unit_tells_its_peers_its_node_and_the_leader_leads_with_the_ready_ones(
    unit: Unit, redis: FakeRedis, cluster: FakeCluster
) -> None:
    deploy(unit)
    assert unit.juju.ports == {"6379/tcp", "16379/tcp"}  # the cluster bus too
    rid = relate_peers(
        unit,
        peer("redis/1", "127.1.2.4", "b" * 40),
        peer("redis/2", "127.1.2.5"),  # its Redis is not in cluster mode yet
        peer("redis/3", "127.1.2.6", "d" * 40, port=""),
    )
    assert unit.juju.relations[rid].local == {"address": "127.1.2.3", "port": "6379", "node-id": NODE_ID}
    view = cluster.view("lead")
    own = Endpoint("127.1.2.3", 6379)
    assert (view.unit, view.own, view.topology, view.dying) == ("redis/0", own, None, frozenset())
    assert view.ready == {"redis/0": own, "redis/1": Endpoint("127.1.2.4", 6379)}
    admin = workload.resolve(redis.converged[-1]).as_user(users.ADMIN_USER)
    assert (view.username, view.password) == (admin.username, admin.password)
    assert view.replicas == unit.juju.config["cluster-replicas"]
    assert unit.juju.status == ("waiting", cluster.led.message)
    assert logged_at(unit, "INFO", f"Cluster: {cluster.led.message}")


def test_the_leader_shares_the_topology_its_step_made_and_tells_clients_the_nodes(
    unit: Unit, redis: FakeRedis, cluster: FakeCluster
) -> None:
    deploy(unit)
    clients = unit.juju.relate("redis", "webapp/0")
    unit.run_hook("redis-relation-joined", clients, "webapp/0")
    cluster.led = Step("active", "cluster formed", topology=THREE_MASTERS)
    relate_peers(unit, peer("redis/1", "127.1.2.4", "b" * 40), peer("redis/2", "127.1.2.5", "c" * 40))
    assert unit.juju.leader_settings["cluster-topology"] == encode(THREE_MASTERS)
    told = unit.juju.relations[clients]
    assert told.local_app == {"cluster": "true", "nodes": "127.1.2.3:6379,127.1.2.4:6379,127.1.2.5:6379"}
    assert told.local["cluster"] == "true"
    assert cluster.steps()[-2:] == ["lead", "member"] and cluster.view("member").topology == THREE_MASTERS
    assert unit.juju.status == ("active", cluster.member.message)
    unit.juju.calls.clear()
    unit.run_hook("update-status")
    assert "leader-set" not in [call[0] for call in unit.juju.calls]  # the same topology is not written again


def test_a_unit_in_the_cluster_keeps_its_port(unit: Unit, redis: FakeRedis, cluster: FakeCluster) -> None:
    deploy(unit)
    cluster.led = Step("active", "cluster formed", topology=THREE_MASTERS)
    relate_peers(unit, peer("redis/1", "127.1.2.4", "b" * 40))
    unit.juju.config["port"] = 6390
    unit.run_hook("config-changed")
    assert redis.converged[-1].cluster_port == 6379
    status, message = unit.juju.status
    assert status == "blocked" and message.startswith("invalid port") and "fixed at 6379" in message


def test_a_unit_the_cluster_has_not_taken_in_may_still_change_its_port(
    unit: Unit, redis: FakeRedis, cluster: FakeCluster
) -> None:
    deploy(unit)
    relate_peers(unit, peer("redis/1", "127.1.2.4", "b" * 40))  # the leader's step makes no topology yet
    unit.juju.config["port"] = 6390
    unit.run_hook("config-changed")
    assert redis.converged[-1].cluster_port is None
    assert unit.juju.ports == {"6390/tcp", "16390/tcp"}


def test_leadership_lost_during_a_long_step_leaves_the_topology_to_the_new_leader(
    unit: Unit, redis: FakeRedis, cluster: FakeCluster
) -> None:
    deploy(unit)
    cluster.led = Step("active", "cluster formed", topology=THREE_MASTERS)
    cluster.during_lead = lambda: setattr(unit.juju, "leader", False)
    relate_peers(unit, peer("redis/1", "127.1.2.4", "b" * 40))
    assert "cluster-topology" not in unit.juju.leader_settings
    assert unit.juju.status == ("active", cluster.member.message)


def test_a_follower_reports_the_clusters_health_without_leading(
    unit: Unit, redis: FakeRedis, cluster: FakeCluster
) -> None:
    unit.juju.leader = False
    unit.juju.share_password("from-the-leader")
    unit.juju.leader_settings["cluster-topology"] = encode(THREE_MASTERS)
    cluster.member = Step("blocked", "cluster: 1 slot is not served")
    deploy(unit)
    assert "lead" not in cluster.steps()
    assert cluster.view("member").topology == THREE_MASTERS
    assert unit.juju.status == ("blocked", "cluster: 1 slot is not served")
    assert logged_at(unit, "WARNING", "Cluster: cluster: 1 slot is not served")


def test_a_cluster_node_that_does_not_answer_is_waited_for(unit: Unit, redis: FakeRedis, cluster: FakeCluster) -> None:
    cluster.answering = False
    deploy(unit)
    assert unit.juju.status == ("waiting", "waiting for this unit's cluster node to answer")
    assert logged_at(unit, "WARNING", "Cluster node not answering: 127.1.2.3:6379 refused the connection")
    assert cluster.steps() == []


def test_a_shared_topology_that_cannot_be_read_is_said_and_ignored(
    unit: Unit, redis: FakeRedis, cluster: FakeCluster
) -> None:
    unit.juju.leader_settings["cluster-topology"] = "0:not-a-topology"
    deploy(unit)
    assert cluster.view("lead").topology is None
    assert any(line.startswith("Ignoring the shared cluster topology: cluster topology") for line in unit.juju.logs)


def test_the_leader_knows_which_units_are_dying(unit: Unit, redis: FakeRedis, cluster: FakeCluster) -> None:
    unit.juju.goal_units = {"redis/0": "active", "redis/1": "dying", "redis/2": "waiting"}
    deploy(unit)
    assert cluster.view("lead").dying == frozenset({"redis/1"})


def test_without_goal_state_no_unit_counts_as_dying(
    unit: Unit, redis: FakeRedis, cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(self: FakeJuju, args: list[str]) -> str:
        raise FileNotFoundError("goal-state")  # an older Juju: hookenv says NotImplementedError

    monkeypatch.setattr(FakeJuju, "tool_goal_state", missing)
    deploy(unit)
    assert cluster.view("lead").dying == frozenset()


@pytest.mark.parametrize("option", [{"cluster-enabled": False}, {"log-level": "loud"}])
def test_no_cluster_step_outside_cluster_mode(
    unit: Unit, redis: FakeRedis, cluster: FakeCluster, option: dict[str, object]
) -> None:
    unit.juju.config.update(option)
    deploy(unit)
    rid = relate_peers(unit, peer("redis/1", "127.1.2.4", "b" * 40))
    run_departed(unit, rid, "redis/1")
    run_departed(unit, rid, "redis/0")
    unit.run_hook("stop")
    assert cluster.steps() == [] and unit.juju.relations[rid].local == {}


def test_a_cluster_fixed_standalone_at_deploy_takes_no_cluster_step(
    unit: Unit, redis: FakeRedis, cluster: FakeCluster
) -> None:
    unit.juju.config["cluster-enabled"] = False
    deploy(unit)
    unit.juju.config["cluster-enabled"] = True
    unit.run_hook("config-changed")
    relate_peers(unit, peer("redis/1", "127.1.2.4", "b" * 40))
    assert cluster.steps() == []
    assert unit.juju.status[0] == "blocked" and "cluster-enabled" in unit.juju.status[1]


def deployed_in_a_formed_cluster(unit: Unit, cluster: FakeCluster) -> str:
    """A unit of a three-master cluster with one peer joined, before any step is taken: the peer relation's id."""
    unit.juju.leader_settings["cluster-topology"] = encode(THREE_MASTERS)
    deploy(unit)
    rid = relate_peers(unit, peer("redis/1", "127.1.2.4", "b" * 40))
    cluster.views.clear()
    return rid


def test_a_departing_unit_hands_its_node_over_in_its_own_departed_hook(
    unit: Unit, redis: FakeRedis, cluster: FakeCluster
) -> None:
    rid = deployed_in_a_formed_cluster(unit, cluster)
    run_departed(unit, rid, "redis/0")
    assert cluster.steps() == ["retire"]  # and no step as a member of the cluster it leaves
    assert cluster.view("retire").topology == THREE_MASTERS
    # The hand-over is what the unit shows until it is gone, not a health check's "Ready".
    assert unit.juju.status == ("maintenance", cluster.retired.message)
    assert logged_at(unit, "INFO", f"Cluster: {cluster.retired.message}")


def test_a_hand_over_that_must_be_retried_fails_the_hook_and_leaves_redis_running(
    unit: Unit, redis: FakeRedis, cluster: FakeCluster
) -> None:
    deploy(unit)
    cluster.retired = Step("blocked", "another unit is moving slots", retry=True)
    with pytest.raises(SystemExit) as failed:
        unit.run_hook("stop")
    assert failed.value.code == 1
    assert redis.stopped == [] and unit.juju.status == ("blocked", "another unit is moving slots")
    assert logged_at(unit, "WARNING", "Cluster: another unit is moving slots")
    cluster.retired = Step("maintenance", "handed its slots over")
    unit.run_hook("stop")
    assert cluster.steps()[-1] == "retire" and redis.stopped == ["stop redis-server"]


@pytest.mark.parametrize("hook", ["stop", "remove"])
def test_a_unit_going_away_takes_no_cluster_step_even_after_a_pending_converge(
    unit: Unit, redis: FakeRedis, cluster: FakeCluster, hook: str
) -> None:
    deployed_with_a_converge_pending(unit, redis)
    cluster.views.clear()
    unit.run_hook(hook)
    assert "lead" not in cluster.steps() and "member" not in cluster.steps()


def test_a_staying_unit_waits_for_the_departing_one_then_takes_its_step(
    unit: Unit, redis: FakeRedis, cluster: FakeCluster
) -> None:
    rid = deployed_in_a_formed_cluster(unit, cluster)
    run_departed(unit, rid, "redis/1")
    assert cluster.awaited == ["redis/1"]
    assert cluster.steps()[0] == "await" and "lead" in cluster.steps()
    assert cluster.view("await").topology == THREE_MASTERS


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


# TLS: the certificates relation.


@pytest.fixture
def tls_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The unit's key and certificates go to a temporary directory (owned by this user), not /etc/redis/tls."""
    real_key, real_install = tls.ensure_key, tls.install
    directory = tmp_path / "tls"
    monkeypatch.setattr(tls, "ensure_key", lambda _directory, _owner: real_key(directory, getpass.getuser()))
    monkeypatch.setattr(tls, "install", lambda _directory, issued: real_install(directory, issued))
    return directory


def relate_ca(unit: Unit) -> str:
    rid = unit.juju.relate("certificates", "ca/0")
    unit.run_hook("certificates-relation-joined", rid, "ca/0")
    return rid


def published_request(unit: Unit, rid: str) -> x509.CertificateSigningRequest:
    entries = json.loads(unit.juju.relations[rid].local["certificate_signing_requests"])
    assert [entry["ca"] for entry in entries] == [False]
    return x509.load_pem_x509_csr(entries[0]["certificate_signing_request"].encode())


@pytest.fixture(scope="module")
def ca() -> UnitCa:
    return UnitCa()


def sign(unit: Unit, rid: str, ca: UnitCa, serial: int) -> None:
    """The CA answers in its application data; the unit's -changed hook follows."""
    request = unit.juju.relations[rid].local["certificate_signing_requests"]
    pem = json.loads(request)[0]["certificate_signing_request"]
    certificate = ca.sign(pem) + f"\n{'#' * serial}"  # a distinct text per issue
    entry = {"certificate": certificate, "certificate_signing_request": pem, "ca": ca.pem, "chain": [certificate]}
    unit.juju.relations[rid].app["certificates"] = json.dumps([entry])
    unit.run_hook("certificates-relation-changed", rid, "ca/0")


def test_a_unit_requests_a_certificate_naming_its_address_and_host_and_keeps_the_key(
    unit: Unit, tls_files: Path
) -> None:
    deploy(unit)
    rid = relate_ca(unit)
    request = published_request(unit, rid)
    sans = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.1.2.3"]
    assert sans.get_values_for_type(x509.DNSName) == [socket.gethostname()]
    assert stat.S_IMODE((tls_files / "redis.key").stat().st_mode) == 0o600
    everything_said = json.dumps([unit.juju.relations[rid].local, unit.juju.logs, unit.juju.calls])
    assert "PRIVATE KEY" not in everything_said


def test_the_request_is_made_again_only_when_the_address_changes(unit: Unit, tls_files: Path) -> None:
    deploy(unit)
    rid = relate_ca(unit)
    first = published_request(unit, rid)
    unit.run_hook("config-changed")
    assert published_request(unit, rid) == first
    assert sum(line.startswith("Requesting a certificate for 127.1.2.3 and ") for line in unit.juju.logs) == 1
    unit.juju.address = "127.1.2.4"
    unit.run_hook("config-changed")
    moved = published_request(unit, rid)
    sans = moved.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.1.2.4"]
    assert moved.public_key().public_numbers() == first.public_key().public_numbers()  # the same key


def test_the_key_and_the_certificates_go_to_a_tls_directory_beside_redis_conf(
    unit: Unit, tls_files: Path, ca: UnitCa, monkeypatch: pytest.MonkeyPatch
) -> None:
    directories: list[tuple[str, Path]] = []
    keep_key, install = tls.ensure_key, tls.install  # the fixture's: files go to tls_files

    def ensure_key(directory: Path, owner: str) -> Path:
        directories.append(("key", directory))
        return keep_key(directory, owner)

    def install_issued(directory: Path, issued: tls.Issued) -> tls.Files:
        directories.append(("certificate", directory))
        return install(directory, issued)

    monkeypatch.setattr(tls, "ensure_key", ensure_key)
    monkeypatch.setattr(tls, "install", install_issued)
    deploy(unit)
    sign(unit, relate_ca(unit), ca, 1)
    assert directories == [("key", Path("/etc/redis/tls")), ("certificate", Path("/etc/redis/tls"))]


def test_a_key_lost_on_the_machine_is_made_again_with_a_new_request(unit: Unit, tls_files: Path) -> None:
    deploy(unit)
    rid = relate_ca(unit)
    first = published_request(unit, rid)
    (tls_files / "redis.key").unlink()
    unit.run_hook("config-changed")
    again = published_request(unit, rid)
    assert (tls_files / "redis.key").exists()
    assert again.public_key().public_numbers() != first.public_key().public_numbers()


def test_a_certificate_turns_tls_on_and_clients_are_told(
    unit: Unit, redis: FakeRedis, tls_files: Path, ca: UnitCa
) -> None:
    deploy(unit)
    clients = unit.juju.relate("redis", "webapp/0")
    unit.run_hook("redis-relation-joined", clients, "webapp/0")
    rid = relate_ca(unit)
    assert redis.converged[-1].tls is None
    sign(unit, rid, ca, 1)
    files = redis.converged[-1].tls
    assert files is not None and files.cert.parent == tls_files
    assert unit.juju.ports == {"6380/tcp"}
    told = unit.juju.relations[clients].local
    assert (told["tls"], told["port"], told["tls-port"]) == ("true", "6380", "6380")
    assert told["tls-ca"] == told["ca"] == ca.pem


def test_a_renewed_certificate_converges_with_its_new_file(
    unit: Unit, redis: FakeRedis, tls_files: Path, ca: UnitCa
) -> None:
    deploy(unit)
    rid = relate_ca(unit)
    sign(unit, rid, ca, 1)
    first = redis.converged[-1].tls
    converged = len(redis.converged)
    unit.run_hook("certificates-relation-changed", rid, "ca/0")  # nothing new: nothing to do
    assert len(redis.converged) == converged
    sign(unit, rid, ca, 2)
    renewed = redis.converged[-1].tls
    assert renewed is not None and first is not None
    assert renewed.cert != first.cert and renewed.key == first.key


def test_when_the_ca_leaves_redis_serves_plain_again(unit: Unit, redis: FakeRedis, tls_files: Path, ca: UnitCa) -> None:
    deploy(unit)
    clients = unit.juju.relate("redis", "webapp/0")
    unit.run_hook("redis-relation-joined", clients, "webapp/0")
    rid = relate_ca(unit)
    sign(unit, rid, ca, 1)
    del unit.juju.relations[rid]
    unit.run_hook("certificates-relation-broken", rid)
    assert redis.converged[-1].tls is None
    assert unit.juju.ports == {"6379/tcp"}
    told = unit.juju.relations[clients].local
    assert told["port"] == "6379" and not any(key in told for key in tls.CLIENT_KEYS)


def test_a_received_certificate_is_said_and_later_hooks_ask_the_ca_nothing(
    unit: Unit, redis: FakeRedis, tls_files: Path, ca: UnitCa
) -> None:
    deploy(unit)
    sign(unit, relate_ca(unit), ca, 1)
    files = redis.converged[-1].tls
    assert files is not None
    assert f"Certificate received ({files.cert.name}); Redis serves TLS with it" in unit.juju.logs
    unit.juju.calls.clear()
    unit.run_hook("update-status")
    assert not [call for call in unit.juju.calls if call[0] == "relation-get"]


def test_a_ca_related_again_is_asked_again(unit: Unit, redis: FakeRedis, tls_files: Path, ca: UnitCa) -> None:
    deploy(unit)
    first = relate_ca(unit)
    sign(unit, first, ca, 1)
    del unit.juju.relations[first]
    unit.run_hook("certificates-relation-broken", first)
    again = relate_ca(unit)
    sign(unit, again, ca, 2)
    assert redis.converged[-1].tls is not None and unit.juju.ports == {"6380/tcp"}


def test_the_nagios_check_follows_redis_to_tls_and_back_to_plain(
    unit: Unit, redis: FakeRedis, tls_files: Path, ca: UnitCa
) -> None:
    deploy(unit)
    relate_nrpe(unit)
    rid = relate_ca(unit)
    sign(unit, rid, ca, 1)
    _, host, port, _, told_ca = redis.checks[-1]
    assert (host, port, told_ca) == ("127.1.2.3", 6380, ca.pem)
    unit.juju.config["tls-keep-plain-port"] = True
    unit.run_hook("config-changed")
    assert redis.checks[-1][2] == 6379 and len(redis.checks[-1]) == 4  # plain, no CA


def test_no_certificate_is_requested_before_redis_is_installed(unit: Unit, redis: FakeRedis, tls_files: Path) -> None:
    failing = workload.Outcome("blocked", "apt-get install failed: Temporary failure resolving", retry=True)
    redis.outcome = lambda desired: failing
    unit.run_hook("install")
    rid = relate_ca(unit)
    assert "certificate_signing_requests" not in unit.juju.relations[rid].local
    assert not (tls_files / "redis.key").exists()
    redis.outcome = None
    unit.run_hook("update-status")
    unit.run_hook("certificates-relation-changed", rid, "ca/0")
    assert published_request(unit, rid) is not None


def test_a_new_leader_publishes_the_applications_scrape_job(unit: Unit, redis: FakeRedis) -> None:
    unit.juju.leader = False
    unit.juju.share_password("shared-by-the-leader")
    deploy(unit)
    rid = relate_scraper(unit)
    assert unit.juju.relations[rid].local_app == {}
    unit.juju.leader = True
    unit.run_hook("leader-elected")
    assert json.loads(unit.juju.relations[rid].local_app["scrape_jobs"])[0]["job_name"] == "redis"


def test_scrape_targets_wait_for_the_exporter(unit: Unit, redis: FakeRedis, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(exporter: metrics.Exporter) -> bool:
        raise service.ServiceError("apt-get install -y failed: no network")

    monkeypatch.setattr(metrics, "configure", failing)
    deploy(unit)
    rid = relate_scraper(unit, "prometheus", "prometheus2/0")
    assert unit.juju.relations[rid].local == {}
    monkeypatch.setattr(metrics, "configure", redis.configure_exporter)
    unit.run_hook("update-status")
    assert unit.juju.relations[rid].local == {"hostname": "127.1.2.3", "port": "9121"}


def test_a_scraper_joining_before_the_exporter_took_a_new_port_is_told_the_new_one_once_it_has(
    unit: Unit, redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy(unit)

    def failing(exporter: metrics.Exporter) -> bool:
        raise service.ServiceError("systemctl restart prometheus-redis-exporter failed: timeout")

    monkeypatch.setattr(metrics, "configure", failing)
    unit.juju.config["metrics-port"] = 9200
    unit.run_hook("config-changed")
    rid = relate_scraper(unit, "prometheus", "prometheus2/0")
    assert unit.juju.relations[rid].local == {}  # not the port the exporter is leaving
    monkeypatch.setattr(metrics, "configure", redis.configure_exporter)
    unit.run_hook("update-status")
    assert unit.juju.relations[rid].local == {"hostname": "127.1.2.3", "port": "9200"}


def test_stop_survives_an_exporter_that_does_not_stop(unit: Unit, redis: FakeRedis) -> None:
    def failing() -> None:
        raise service.ServiceError("systemctl stop prometheus-redis-exporter failed: timeout")

    redis.stop_exporter = failing  # type: ignore[method-assign]
    redis.attach(unit.monkeypatch)
    deploy(unit)
    unit.run_hook("stop")
    assert logged_at(unit, "WARNING", "Stopping prometheus-redis-exporter failed: systemctl stop")
    assert redis.stopped == ["stop redis-server"]


# Metrics: prometheus-redis-exporter and the scrape targets on metrics-endpoint and prometheus.


def relate_scraper(unit: Unit, endpoint: str = "metrics-endpoint", remote: str = "prometheus/0") -> str:
    rid = unit.juju.relate(endpoint, remote)
    unit.run_hook(f"{endpoint}-relation-joined", rid, remote)
    return rid


def test_the_exporter_scrapes_this_units_redis_as_the_monitoring_user(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    password = unit.juju.secret_content()["charm-monitoring"]
    assert redis.exporters[-1] == metrics.Exporter("127.1.2.3", 6379, password, 9121, username="charm-monitoring")


def test_a_new_password_option_never_reaches_the_exporter(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    before = redis.exporters[-1]
    unit.juju.config["password"] = "operator-chosen-1"
    unit.run_hook("config-changed")
    assert redis.exporters[-1] == before


def test_a_new_redis_port_and_metrics_port_reach_the_exporter(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    unit.juju.config.update({"port": 6380, "metrics-port": 9200})
    unit.run_hook("config-changed")
    assert (redis.exporters[-1].redis_port, redis.exporters[-1].port) == (6380, 9200)


def test_upgrade_charm_configures_the_exporter_again(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    configured = len(redis.exporters)
    unit.run_hook("upgrade-charm")
    assert len(redis.exporters) == configured + 1


def test_a_new_address_reaches_the_exporter(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    unit.juju.address = "127.1.2.4"
    unit.run_hook("config-changed")  # Juju runs it when the unit's address changes, no option changed
    assert redis.exporters[-1].address == "127.1.2.4"


def test_an_option_changed_between_hooks_reaches_the_exporter_even_outside_config_changed(
    unit: Unit, redis: FakeRedis
) -> None:
    deploy(unit)
    unit.juju.config["metrics-port"] = 9200
    unit.run_hook("update-status")
    assert redis.exporters[-1].port == 9200


def test_a_followers_exporter_follows_the_leaders_new_password(unit: Unit, redis: FakeRedis) -> None:
    unit.juju.leader = False
    unit.juju.leader_settings["password"] = "shared-by-an-earlier-revision"
    deploy(unit)
    unit.juju.leader_settings["password"] = "changed-by-an-earlier-revision"
    unit.run_hook("leader-settings-changed")
    assert redis.exporters[-1].password == "changed-by-an-earlier-revision"
    del unit.juju.leader_settings["password"]
    unit.juju.share_password("first-revision-password")
    unit.run_hook("leader-settings-changed")
    assert redis.exporters[-1].password == "first-revision-password"
    unit.juju.share_password("second-revision-password")  # only the revision changes
    unit.run_hook("leader-settings-changed")
    assert redis.exporters[-1].password == "second-revision-password"


def test_a_metrics_port_taken_by_redis_is_refused_by_name(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    configured = len(redis.exporters)
    unit.juju.config["metrics-port"] = 6379
    unit.run_hook("config-changed")
    status, message = unit.juju.status
    assert status == "blocked" and "metrics-port" in message and "must differ from port" in message
    assert len(redis.exporters) == configured


def test_a_hook_where_nothing_changed_leaves_the_exporter_and_its_relations_alone(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    unit.juju.calls.clear()
    unit.run_hook("update-status")
    unrelated = list(unit.juju.calls)
    relate_scraper(unit)
    relate_scraper(unit, "prometheus", "prometheus2/0")
    configured = len(redis.exporters)
    unit.juju.calls.clear()
    unit.run_hook("update-status")
    assert len(redis.exporters) == configured
    assert unit.juju.calls == unrelated  # the scrape relations cost no hook-tool call
    assert not [line for line in unit.juju.logs if "Unable to find implementation" in line]


def test_metrics_endpoint_gets_the_scrape_job_and_the_units_address(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    rid = relate_scraper(unit)
    relation = unit.juju.relations[rid]
    assert relation.local == {"prometheus_scrape_unit_address": "127.1.2.3", "prometheus_scrape_unit_name": "redis/0"}
    assert json.loads(relation.local_app["scrape_jobs"]) == [
        {"job_name": "redis", "metrics_path": "/metrics", "static_configs": [{"targets": ["*:9121"]}]}
    ]
    assert json.loads(relation.local_app["scrape_metadata"]) == {
        "model": "prod",
        "model_uuid": "4d5f7a1e-0c3b-4f7e-9a51-2b8c6d0e1f23",
        "application": "redis",
        "unit": "redis/0",
        "charm_name": "redis",
    }


def test_a_follower_publishes_its_address_but_not_the_applications_job(unit: Unit, redis: FakeRedis) -> None:
    unit.juju.leader = False
    unit.juju.leader_settings["password"] = "shared-by-the-leader"
    deploy(unit)
    rid = relate_scraper(unit)
    assert unit.juju.relations[rid].local["prometheus_scrape_unit_address"] == "127.1.2.3"
    assert unit.juju.relations[rid].local_app == {}


def test_prometheus_over_http_gets_hostname_and_port(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    rid = relate_scraper(unit, "prometheus", "prometheus2/0")
    assert unit.juju.relations[rid].local == {"hostname": "127.1.2.3", "port": "9121"}


def test_a_new_metrics_port_is_published_again(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    scrape = relate_scraper(unit)
    http = relate_scraper(unit, "prometheus", "prometheus2/0")
    unit.juju.config["metrics-port"] = 9200
    unit.run_hook("config-changed")
    assert "*:9200" in unit.juju.relations[scrape].local_app["scrape_jobs"]
    assert unit.juju.relations[http].local["port"] == "9200"


def test_an_exporter_that_cannot_be_configured_is_tried_again_next_hook(
    unit: Unit, redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(exporter: metrics.Exporter) -> bool:
        raise service.ServiceError("apt-get install -y failed: no network")

    monkeypatch.setattr(metrics, "configure", failing)
    deploy(unit)
    assert any(line.startswith("prometheus-redis-exporter not configured") for line in unit.juju.logs)
    assert "redis.exporter-pending" in unit.flags()
    assert unit.juju.status == ("active", READY)  # Redis itself serves
    monkeypatch.setattr(metrics, "configure", redis.configure_exporter)
    unit.run_hook("update-status")
    assert redis.exporters and "redis.exporter-pending" not in unit.flags()


def test_stop_stops_the_exporter(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    unit.run_hook("stop")
    assert redis.exporter_stops == 1


def test_an_exporter_whose_port_is_taken_is_said_once_and_still_published(unit: Unit, redis: FakeRedis) -> None:
    def not_serving(exporter: metrics.Exporter) -> bool:
        raise metrics.NotServing("prometheus-redis-exporter does not serve http://127.1.2.3:9121/metrics")

    redis.configure_exporter = not_serving  # type: ignore[method-assign]
    redis.attach(unit.monkeypatch)
    deploy(unit)
    rid = relate_scraper(unit)
    assert "prometheus-redis-exporter does not serve http://127.1.2.3:9121/metrics" in unit.juju.logs
    assert "redis.exporter-pending" not in unit.flags()
    assert unit.juju.relations[rid].local["prometheus_scrape_unit_address"] == "127.1.2.3"


def test_the_exporter_follows_redis_to_tls_and_back_to_plain(
    unit: Unit, redis: FakeRedis, tls_files: Path, ca: UnitCa
) -> None:
    deploy(unit)
    rid = relate_ca(unit)
    sign(unit, rid, ca, 1)
    assert (redis.exporters[-1].redis_port, redis.exporters[-1].ca) == (6380, ca.pem)
    assert redis.exporters[-1].redis_url == "rediss://127.1.2.3:6380"
    del unit.juju.relations[rid]
    unit.run_hook("certificates-relation-broken", rid)
    assert (redis.exporters[-1].redis_port, redis.exporters[-1].ca) == (6379, "")


# --- Hook cost: what a hook with nothing to do asks Juju, and when the remembered answers are renewed ---


def tools_called(unit: Unit, hook: str) -> list[str]:
    unit.juju.calls.clear()
    unit.run_hook(hook)
    return [call[0] for call in unit.juju.calls]


def test_a_hook_with_nothing_to_do_sets_no_status_logs_nothing_and_asks_no_address(unit: Unit) -> None:
    deploy(unit)
    asked = tools_called(unit, "update-status")
    assert not {"status-set", "juju-log", "network-get"} & set(asked)
    assert asked.count("leader-get") == 1
    assert unit.juju.status == ("active", READY)


def test_a_hook_that_changes_flags_writes_its_whole_trace_in_one_log_entry(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    unit.juju.config["port"] = 6400
    unit.juju.calls.clear()
    unit.run_hook("config-changed")
    written = [call[-1] for call in unit.juju.calls if call[:3] == ["juju-log", "-l", "DEBUG"]]
    assert len(written) == 1
    lines = written[0].splitlines()
    assert lines[0] == "Reactive main running for hook config-changed"
    assert "tracer: set flag redis.pending" in lines
    assert [line for line in lines if line.startswith("Invoking reactive handler: ") and line.endswith(":converge")]


def test_charms_reactives_own_start_steps_still_run_a_series_upgrade_is_flagged_while_it_lasts(unit: Unit) -> None:
    deploy(unit)
    unit.run_hook("pre-series-upgrade")
    assert "upgrade.series.in-progress" in unit.flags()
    unit.run_hook("post-series-upgrade")
    assert "upgrade.series.in-progress" not in unit.flags()


def test_a_failed_hook_writes_its_trace_with_the_error_at_error_level(
    unit: Unit, redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*args: object, **kwargs: object) -> workload.Outcome:
        raise RuntimeError("the health check broke")

    deploy(unit)
    monkeypatch.setattr(workload, "report", failing)
    with pytest.raises(RuntimeError):
        unit.run_hook("update-status")
    written = [call[-1] for call in unit.juju.calls if call[:3] == ["juju-log", "-l", "ERROR"]]
    assert len(written) == 1
    assert written[0].startswith("Reactive main running for hook update-status\n")
    assert "\nHook error:\nTraceback (most recent call last):\n" in written[0]
    assert written[0].endswith("RuntimeError: the health check broke\n")


@pytest.mark.parametrize("hook", ["collect-metrics", "meter-status-changed"])
def test_a_restricted_hook_runs_no_start_step_and_asks_juju_nothing(unit: Unit, redis: FakeRedis, hook: str) -> None:
    deploy(unit)
    assert tools_called(unit, hook) == []


def test_the_status_is_set_again_as_soon_as_the_health_check_finds_something_else(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    redis.health = "blocked"
    unit.run_hook("update-status")
    assert unit.juju.status == ("blocked", "Redis is not running: Redis does not answer")
    redis.health = "active"
    assert "status-set" in tools_called(unit, "update-status")
    assert unit.juju.status == ("active", READY)


@pytest.mark.parametrize("hook", ["config-changed", "start", "upgrade-charm"])
def test_a_status_changed_outside_the_charm_is_put_right_by_the_next_refreshing_hook(
    unit: Unit, redis: FakeRedis, hook: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def nothing_to_do(facts: workload.Facts, progress: Callable[[str], None]) -> workload.Outcome:
        desired = workload.resolve(facts)
        return workload.Outcome("active", READY, desired, "7.0.15", workload.installation_key(desired.settings))

    deploy(unit)
    monkeypatch.setattr(workload, "converge", nothing_to_do)
    unit.juju.statuses.append(("maintenance", "set by an operator"))
    unit.run_hook("update-status")
    assert unit.juju.status == ("maintenance", "set by an operator")  # the remembered status is trusted here
    unit.run_hook(hook)
    assert unit.juju.status == ("active", READY)


def test_after_a_failed_hook_the_status_is_set_again(
    unit: Unit, redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from charmhelpers.core import hookenv

    def set_status_then_fail(*args: object, **kwargs: object) -> workload.Outcome:
        hookenv.status_set("maintenance", "half-way")
        raise RuntimeError("the hook fails after setting a status")

    deploy(unit)
    with monkeypatch.context() as failing:
        failing.setattr(workload, "report", set_status_then_fail)
        with pytest.raises(RuntimeError):
            unit.run_hook("update-status")  # Juju keeps "half-way"; the hook's kv changes roll back
    assert unit.juju.status == ("maintenance", "half-way")
    unit.run_hook("update-status")
    assert unit.juju.status == ("active", READY)


def test_a_hook_that_failed_after_converging_is_converged_again_by_the_next_hook(
    unit: Unit, redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(exporter: metrics.Exporter) -> bool:
        raise RuntimeError("the exporter's unit file could not be parsed")

    deploy(unit)
    unit.juju.config["timeout"] = 30
    with monkeypatch.context() as failing:
        failing.setattr(metrics, "configure", broken)  # after converge, in the same hook
        with pytest.raises(RuntimeError):
            unit.run_hook("config-changed")
    converged = len(redis.converged)
    unit.run_hook("update-status")  # Juju rolled the failed hook back: the option is still a change
    assert len(redis.converged) == converged + 1 and redis.converged[-1].config["timeout"] == 30
    assert redis.exporters[-1].password == unit.juju.secret_content()["charm-monitoring"]


def test_an_address_is_asked_again_in_config_changed_and_upgrade_charm(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    rid = unit.juju.relate("redis", "webapp/0")
    unit.run_hook("redis-relation-joined", rid, "webapp/0")
    unit.juju.address = "127.1.2.4"
    unit.run_hook("update-status")  # Juju has not said the address changed: the remembered one stands
    assert unit.juju.relations[rid].local["host"] == "127.1.2.3"
    unit.run_hook("config-changed")
    assert (redis.converged[-1].ingress, unit.juju.relations[rid].local["host"]) == ("127.1.2.4", "127.1.2.4")
    unit.juju.address = "127.1.2.5"
    unit.run_hook("upgrade-charm")
    assert unit.juju.relations[rid].local["host"] == "127.1.2.5"


def test_a_follower_sees_the_leaders_new_password_in_its_next_hook(unit: Unit, redis: FakeRedis) -> None:
    unit.juju.leader = False
    unit.juju.leader_settings["password"] = "first"
    deploy(unit)
    unit.juju.leader_settings["password"] = "second"
    unit.run_hook("leader-settings-changed")
    assert redis.converged[-1].leader_password == "second"


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


def test_a_leader_that_cannot_read_the_passwords_secret_waits_without_failing_the_hook(
    unit: Unit, redis: FakeRedis
) -> None:
    unit.juju.leader_settings.update({"password-secret": "secret:gone", "password-secret-revision": "1"})
    rid = unit.juju.relate("redis", "webapp/0")
    deploy(unit)
    unit.run_hook("redis-relation-joined", rid, "webapp/0")
    assert unit.juju.status == ("waiting", "Waiting for the leader to generate the password")
    assert [line for line in unit.juju.logs if line.startswith("The generated passwords cannot be read: ")]
    assert unit.juju.secrets == {} and unit.juju.relations[rid].local == {}


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


def test_the_leader_forgets_an_expired_old_password_on_its_next_hook(unit: Unit, redis: FakeRedis) -> None:
    deploy(unit)
    rid = unit.juju.relate("redis", "webapp/0")
    unit.run_hook("redis-relation-joined", rid, "webapp/0")
    content = unit.juju.secret_content()
    expired = rotation.OldPassword("expired-password-1", time.time() - 1)
    kept = rotation.OldPassword("kept-password-1", time.time() + 3600)
    revision = str(int(content["revision"]) + 1)
    ident = unit.juju.leader_settings["password-secret"]
    unit.juju.secrets[ident].append({**rotation.with_old(content, "app-webapp", (expired, kept)), "revision": revision})
    unit.juju.leader_settings["password-secret-revision"] = revision
    unit.run_hook("update-status")
    assert rotation.old_passwords(unit.juju.secret_content(), "app-webapp") == (kept,)
    assert redis.converged[-1].old_client_passwords == (("app-webapp", "kept-password-1"),)


def test_the_leader_removes_only_earlier_revisions_of_its_own_secret_that_no_unit_tracks(
    unit: Unit, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy(unit)
    ident = unit.juju.leader_settings["password-secret"]
    unit.juju.secrets[ident].append({**unit.juju.secrets[ident][-1], "revision": "2"})  # a rotation's revision
    unit.juju.leader_settings["password-secret-revision"] = "2"

    def secret_remove(secret: str, revision: str) -> list[tuple[str, int]]:
        monkeypatch.setenv("JUJU_SECRET_ID", secret)
        monkeypatch.setenv("JUJU_SECRET_REVISION", revision)
        unit.run_hook("secret-remove")
        return unit.juju.removed_revisions

    assert secret_remove("secret:another0000000000", "1") == []  # not this application's secret
    assert secret_remove(ident, "2") == []  # the revision every unit reads
    assert secret_remove(ident, "1") == [(ident, 1)]
    unit.juju.leader = False
    assert secret_remove(ident, "1") == [(ident, 1)]  # only the leader removes
    unit.juju.leader = True
    unit.juju.secrets["secret:elsewhere"] = unit.juju.secrets.pop(ident)  # so that Juju refuses
    secret_remove(ident, "1")
    refused = "Revision 1 of the passwords' secret not removed: secret-remove failed (exit status 1)"
    assert refused in unit.juju.logs
