"""converge's paths one by one: progress, passwords, switching installations, restoring, and the final check."""

from __future__ import annotations

import dataclasses

import pytest
from fake_machine import FakeMachine

from charms.layer.redis import admin, conf, service, settings, workload

from fakejuju import config_defaults

DEFAULTS = config_defaults()
SNAP = {"install-source": "snap"}


def facts(installed: str | None = "apt", password: str = "generated-pw", **config: object) -> workload.Facts:
    return workload.Facts({**DEFAULTS, **config}, password, "10.0.0.1", installed=installed)


def converge(machine: FakeMachine, installed: str | None = "apt", **config: object) -> workload.Outcome:
    return workload.converge(facts(installed, **config), machine.progress.append)


def test_a_fresh_unit_reports_installing_then_starting(machine: FakeMachine) -> None:
    machine.active = False
    outcome = converge(machine, installed=None)
    assert machine.progress == ["Installing Redis (apt)", "Starting Redis"]
    assert outcome == workload.Outcome("active", "Ready (redis 7.0.15)", workload.resolve(facts(None)), "7.0.15", "apt")


def test_a_restart_is_reported_as_one(machine: FakeMachine) -> None:
    converge(machine)
    machine.progress.clear()
    converge(machine, databases=8)
    assert machine.progress == ["Restarting Redis"]


def test_a_password_change_goes_live_with_the_old_password_and_redis_then_takes_the_new(
    machine: FakeMachine,
) -> None:
    converge(machine)
    machine.actions.clear()
    outcome = workload.converge(facts(password="new-pw"), machine.progress.append)
    assert outcome.ready and machine.actions == []
    assert machine.live == {"masterauth": "new-pw", "requirepass": "new-pw"}
    assert machine.password == "new-pw"


def test_an_unreachable_server_gets_the_new_file_by_a_restart_only_once_it_is_not_running(
    machine: FakeMachine,
) -> None:
    converge(machine)
    before = machine.config
    machine.unreachable = True
    machine.actions.clear()
    outcome = converge(machine, timeout=30)
    # Running but not answering (it may be saving): never restarted over, the file kept.
    assert outcome.status == "blocked" and outcome.retry
    assert outcome.message == "timeout not applied: ConnectionError; Redis was left running"
    assert machine.actions == [] and machine.config == before
    machine.unreachable, machine.active = False, False
    assert converge(machine, timeout=30).ready
    assert machine.actions == ["restart redis-server"]
    assert conf.directives(machine.config or "")["timeout"] == "30"


def test_a_stopped_redis_with_an_unchanged_file_is_started(machine: FakeMachine) -> None:
    converge(machine)
    machine.active = False
    machine.actions.clear()
    assert converge(machine).ready
    assert machine.actions == ["restart redis-server"]


def test_the_final_check_waits_up_to_30_seconds(machine: FakeMachine) -> None:
    converge(machine)
    assert machine.timeouts[-1] == 30.0
    assert machine.intervals[-1] == 0.2


def test_a_live_change_that_leaves_redis_silent_is_reported_not_restored(machine: FakeMachine) -> None:
    converge(machine)
    machine.actions.clear()
    machine.answers = False
    outcome = converge(machine, timeout=30)
    assert outcome.status == "blocked" and outcome.message == "Redis is running: no answer"
    assert machine.actions == []  # no restart was made, so there is nothing to restore


def test_a_redis_that_does_not_answer_is_blocked_and_says_whether_it_runs(
    machine: FakeMachine, monkeypatch: pytest.MonkeyPatch
) -> None:
    converge(machine)
    desired = workload.resolve(facts())
    assert isinstance(desired, workload.Desired)
    layout = service.APT_LAYOUT
    machine.password = "someone-else-s"
    outcome = workload.check(desired, layout, "apt", timeout=1)
    assert outcome == workload.Outcome("blocked", "Redis is running: Redis refused the password", desired, "", "apt")
    assert machine.timeouts[-1] == 1
    machine.active = False
    assert workload.check(desired, layout, "apt").message == "Redis is not running: no answer"


