"""Which password and settings a unit uses, and the snapd commands for the snap options."""

from __future__ import annotations

import dataclasses

import pytest
from fake_machine import FakeMachine

from charms.layer.redis import conf, service, users, workload

from fakejuju import config_defaults

DEFAULTS = config_defaults()


def facts(**config: object) -> workload.Facts:
    return workload.Facts(config={**DEFAULTS, **config}, leader_password=None, ingress="10.0.0.1")


def test_a_follower_waits_for_the_leaders_password() -> None:
    outcome = workload.resolve(facts())
    assert outcome == workload.Outcome("waiting", "Waiting for the leader to generate the password")


def test_the_generated_password_is_used_when_none_is_configured() -> None:
    desired = workload.resolve(workload.Facts(DEFAULTS, leader_password="generated", ingress="10.0.0.1"))
    assert isinstance(desired, workload.Desired) and desired.password == "generated"


def test_a_configured_password_wins() -> None:
    desired = workload.resolve(workload.Facts({**DEFAULTS, "password": "mine-long-enough"}, "generated", "10.0.0.1"))
    assert isinstance(desired, workload.Desired) and desired.password == "mine-long-enough"


def test_bad_input_blocks_before_anything_else() -> None:
    outcome = workload.resolve(workload.Facts({**DEFAULTS, "port": 70000}, "generated", "10.0.0.1"))
    assert outcome.status == "blocked" and outcome.message.startswith("invalid port: ")


def test_a_cluster_node_keeps_its_port() -> None:
    cluster = {**DEFAULTS, "cluster-enabled": True, "port": 6380}
    outcome = workload.resolve(workload.Facts(cluster, "generated", "10.0.0.1", cluster_port=6379))
    assert isinstance(outcome, workload.Outcome)
    assert outcome.status == "blocked"
    assert outcome.message == "invalid port: is fixed at 6379 once the unit is in a Redis Cluster; set it back"
    same = workload.resolve(workload.Facts({**cluster, "port": 6379}, "generated", "10.0.0.1", cluster_port=6379))
    assert isinstance(same, workload.Desired)
    before = workload.resolve(workload.Facts(cluster, "generated", "10.0.0.1"))
    assert isinstance(before, workload.Desired)


def test_snapd_options_become_snap_set_commands() -> None:
    commands = service.snapd_commands("http://proxy:3128", "max")
    assert ["snap", "set", "system", "proxy.http=http://proxy:3128"] in commands
    assert ["snap", "set", "system", "proxy.https=http://proxy:3128"] in commands
    assert ["snap", "set", "system", f"refresh.timer={service.MONTHLY_REFRESH_TIMER}"] in commands
    assert service.snapd_commands("", "fri,23:00") == [
        ["snap", "unset", "system", "proxy.http"],
        ["snap", "unset", "system", "proxy.https"],
        ["snap", "set", "system", "refresh.timer=fri,23:00"],
    ]


def test_store_id_comes_from_the_proxys_assertions() -> None:
    assertions = "type: account-key\nauthority-id: canonical\n\ntype: store\nstore: ABCDEF123\nurl: http://p\n"
    assert service.store_id(assertions) == "ABCDEF123"


def test_installation_key_tells_apt_from_each_snap_setup() -> None:
    apt = workload.resolve(workload.Facts(DEFAULTS, "pw", "10.0.0.1"))
    snap = workload.resolve(workload.Facts({**DEFAULTS, "install-source": "snap"}, "pw", "10.0.0.1"))
    moved = workload.resolve(
        workload.Facts({**DEFAULTS, "install-source": "snap", "snap-channel": "7/edge"}, "pw", "10.0.0.1")
    )
    keys = [workload.installation_key(d.settings) for d in (apt, snap, moved)]
    assert keys[0] == "apt" and len(set(keys)) == 3
    assert workload.layout_of(keys[1]).service == "snap.redis.server"
    assert workload.layout_of(None) == workload.layout_of("apt") == service.APT_LAYOUT


def converge(machine: FakeMachine, installed: str | None = "apt", **config: object) -> workload.Outcome:
    facts = workload.Facts({**DEFAULTS, **config}, "generated-pw", "10.0.0.1", installed=installed)
    return workload.converge(facts, lambda message: None)


def test_first_converge_installs_renders_and_starts(machine: FakeMachine) -> None:
    machine.active = False
    outcome = converge(machine, installed=None)
    assert outcome.status == "active" and outcome.message == "Ready (redis 7.0.15)"
    assert outcome.installed == "apt"
    assert machine.actions == ["install apt", "restart redis-server"]
    assert conf.directives(machine.config or "")["requirepass"] == "generated-pw"


def test_converging_twice_does_nothing_the_second_time(machine: FakeMachine) -> None:
    converge(machine)
    machine.actions.clear()
    assert converge(machine).ready
    assert machine.actions == [] and machine.live == {}


def test_runtime_change_goes_live_without_restart(machine: FakeMachine) -> None:
    converge(machine)
    machine.actions.clear()
    assert converge(machine, timeout=30).ready
    assert machine.live == {"timeout": "30"}
    assert machine.actions == []
    assert conf.directives(machine.config or "")["timeout"] == "30"


