"""Which password and settings a unit uses, and the snapd commands for the snap options."""

from __future__ import annotations

from charms.layer.redis import service, workload

from test_settings import DEFAULTS


def facts(**config: object) -> workload.Facts:
    return workload.Facts(config={**DEFAULTS, **config}, leader_password=None, ingress="10.0.0.1")


def test_a_follower_waits_for_the_leaders_password() -> None:
    outcome = workload.resolve(facts())
    assert outcome == workload.Outcome("waiting", "Waiting for the leader to generate the password")


def test_the_generated_password_is_used_when_none_is_configured() -> None:
    desired = workload.resolve(workload.Facts(DEFAULTS, leader_password="generated", ingress="10.0.0.1"))
    assert isinstance(desired, workload.Desired) and desired.password == "generated"


def test_a_configured_password_wins() -> None:
    desired = workload.resolve(workload.Facts({**DEFAULTS, "password": "mine"}, "generated", "10.0.0.1"))
    assert isinstance(desired, workload.Desired) and desired.password == "mine"


def test_bad_input_blocks_before_anything_else() -> None:
    outcome = workload.resolve(workload.Facts({**DEFAULTS, "port": 70000}, "generated", "10.0.0.1"))
    assert outcome.status == "blocked" and outcome.message.startswith("invalid port: ")


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