def test_a_failed_first_start_is_retried_and_keeps_nothing_to_restore(machine: FakeMachine) -> None:
    machine.active = False
    outcome = converge(machine, installed=None, databases=99)
    assert outcome.status == "blocked" and outcome.retry
    assert outcome.message == (
        "the new configuration needs a restart, which did not come up (Redis is not running: no answer)"
    )
    assert (outcome.installed, outcome.version) == ("apt", "")


def test_a_restart_that_fails_outright_restores_the_previous_file(
    machine: FakeMachine, monkeypatch: pytest.MonkeyPatch
) -> None:
    converge(machine)
    before = machine.config
    machine.progress.clear()
    calls: list[str] = []

    def first_restart_fails(action: str, name: str, *options: str) -> None:
        calls.append(action)
        if len(calls) == 1:
            raise service.ServiceError("systemctl restart redis-server failed: timeout")
        machine.systemctl(action, name, *options)

    monkeypatch.setattr(service, "systemctl", first_restart_fails)
    outcome = converge(machine, databases=8)
    assert outcome.message == (
        "databases needs a restart, which failed: systemctl restart redis-server failed: timeout; "
        "Redis runs with its previous configuration"
    )
    assert machine.config == before
    assert machine.progress == ["Restarting Redis", "Restoring the previous Redis configuration"]
    assert not outcome.retry and outcome.version == ""


def test_when_restoring_fails_too_the_status_says_both(machine: FakeMachine) -> None:
    converge(machine)
    machine.broken_services.add("redis-server")
    outcome = converge(machine, databases=8)
    assert outcome.status == "blocked" and not outcome.retry and outcome.version == ""
    assert outcome.message == (
        "databases needs a restart, which failed: systemctl restart redis-server failed: Unit redis-server "
        "not found.; restoring the previous configuration failed: systemctl restart redis-server failed: "
        "Unit redis-server not found."
    )


def test_a_refused_value_is_named_and_not_retried(machine: FakeMachine) -> None:
    converge(machine)
    machine.refuse.add("timeout")
    outcome = converge(machine, timeout=5)
    assert outcome == workload.Outcome(
        "blocked",
        "Redis refused timeout: Unable to listen on this port; it keeps its configuration",
        workload.resolve(facts(timeout=5)),
        "",
        "apt",
    )


def test_a_failed_install_of_a_new_source_brings_the_previous_one_back(
    machine: FakeMachine, monkeypatch: pytest.MonkeyPatch
) -> None:
    converge(machine)

    def failing_snap(*args: object) -> None:
        raise service.ServiceError("snap install failed: no snap named redis")

    monkeypatch.setattr(service, "install_snap", failing_snap)
    outcome = converge(machine, **SNAP)
    assert outcome.status == "blocked" and outcome.retry and outcome.installed == "apt"
    assert outcome.version == ""
    assert outcome.message == (
        "install-source: snap install failed: no snap named redis; the previous Redis keeps serving"
    )
    assert machine.actions[-1] == "enable redis-server --now"


def test_switching_to_the_snap_stops_apt_redis_first(machine: FakeMachine) -> None:
    converge(machine)
    machine.actions.clear()
    outcome = converge(machine, **SNAP)
    assert outcome.ready and outcome.installed == workload.installation_key(settings.parse({**DEFAULTS, **SNAP}))
    assert machine.actions == ["install snap", "disable redis-server --now", "restart snap.redis.server"]


def test_a_new_installation_that_does_not_answer_gives_way_to_the_previous(machine: FakeMachine) -> None:
    converge(machine)
    machine.answers = False
    outcome = converge(machine, **SNAP)
    assert outcome.status == "blocked" and outcome.version == "" and outcome.installed == "apt"
    assert outcome.message == (
        "install-source needs a restart, which did not come up (Redis is running: no answer); "
        "the previous Redis keeps serving"
    )


def test_an_old_service_that_cannot_be_disabled_but_is_stopped_does_not_block(machine: FakeMachine) -> None:
    converge(machine)
    machine.broken_services.add("redis-server")  # e.g. the package was removed by hand
    assert converge(machine, **SNAP).ready


