"""Password rotation's state: a new password added, the old kept until it expires, forgotten on demand."""

from __future__ import annotations

import itertools
import json

from charms.layer.redis import credentials, rotation, users

from fakejuju import config_defaults

CONTENT = {"password": "default-pw", "app-web": "web-pw-1", "app-worker": "worker-pw-1", "revision": "3"}


def new_passwords():
    counter = itertools.count(2)
    return lambda: f"new-pw-{next(counter)}"


def test_rotation_adds_a_new_password_and_keeps_the_old_one_until_the_grace_period_ends() -> None:
    rotated = rotation.rotate(CONTENT, ["app-web"], now=1000.0, grace=60.0, generate=new_passwords())
    assert rotated["app-web"] == "new-pw-2"
    assert rotation.accepted(rotated, "app-web", now=1059.0) == ("new-pw-2", "web-pw-1")
    assert rotation.accepted(rotated, "app-web", now=1060.0) == ("new-pw-2",)
    assert rotated["app-worker"] == "worker-pw-1"
    assert rotation.accepted(rotated, "app-worker", now=1000.0) == ("worker-pw-1",)


def test_rotating_twice_keeps_both_old_passwords_each_with_its_own_expiry() -> None:
    generate = new_passwords()
    once = rotation.rotate(CONTENT, ["app-web"], now=1000.0, grace=60.0, generate=generate)
    twice = rotation.rotate(once, ["app-web"], now=1030.0, grace=60.0, generate=generate)
    assert rotation.accepted(twice, "app-web", now=1031.0) == ("new-pw-3", "web-pw-1", "new-pw-2")
    assert rotation.accepted(twice, "app-web", now=1070.0) == ("new-pw-3", "new-pw-2")


def test_expired_old_passwords_are_forgotten_and_unexpired_ones_kept() -> None:
    generate = new_passwords()
    content = rotation.rotate(CONTENT, ["app-web"], now=1000.0, grace=10.0, generate=generate)
    content = rotation.rotate(content, ["app-worker"], now=1000.0, grace=100.0, generate=generate)
    assert rotation.forget_expired(content, now=1005.0) == content
    later = rotation.forget_expired(content, now=1010.0)
    assert rotation.old_passwords(later, "app-web") == ()
    assert rotation.old_key("app-web") not in later
    assert rotation.old_passwords(later, "app-worker") == (rotation.OldPassword("worker-pw-1", 1100.0),)


def test_forget_all_leaves_only_the_current_passwords() -> None:
    content = rotation.rotate(CONTENT, ["app-web", "app-worker"], now=0.0, grace=3600.0, generate=new_passwords())
    assert rotation.forget_all(content) == {**CONTENT, "app-web": "new-pw-2", "app-worker": "new-pw-3"}


def test_old_passwords_are_strings_in_the_secret_content() -> None:
    content = rotation.rotate(CONTENT, ["app-web"], now=0.0, grace=5.0, generate=new_passwords())
    assert all(isinstance(value, str) for value in content.values())


def test_every_unit_gives_the_user_and_the_default_user_both_passwords_until_the_leader_forgets_the_old() -> None:
    content = rotation.rotate(CONTENT, ["app-web"], now=1000.0, grace=60.0, generate=new_passwords())
    old = credentials.old_client_passwords(content)
    assert old == (("app-web", "web-pw-1"),)
    default, web, _worker = users.wanted("default-pw", dict(credentials.client_passwords(content)), ("+@all",), old)
    hashes = {users.password_hash(p) for p in ("new-pw-2", "web-pw-1")}
    assert set(web.password_hashes) == hashes
    assert hashes <= set(default.password_hashes)
    # Units apply what the secret holds, expired or not: the leader's next revision removes it everywhere.
    assert credentials.old_client_passwords(content) == old
    after = credentials.old_client_passwords(rotation.forget_expired(content, now=1060.0))
    _, web_after, _ = users.wanted("default-pw", dict(credentials.client_passwords(content)), ("+@all",), after)
    assert web_after.password_hashes == (users.password_hash("new-pw-2"),)


