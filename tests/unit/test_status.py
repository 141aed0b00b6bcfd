"""The status a hook that changes nothing reports: the truth about what runs and what was repaired."""

from __future__ import annotations

from fake_machine import FakeMachine

from charms.layer.redis import workload

from fakejuju import config_defaults

DEFAULTS = config_defaults()


def facts(installed: str = "apt", **config: object) -> workload.Facts:
    return workload.Facts({**DEFAULTS, **config}, "generated-pw", "10.0.0.1", installed=installed)


def converge(**config: object) -> workload.Outcome:
    return workload.converge(facts(**config), lambda message: None)


def test_a_failed_restart_stays_blocked_and_names_the_option(machine: FakeMachine) -> None:
    converge()
    failed = converge(databases=99)
    assert failed.message.startswith("databases needs a restart, which did not come up (Redis is not running")
    outcome = workload.report(facts(databases=99), failed.message)
    assert outcome.status == "blocked" and outcome.message == failed.message


def test_a_refused_value_stays_blocked_until_the_configuration_is_back(machine: FakeMachine) -> None:
    converge()
    machine.refuse.add("port")
    refused = converge(port=6400)
    assert workload.report(facts(port=6400), refused.message) == workload.Outcome(
        "blocked", refused.message, refused.desired, "", "apt"
    )
    assert workload.report(facts(), refused.message).ready


def test_without_a_remembered_problem_the_options_not_in_effect_are_named(machine: FakeMachine) -> None:
    converge()
    outcome = workload.report(facts(port=6400, timeout=5), None)
    assert outcome.status == "blocked" and outcome.message == "port, timeout not in effect yet"


def test_a_failed_switch_of_installation_stays_blocked(machine: FakeMachine) -> None:
    converge()
    outcome = workload.report(facts(**{"install-source": "snap"}), None)
    assert outcome.status == "blocked" and outcome.message == "install-source not in effect yet"


def test_what_was_repaired_is_said(machine: FakeMachine) -> None:
    converge()
    machine.drifted = ["default user ACL", "maxmemory"]
    machine.bad_modes = ["/etc/redis/redis.conf was 644 0:0"]
    outcome = workload.report(facts(), None)
    assert outcome.ready
    assert outcome.message == (
        "Ready (redis 7.0.15); repaired: /etc/redis/redis.conf was 644 0:0, default user ACL, maxmemory"
    )
    assert outcome.repaired == ("/etc/redis/redis.conf was 644 0:0", "default user ACL", "maxmemory")
    assert workload.report(facts(), None).message == "Ready (redis 7.0.15)"


def test_a_hung_redis_is_named(machine: FakeMachine) -> None:
    converge()
    machine.hung = True
    outcome = workload.report(facts(), None, timeout=2.0)
    assert outcome.status == "blocked"
    assert outcome.message == "Redis is running: Redis did not answer within 2 s"


def test_converge_repairs_drift_too(machine: FakeMachine) -> None:
    converge()
    machine.drifted = ["replication role (was a replica)"]
    outcome = converge()
    assert outcome.ready and outcome.repaired == ("replication role (was a replica)",)