def test_an_old_service_that_cannot_be_stopped_blocks_the_switch(
    machine: FakeMachine, monkeypatch: pytest.MonkeyPatch
) -> None:
    converge(machine)
    machine.broken_services.add("redis-server")
    monkeypatch.setattr(service, "is_active", lambda name: True)
    outcome = converge(machine, **SNAP)
    assert outcome.status == "blocked" and outcome.retry
    assert outcome.message.startswith("install-source: systemctl disable redis-server failed: ")
    assert outcome.message.endswith("; the previous Redis could not be started again")


def test_bring_back_without_a_previous_installation_says_nothing() -> None:
    assert workload.bring_back(None) == ""


def test_installation_keys_carry_everything_snapd_was_told() -> None:
    parsed = settings.parse(
        {**DEFAULTS, **SNAP, "snap-channel": "7/edge", "snap_proxy": "http://p:1", "snap_proxy_url": "https://s"}
    )
    key = workload.installation_key(parsed)
    assert key == "snap\nredis\n7/edge\nhttp://p:1\nhttps://s\n"
    assert workload.layout_of(key) == service.snap_layout("redis")
    named = settings.parse({**DEFAULTS, **SNAP, "snap-name": "redis-7", "snapd_refresh": "max"})
    assert workload.layout_of(workload.installation_key(named)).service == "snap.redis-7.server"


def test_replaced_layout_only_when_the_service_changes() -> None:
    apt = settings.parse(DEFAULTS)
    snap = settings.parse({**DEFAULTS, **SNAP})
    moved = settings.parse({**DEFAULTS, **SNAP, "snap-channel": "7/edge"})
    assert workload.replaced_layout(None, apt) is None
    assert workload.replaced_layout("apt", apt) is None
    assert workload.replaced_layout("apt", snap) == service.APT_LAYOUT
    assert workload.replaced_layout(workload.installation_key(snap), apt) == service.snap_layout("redis")
    assert workload.replaced_layout(workload.installation_key(snap), moved) is None


