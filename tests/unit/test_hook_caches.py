"""What a hook remembers from the previous ones to ask Juju less, and when it asks again."""

from __future__ import annotations

import os

import pytest

from charms.layer import status_memory
from charms.layer.redis import ingress


class Store(dict):
    """The unit's kv store: get and set."""

    def set(self, key: str, value: object) -> None:
        self[key] = value


class Asked:
    """network-get as the hook sees it: an address, and how often it was asked."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.times = 0

    def __call__(self) -> str:
        self.times += 1
        return self.address


def test_the_first_hook_asks_for_the_address_and_the_next_quiet_hook_does_not() -> None:
    kv = Store()
    juju = Asked("127.1.2.3")
    assert ingress.ingress_address("update-status", kv, juju) == "127.1.2.3"
    juju.address = "127.1.2.4"
    assert ingress.ingress_address("update-status", kv, juju) == "127.1.2.3"
    assert juju.times == 1


# The machine may have come back with other addresses, or Juju says they changed (config-changed).
@pytest.mark.parametrize("hook", ["install", "upgrade-charm", "config-changed", "start", "post-series-upgrade"])
def test_the_hooks_in_which_the_address_can_change_ask_again(hook: str) -> None:
    kv = Store({ingress.KV_INGRESS: "127.1.2.3"})
    assert ingress.ingress_address(hook, kv, Asked("127.1.2.4")) == "127.1.2.4"
    assert ingress.ingress_address("update-status", kv, Asked("127.9.9.9")) == "127.1.2.4"


def test_the_address_an_earlier_revision_remembered_is_used_after_an_upgrade() -> None:
    kv = Store({"redis.ingress-address": "127.1.2.3"})
    assert ingress.ingress_address("update-status", kv, Asked("127.9.9.9")) == "127.1.2.3"


def test_config_changed_is_among_the_refreshing_hooks() -> None:
    # Juju runs config-changed when a unit's addresses change.
    assert "config-changed" in ingress.REFRESHING_HOOKS


class Statuses:
    def __init__(self) -> None:
        self.set: list[tuple] = []

    def __call__(self, state: str, message: str, application: bool = False) -> None:
        self.set.append((state, message, application))


def test_the_same_status_twice_is_set_once_and_a_different_one_at_once() -> None:
    juju, kv = Statuses(), Store()
    memory = status_memory.StatusMemory(juju, kv)
    memory.status_set("active", "Ready")
    memory.status_set("active", "Ready")
    memory.status_set("active", "Ready (repaired)")
    memory.status_set("active", "Ready")
    assert [message for _, message, _ in juju.set] == ["Ready", "Ready (repaired)", "Ready"]


def test_application_statuses_are_always_set_and_do_not_touch_the_units() -> None:
    juju, kv = Statuses(), Store()
    memory = status_memory.StatusMemory(juju, kv)
    memory.status_set("active", "Ready")
    memory.status_set("active", "Ready", application=True)
    memory.status_set("active", "Ready", application=True)
    memory.status_set("active", "Ready")
    assert juju.set == [("active", "Ready", False), ("active", "Ready", True), ("active", "Ready", True)]


def ready_set_in(hooks: tuple[str, ...]) -> list[tuple[str, str, bool]]:
    """What reaches Juju when each hook, with status memory installed, sets the remembered "active Ready"."""
    from charmhelpers.core import hookenv, unitdata

    original = hookenv.status_set
    juju = Statuses()
    hookenv.status_set = juju
    try:
        unitdata.kv().set(status_memory.KV_KEY, ["active", "Ready"])
        for hook in hooks:
            memory = status_memory.install({"JUJU_HOOK_NAME": hook})
            hookenv.status_set("active", "Ready")
            status_memory.uninstall(memory)
    finally:
        hookenv.status_set = original
    return juju.set


def test_a_refreshing_hook_sets_the_status_even_when_it_is_the_remembered_one(reactive) -> None:
    assert ready_set_in(("update-status", "config-changed")) == [("active", "Ready", False)]


def test_a_new_state_with_the_same_message_is_set() -> None:
    juju, kv = Statuses(), Store()
    memory = status_memory.StatusMemory(juju, kv)
    memory.status_set("active", "Ready")
    memory.status_set("blocked", "Ready")
    assert [state for state, _, _ in juju.set] == ["active", "blocked"]


@pytest.mark.parametrize("hook", ["upgrade-charm", "config-changed", "start", "post-series-upgrade"])
def test_each_hook_an_operators_change_arrives_in_refreshes_the_status(reactive, hook: str) -> None:
    assert ready_set_in((hook,)) == [("active", "Ready", False)]


def test_a_failed_hook_keeps_none_of_its_stored_changes_but_forgets_the_status_it_set(reactive) -> None:
    """Juju shows the status the failed hook set, while its kv changes roll back: the next hook must set its own."""
    from charmhelpers.core import unitdata

    kv = unitdata.kv()
    kv.set(status_memory.KV_KEY, ["active", "Ready"])  # an earlier hook, committed
    kv.set("redis.port", 6379)
    kv.flush()
    kv.set(status_memory.KV_KEY, ["maintenance", "Restarting Redis"])  # the hook that fails
    kv.set("redis.port", 6380)
    status_memory.forget_after_failure()
    stored = unitdata.Storage(os.environ["UNIT_STATE_DB"])
    try:
        assert (stored.get(status_memory.KV_KEY), stored.get("redis.port")) == (None, 6379)
    finally:
        stored.close()
