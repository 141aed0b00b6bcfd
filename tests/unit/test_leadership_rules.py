"""charms.leadership against the fake Juju's hook tools: errors in full, what a unit remembers, flag rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakejuju import FakeJuju, attach, config_defaults


@pytest.fixture
def juju(reactive, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeJuju:
    fake = FakeJuju(config=config_defaults())
    attach(monkeypatch, fake, tmp_path)
    return fake


def flags() -> set[str]:
    from charms.reactive import get_flags

    return {flag for flag in get_flags() if flag.startswith("leadership.")}


def test_a_value_that_is_not_a_string_is_refused_naming_key_and_type(juju: FakeJuju) -> None:
    from charms import leadership

    with pytest.raises(TypeError) as refused:
        leadership.leader_set({"password": "ok"}, port=6379)
    assert str(refused.value) == "leader setting 'port' must be a string or None, not int"
    assert juju.leader_settings == {}


def test_a_follower_is_told_which_keys_and_unit(juju: FakeJuju) -> None:
    from charms import leadership

    juju.leader = False
    with pytest.raises(leadership.NotLeaderError) as refused:
        leadership.leader_set({"b": "1"}, a="2")
    assert str(refused.value) == "leader_set(a, b) called on redis/0, which is not the leader"


def test_a_refused_leader_set_names_the_keys_not_the_values(juju: FakeJuju) -> None:
    from charms import leadership

    juju.leadership_lapses = True
    with pytest.raises(leadership.LeaderSetError) as refused:
        leadership.leader_set(password="s3cret-value", topology="t")
    assert str(refused.value) == "leader-set of password, topology failed on redis/0"
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
    assert flags() == set()


def test_what_the_unit_saw_is_remembered_and_deleted_keys_forgotten(juju: FakeJuju) -> None:
    from charmhelpers.core import unitdata

    from charms import leadership

    leadership.leader_set(password="one", topology="t")
    assert unitdata.kv().getrange(leadership.KV_PREFIX, strip=True) == {"password": "one", "topology": "t"}
    leadership.leader_set(topology=None)
    assert unitdata.kv().getrange(leadership.KV_PREFIX, strip=True) == {"password": "one"}
    assert juju.leader_settings == {"password": "one"}


def test_changed_flags_only_for_keys_that_changed() -> None:
    from charms import leadership

    assert leadership.changed_flags({"a": "1"}, {"a": "1"}) == set()
    assert leadership.changed_flags({"a": "1"}, {"a": "2", "b": None}) == {
        "leadership.changed.a",
        "leadership.changed",
    }
    assert leadership.changed_flags({}, {"b": "x"}) == {"leadership.changed.b", "leadership.changed"}


def test_deleted_keys_count_as_none() -> None:
    from charms import leadership

    assert leadership.settings_with_deletions({"gone": "1", "kept": "2"}, {"kept": "3", "new": "4"}) == {
        "gone": None,
        "kept": "3",
        "new": "4",
    }


def test_a_hook_start_forgets_the_previous_hooks_changed_flags(juju: FakeJuju) -> None:
    from charms import leadership
    from charms.reactive import set_flag

    juju.leader_settings = {"password": "one"}
    leadership.initialize_leadership_state()
    assert flags() == {
        "leadership.is_leader",
        "leadership.set.password",
        "leadership.changed.password",
        "leadership.changed",
    }
    set_flag("leadership.changed.stale")
    juju.leader = False
    leadership.initialize_leadership_state()
    assert flags() == {"leadership.set.password"}