def test_facts_and_outcomes_have_empty_defaults_and_are_values() -> None:
    facts = workload.Facts({}, None, "10.0.0.1")
    assert (facts.deployed_cluster_enabled, facts.installed) == (None, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.installed = "apt"  # type: ignore[misc]
    outcome = workload.Outcome("waiting", "why")
    assert (outcome.desired, outcome.version, outcome.installed, outcome.retry) == (None, "", None, False)
    assert hash(outcome) == hash(workload.Outcome("waiting", "why"))
    desired = workload.resolve(workload.Facts(DEFAULTS, "pw", "10.0.0.1"))
    assert hash(desired) == hash(workload.resolve(workload.Facts(DEFAULTS, "pw", "10.0.0.1")))


def test_blocked_and_waiting_outcomes_keep_what_is_installed() -> None:
    assert workload.resolve(facts(port=1)).installed == "apt"  # type: ignore[union-attr]
    waiting = workload.resolve(workload.Facts(DEFAULTS, None, "10.0.0.1", installed="apt"))
    assert waiting == workload.Outcome("waiting", "Waiting for the leader to generate the password", installed="apt")
    assert workload.Outcome("active", "x").ready and not workload.Outcome("blocked", "x").ready


def test_a_redis_running_without_the_charms_file_is_snapshotted_then_restarted_with_it(machine: FakeMachine) -> None:
    # The package's own redis.conf (no password), e.g. put back by a package upgrade, with Redis running on it.
    assert machine.config is None and machine.active and machine.password == ""
    outcome = converge(machine)
    assert machine.actions == ["snapshot", "restart redis-server"]
    assert outcome.ready and machine.password == "generated-pw"


def test_a_restart_with_the_aof_already_on_waits_for_a_snapshot_only(machine: FakeMachine) -> None:
    assert converge(machine, appendonly=True).ready
    machine.actions.clear()
    assert converge(machine, appendonly=True, databases=32).ready
    assert machine.actions == ["snapshot", "restart redis-server"]


def test_a_stopped_redis_is_started_with_a_new_applications_user_from_its_file(machine: FakeMachine) -> None:
    converge(machine)
    machine.active = False
    machine.actions.clear()
    related = dataclasses.replace(facts(), client_passwords=(("app-web", "web-pw"),))
    assert workload.converge(related, machine.progress.append).ready
    assert machine.actions == ["restart redis-server"]
    assert [user.name for user in machine.users] == ["default", "app-web"]


def test_a_converge_that_changes_nothing_does_not_rewrite_the_file(
    machine: FakeMachine, monkeypatch: pytest.MonkeyPatch
) -> None:
    converge(machine)
    written: list[str] = []
    monkeypatch.setattr(service, "write_config", lambda layout, text: written.append(text))
    assert converge(machine).ready
    assert written == []


def test_a_systemd_that_does_not_answer_blocks_and_is_retried(
    machine: FakeMachine, monkeypatch: pytest.MonkeyPatch
) -> None:
    converge(machine)

    def no_answer(name: str) -> bool:
        raise service.NoAnswer(f"systemctl is-active {name} did not answer within 10 s")

    monkeypatch.setattr(service, "is_active", no_answer)
    outcome = converge(machine)
    assert (outcome.status, outcome.message) == (
        "blocked",
        "systemctl is-active redis-server did not answer within 10 s",
    )
    assert outcome.retry and outcome.installed == "apt"


def test_a_restart_refused_for_want_of_a_snapshot_says_where_to_free_space(machine: FakeMachine) -> None:
    converge(machine)
    machine.cannot_save = "No space left on device"
    outcome = converge(machine, databases=8)
    assert outcome.message == (
        "databases needs a restart, refused: Redis cannot save (No space left on device), a restart would lose "
        "data; free space in /var/lib/redis (the charm retries at each hook)"
    )


def test_a_restart_systemd_does_not_answer_is_named_and_retried(
    machine: FakeMachine, monkeypatch: pytest.MonkeyPatch
) -> None:
    converge(machine)

    def hung(action: str, name: str, *options: str) -> None:
        raise service.NoAnswer(f"systemctl {action} {name} did not answer within 120 s")

    monkeypatch.setattr(service, "systemctl", hung)
    outcome = converge(machine, databases=8)
    assert (outcome.status, outcome.message) == (
        "blocked",
        "databases: systemctl restart redis-server did not answer within 120 s",
    )
    assert outcome.retry and outcome.installed == "apt"


def test_a_new_password_not_applied_yet_is_reported_as_such_not_as_a_refusal(machine: FakeMachine) -> None:
    converge(machine)
    outcome = workload.report(facts(password="new-pw"), None)
    assert outcome.status == "blocked" and outcome.message.endswith("password not in effect yet")


def test_a_silent_redis_under_a_silent_systemd_is_in_an_unknown_state(
    machine: FakeMachine, monkeypatch: pytest.MonkeyPatch
) -> None:
    converge(machine)
    machine.answers = False

    def no_answer(name: str) -> bool:
        raise service.NoAnswer(f"systemctl is-active {name} did not answer within 10 s")

    monkeypatch.setattr(service, "is_active", no_answer)
    desired = workload.resolve(facts())
    assert isinstance(desired, workload.Desired)
    outcome = workload.check(desired, service.APT_LAYOUT, "apt", timeout=5)
    assert outcome.message == "Redis is in an unknown state (systemd does not answer): no answer"


def test_drift_redis_refuses_to_undo_blocks_and_names_the_refusal(
    machine: FakeMachine, monkeypatch: pytest.MonkeyPatch
) -> None:
    converge(machine)

    def refuse(*args: object, **kwargs: object) -> list[str]:
        raise admin.Refused("maxmemory: ERR Invalid argument")

    monkeypatch.setattr(admin, "repair_drift", refuse)
    outcome = converge(machine)
    assert (outcome.status, outcome.message) == (
        "blocked",
        "Redis drifted from its configuration and maxmemory: ERR Invalid argument",
    )


def test_a_unit_without_the_charms_file_reports_it_is_not_configured_and_retries(machine: FakeMachine) -> None:
    outcome = workload.report(facts(), None)
    assert (outcome.status, outcome.message, outcome.retry) == ("blocked", "Redis is not configured yet", True)
    remembered = workload.report(facts(), "databases needs a restart, which failed")
    assert remembered.message == "databases needs a restart, which failed" and remembered.retry
