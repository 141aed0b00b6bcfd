"""The action runner: results as Juju's action-set takes them, failures as one line."""

from __future__ import annotations

from charms.layer.redis import run_action


def test_nested_results_become_dotted_keys_with_string_values() -> None:
    flat = run_action.flatten({"backup": {"path": "/srv/b.rdb", "size": 12}, "keys": 3})
    assert flat == {"backup.path": "/srv/b.rdb", "backup.size": "12", "keys": "3"}


def test_an_action_name_resolves_to_its_function(monkeypatch) -> None:
    monkeypatch.setitem(run_action.ACTIONS, "flatten-it", "run_action:flatten")
    assert run_action.resolve("flatten-it") is run_action.flatten
