"""The leadership layer's contract: leadership.* flags, leader_set and leader_get, without Juju."""

from __future__ import annotations

import pytest


class FakeLeadership:
    """The application's leader settings and this unit's leadership, as Juju would report them."""

    def __init__(self) -> None:
        self.leader = False
        self.settings: dict[str, str] = {}
        self.writes: list[dict] = []
        self.reads = 0

    def leader_get(self, attribute: str | None = None) -> dict[str, str] | str | None:
        self.reads += 1
        return dict(self.settings) if attribute is None else self.settings.get(attribute)

    def leader_set(self, changes: dict) -> None:
        self.writes.append(dict(changes))
        for key, value in changes.items():
            if value is None:
                self.settings.pop(key, None)
            else:
                self.settings[key] = value


@pytest.fixture
def juju(reactive, monkeypatch: pytest.MonkeyPatch) -> FakeLeadership:
    from charmhelpers.core import hookenv

    from charms import leadership

    fake = FakeLeadership()
    monkeypatch.setattr(hookenv, "is_leader", lambda: fake.leader)
    monkeypatch.setattr(hookenv, "leader_get", fake.leader_get)
    monkeypatch.setattr(leadership, "_hook_settings", None)  # as in a new hook process
    monkeypatch.setattr(hookenv, "leader_set", fake.leader_set)
    return fake


def start_hook() -> set[str]:
    """What a hook starts with: the layer's start step, then the flags."""
    from charms import leadership
    from charms.reactive import get_flags

    leadership.initialize_leadership_state()
    return {flag for flag in get_flags() if flag.startswith("leadership.")}


def test_leader_gets_is_leader_and_follower_does_not(juju: FakeLeadership) -> None:
    juju.leader = True
    assert "leadership.is_leader" in start_hook()
    juju.leader = False
    assert "leadership.is_leader" not in start_hook()


def test_key_added_changed_and_deleted(juju: FakeLeadership) -> None:
    assert start_hook() == set()

    juju.settings["password"] = "one"
    assert start_hook() == {"leadership.set.password", "leadership.changed.password", "leadership.changed"}

    # Nothing new since this unit's previous hook: no longer changed, still set.
    assert start_hook() == {"leadership.set.password"}

    juju.settings["password"] = "two"
    juju.settings["topology"] = "{}"
    assert start_hook() == {
        "leadership.set.password",
        "leadership.set.topology",
        "leadership.changed.password",
        "leadership.changed.topology",
        "leadership.changed",
    }

    del juju.settings["password"]
    assert start_hook() == {"leadership.set.topology", "leadership.changed.password", "leadership.changed"}
    assert start_hook() == {"leadership.set.topology"}


def test_leaders_own_leader_set_raises_flags_in_the_same_hook(juju: FakeLeadership) -> None:
    from charms import leadership
    from charms.reactive import get_flags

    juju.leader = True
    start_hook()
    leadership.leader_set({"password": "generated"}, topology="t1")
    assert juju.settings == {"password": "generated", "topology": "t1"}
    assert {
        "leadership.set.password",
        "leadership.changed.password",
        "leadership.set.topology",
        "leadership.changed",
    } <= set(get_flags())
    # The next hook sees no change: the write was already accounted for.
    assert start_hook() == {"leadership.is_leader", "leadership.set.password", "leadership.set.topology"}

    leadership.leader_set(topology=None)
    assert "leadership.set.topology" not in get_flags()
    assert "leadership.changed.topology" in get_flags()
    assert leadership.leader_get() == {"password": "generated"}
    assert leadership.leader_get("password") == "generated"


def test_leader_set_on_a_follower_raises_one_clear_error(juju: FakeLeadership) -> None:
    from charms import leadership

    start_hook()
    with pytest.raises(leadership.NotLeaderError, match="redis/0, which is not the leader"):
        leadership.leader_set(password="x")
    assert juju.writes == []


def test_leader_set_refuses_values_that_are_not_strings(juju: FakeLeadership) -> None:
    from charms import leadership

    juju.leader = True
    with pytest.raises(TypeError, match="'port' must be a string"):
        leadership.leader_set(port=6379)
    assert juju.writes == []


def test_a_hook_asks_juju_for_the_leader_settings_once(juju: FakeLeadership) -> None:
    from charms import leadership

    juju.settings.update(password="one", topology="t1")
    start_hook()
    assert (leadership.leader_get("password"), leadership.leader_get("topology")) == ("one", "t1")
    assert leadership.leader_get("missing") is None
    assert leadership.leader_get() == {"password": "one", "topology": "t1"}
    assert juju.reads == 1


def test_each_hook_sees_what_the_leader_changed_since_the_previous_one(juju: FakeLeadership) -> None:
    from charms import leadership

    juju.settings["password"] = "one"
    start_hook()
    assert leadership.leader_get("password") == "one"
    del juju.settings["password"]  # the leader changed its settings; this unit's next hook must see it
    juju.settings["topology"] = "t2"
    start_hook()
    assert leadership.leader_get("password") is None
    assert leadership.leader_get("topology") == "t2"


def test_the_leaders_own_writes_are_read_back_in_the_same_hook(juju: FakeLeadership) -> None:
    from charms import leadership

    juju.leader = True
    juju.settings["topology"] = "t1"
    start_hook()
    leadership.leader_set(password="generated", topology=None)
    assert leadership.leader_get("password") == "generated"
    assert leadership.leader_get() == {"password": "generated"}
    assert juju.reads == 1


def test_without_the_start_step_leader_get_asks_juju(juju: FakeLeadership) -> None:
    from charms import leadership

    juju.settings["password"] = "one"
    assert leadership.leader_get("password") == "one"  # e.g. in an action
    juju.settings["password"] = "two"
    assert leadership.leader_get("password") == "two"