def test_an_application_no_longer_related_loses_its_old_passwords_too() -> None:
    content = rotation.rotate(CONTENT, ["app-web"], now=0.0, grace=3600.0, generate=new_passwords())
    kept = credentials.with_clients(content, {"worker"})
    assert "app-web" not in kept
    assert rotation.old_key("app-web") not in kept
    assert kept["app-worker"] == "worker-pw-1"


def test_a_new_default_password_keeps_the_one_in_effect_until_the_grace_period_ends() -> None:
    first = rotation.follow_default(CONTENT, "configured-pw-1", now=1000.0, grace=60.0)
    assert rotation.old_passwords(first, "default") == ()  # nothing replaced yet
    second = rotation.follow_default(first, "configured-pw-2", now=1000.0, grace=60.0)
    assert rotation.old_default_passwords(rotation.forget_expired(second, now=1059.0)) == (
        "configured-pw-1",
        "configured-pw-2",
    )
    assert rotation.old_default_passwords(rotation.forget_expired(second, now=1060.0)) == ("configured-pw-2",)
    assert rotation.follow_default(second, "configured-pw-2", now=2000.0, grace=60.0) == second


def test_with_no_grace_period_the_replaced_default_password_is_not_kept() -> None:
    first = rotation.follow_default(CONTENT, "configured-pw-1", now=0.0, grace=0.0)
    second = rotation.follow_default(first, "configured-pw-2", now=0.0, grace=0.0)
    assert rotation.old_default_passwords(second) == ("configured-pw-2",)


def test_a_unit_keeps_accepting_the_password_in_effect_until_the_leader_recorded_the_change() -> None:
    recorded = rotation.follow_default(CONTENT, "configured-pw-1", now=0.0, grace=60.0)
    default = users.wanted("configured-pw-2", {}, (), old_default=rotation.old_default_passwords(recorded))[0]
    assert default.password_hashes == tuple(users.password_hash(p) for p in ("configured-pw-2", "configured-pw-1"))


def test_the_leader_follows_the_password_option_and_ignores_an_invalid_one() -> None:
    config = {**config_defaults(), "password": "configured-pw-1", "password-grace-period": 60}
    content = credentials.leader_content(CONTENT, {"web", "worker"}, config, now=0.0)
    assert content[rotation.DEFAULT_IN_EFFECT] == "configured-pw-1"
    emptied = credentials.leader_content(content, {"web", "worker"}, {**config, "password": ""}, now=0.0)
    assert emptied[rotation.DEFAULT_IN_EFFECT] == "default-pw"  # the generated one
    assert rotation.old_passwords(emptied, "default") == (rotation.OldPassword("configured-pw-1", 60.0),)
    invalid = credentials.leader_content(content, {"web", "worker"}, {**config, "password": "true"}, now=0.0)
    assert invalid == content


def test_the_secret_keeps_the_layout_earlier_revisions_read() -> None:
    # A unit of an earlier revision reads this content during an upgrade: the key names are a format.
    rotated = rotation.rotate({"app-web": "web-pw-1"}, ["app-web"], now=1000.0, grace=60.0, generate=lambda: "pw-2")
    followed = rotation.follow_default(rotated, "configured-pw-1", now=1000.0, grace=60.0)
    assert followed == {
        "app-web": "pw-2",
        "old-app-web": json.dumps([{"password": "web-pw-1", "expires": 1060.0}]),
        "default-in-effect": "configured-pw-1",
    }


def test_a_one_second_grace_period_still_keeps_the_replaced_default_password() -> None:
    first = rotation.follow_default(CONTENT, "configured-pw-1", now=0.0, grace=1.0)
    second = rotation.follow_default(first, "configured-pw-2", now=0.0, grace=1.0)
    assert rotation.old_passwords(second, "default") == (rotation.OldPassword("configured-pw-1", 1.0),)