def test_a_value_redis_refuses_leaves_the_file_and_server_alone(machine: FakeMachine) -> None:
    converge(machine)
    before = machine.config
    machine.refuse.add("port")
    machine.actions.clear()
    outcome = converge(machine, port=6400)
    assert outcome.status == "blocked"
    assert outcome.message == "Redis refused port: Unable to listen on this port; it keeps its configuration"
    assert machine.config == before and machine.actions == []
    assert not outcome.retry


def test_a_restart_that_does_not_come_up_restores_the_previous_configuration(machine: FakeMachine) -> None:
    converge(machine)
    before = machine.config
    outcome = converge(machine, databases=99)
    assert outcome.status == "blocked"
    assert outcome.message.endswith("; Redis runs with its previous configuration")
    assert machine.config == before and machine.active
    assert machine.actions[-2:] == ["restart redis-server", "restart redis-server"]
    assert not outcome.retry  # retrying would only restart Redis again and again


def test_a_failed_install_is_retried_and_reported(machine: FakeMachine) -> None:
    machine.install_fails = True
    machine.active = False
    outcome = converge(machine, installed=None)
    assert outcome.status == "blocked" and "Temporary failure resolving" in outcome.message
    assert outcome.retry and outcome.installed is None


def test_a_systemd_that_does_not_answer_blocks_saying_so_and_is_asked_again_next_hook(machine: FakeMachine) -> None:
    converge(machine)
    machine.actions.clear()
    machine.systemd_answers = False
    outcome = converge(machine)
    assert (outcome.status, outcome.message) == (
        "blocked",
        "systemctl is-active redis-server did not answer within 600 s",
    )
    assert outcome.retry and machine.actions == []


def test_a_restart_with_aof_already_on_only_takes_a_snapshot_first(machine: FakeMachine) -> None:
    assert converge(machine, appendonly=True).ready
    machine.actions.clear()
    assert converge(machine, appendonly=True, databases=32).ready
    assert machine.actions == ["snapshot", "restart redis-server"]


@pytest.mark.parametrize(
    "change",
    [{"client_passwords": (("app-web", "web-pw"),)}, {"leader_password": "generated-pw-2"}],
    ids=["an application related", "a new password"],
)
def test_a_stopped_redis_whose_users_changed_is_started_with_them_asking_it_nothing(
    machine: FakeMachine, change: dict[str, object]
) -> None:
    before = workload.Facts({**DEFAULTS}, "generated-pw", "127.1.2.3", installed="apt")
    assert workload.converge(before, lambda message: None).ready
    machine.active = False  # stopped since (a crash, an operator)
    machine.actions.clear()
    changed = dataclasses.replace(before, **change)
    outcome = workload.converge(changed, lambda message: None)
    assert outcome.ready and machine.actions == ["restart redis-server"]
    assert machine.rendered_users() == list(workload.resolve(changed).users)


def test_a_missing_program_is_a_service_error_not_a_crash() -> None:
    with pytest.raises(service.ServiceError, match="cannot run"):
        service.run(["/nonexistent/redis-server", "--version"])
    layout = service.snap_layout("not-installed")
    assert service.installed_version(layout) == (0, 0, 0)


def test_a_new_installation_that_does_not_start_gives_way_to_the_previous_one(machine: FakeMachine) -> None:
    converge(machine)
    machine.broken_services.add("snap.redis.server")
    machine.actions.clear()
    outcome = converge(machine, installed="apt", **{"install-source": "snap"})
    assert outcome.status == "blocked"
    assert outcome.message.endswith("Unit snap.redis.server not found.; the previous Redis keeps serving")
    assert machine.actions == [
        "install snap",
        "disable redis-server --now",
        "restart snap.redis.server",
        "enable redis-server --now",
    ]
    assert outcome.installed == "apt" and not outcome.retry


def test_without_a_rotation_an_applications_user_takes_its_current_password_only() -> None:
    related = workload.Facts(DEFAULTS, "pw", "10.0.0.1", client_passwords=(("app-web", "web-pw"),))
    desired = workload.resolve(related)
    assert isinstance(desired, workload.Desired)
    web = [user for user in desired.users if user.name == "app-web"]
    assert [user.password_hashes for user in web] == [(users.password_hash("web-pw"),)]


def test_a_new_password_keeps_the_old_one_and_the_applications_accepted_at_every_step(machine: FakeMachine) -> None:
    before = workload.Facts(
        {**DEFAULTS}, "generated-pw", "127.1.2.3", installed="apt", client_passwords=(("app-web", "web-pw"),)
    )
    assert workload.converge(before, lambda message: None).ready
    machine.default_hashes_seen.clear()
    machine.actions.clear()
    rotated = dataclasses.replace(before, leader_password="generated-pw-2", old_default_passwords=("generated-pw",))
    assert workload.converge(rotated, lambda message: None).ready
    assert machine.actions == [] and machine.password == "generated-pw-2"  # live, no restart
    still_accepted = {users.password_hash("generated-pw"), users.password_hash("web-pw")}
    assert machine.default_hashes_seen
    assert all(still_accepted <= set(seen) for seen in machine.default_hashes_seen)
