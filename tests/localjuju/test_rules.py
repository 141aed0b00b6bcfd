"""The local model's rules as pure functions of its state: no machines, no root, fast.

The same rules are checked end to end, with real hooks, by
tests/integration/test_juju_semantics.py; these pin down the bookkeeping behind them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from localjuju import model, render, scheduler, services
from localjuju.charm import Charm, Endpoint
from localjuju.records import ModelState

APP = "logger"


def state_with_units(count: int, seed: str = "") -> ModelState:
    """A model with one application of count units, every unit installed and started."""
    state = model.new_state("rules")
    if seed:
        state["shuffle"] = seed
    peers = {"cluster": Endpoint("cluster", "logger-peers", "peer")}
    model.add_application(state, APP, Charm(Path("/nonexistent"), APP, peers, {}), "/nonexistent", {})
    for n in range(count):
        unit = model.add_unit(state, APP, f"127.0.9.{n + 2}")
        run_queue(state, unit)
    for unit in list(state["units"]):
        run_queue(state, unit)
    return state


def run_queue(state: ModelState, unit: str) -> list[model.Event]:
    """Run (as if each succeeded with no changes) every hook queued on unit; return them."""
    ran = []
    record = state["units"][unit]
    while record["queue"]:
        ev = record["queue"].pop(0)
        model.before_hook(state, unit, ev)
        model.after_hook(state, unit, ev)
        ran.append(ev)
    return ran


def hooks_of(events: list[model.Event]) -> list[tuple[str, str]]:
    return [(ev["hook"], ev["remote"]) for ev in events]


def test_the_departing_unit_names_itself_and_the_others_name_it() -> None:
    state = state_with_units(3)
    model.remove_unit(state, f"{APP}/2")
    own = [ev for ev in state["units"][f"{APP}/2"]["queue"] if ev["hook"].endswith("-departed")]
    assert {ev["departing"] for ev in own} == {f"{APP}/2"}
    assert sorted(ev["remote"] for ev in own) == [f"{APP}/0", f"{APP}/1"]
    theirs = [ev for ev in state["units"][f"{APP}/0"]["queue"] if ev["hook"].endswith("-departed")]
    assert [(ev["remote"], ev["departing"]) for ev in theirs] == [(f"{APP}/2", f"{APP}/2")]


def test_a_unit_is_met_once_installed_before_its_start() -> None:
    state = state_with_units(1)
    new = model.add_unit(state, APP, "127.0.9.9")
    record = state["units"][new]
    install = record["queue"].pop(0)
    model.before_hook(state, new, install)
    model.after_hook(state, new, install)
    assert not record["started"]
    assert hooks_of(state["units"][f"{APP}/0"]["queue"]) == [
        ("cluster-relation-joined", new),
        ("cluster-relation-changed", new),
    ]
    rid = str(model.relations_of(state, APP)[0]["id"])
    assert state["relations"][rid]["units"][new]["private-address"] == "127.0.9.9"
    assert [ev["hook"] for ev in record["queue"]][-3:] == [
        "start",
        "cluster-relation-joined",
        "cluster-relation-changed",
    ]


def test_no_changed_is_queued_for_a_unit_after_its_departed() -> None:
    state = state_with_units(3)
    model.remove_unit(state, f"{APP}/2")
    rel = model.relations_of(state, APP)[0]
    model.commit(state, f"{APP}/2", {"unit": f"{APP}/2", "kind": "hook", "ports": {},
                                     "relation_sets": {str(rel["id"]): {"unit": {"value": "gone"}}}})  # fmt: skip
    for survivor in (f"{APP}/0", f"{APP}/1"):
        queued = hooks_of(state["units"][survivor]["queue"])
        assert ("cluster-relation-changed", f"{APP}/2") not in queued
    assert "value" not in rel["units"][f"{APP}/2"]


def test_a_dying_unit_never_becomes_leader_and_the_seed_picks_among_survivors() -> None:
    picks = set()
    for seed in ("1", "2", "3", "4", "5", "6"):
        state = state_with_units(4, seed)
        model.remove_unit(state, f"{APP}/1")
        model.remove_unit(state, f"{APP}/0")
        model.forget_unit(state, f"{APP}/0")
        leader = state["apps"][APP]["leader"]
        assert leader in (f"{APP}/2", f"{APP}/3")
        picks.add(leader)
    assert picks == {f"{APP}/2", f"{APP}/3"}


def test_leader_elected_goes_ahead_of_queued_relation_hooks() -> None:
    state = state_with_units(3)
    model.remove_unit(state, f"{APP}/0")
    model.forget_unit(state, f"{APP}/0")
    queue = [ev["hook"] for ev in state["units"][f"{APP}/1"]["queue"]]
    assert queue == ["leader-elected", "cluster-relation-departed"]


def test_a_unit_with_queued_hooks_reports_an_executing_agent() -> None:
    state = state_with_units(1)
    record = state["units"][f"{APP}/0"]
    assert render.agent_status(record)["current"] == "idle"
    model.enqueue(state, f"{APP}/0", model.event("config-changed"))
    assert render.agent_status(record)["current"] == "executing"


@pytest.mark.parametrize(("text", "seconds"), [("5m", 300), ("10s", 10), ("1h30m", 5400), ("250ms", 0.25)])
def test_durations_read_as_go_does(text: str, seconds: float) -> None:
    assert scheduler.duration(text) == seconds


def test_a_bad_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        scheduler.duration("5 minutes")


@pytest.mark.parametrize(
    ("policy", "code", "restarts"),
    [("always", 0, True), ("no", -9, False), ("on-failure", 1, True), ("on-failure", 0, False),
     ("on-abnormal", -9, True), ("on-abnormal", 1, False), ("on-success", 0, True)],
)  # fmt: skip
def test_restart_policies_follow_systemd(policy: str, code: int, restarts: bool) -> None:
    assert services.RESTART_POLICIES[policy](code) is restarts


def test_stop_timeouts_read_as_systemd_does() -> None:
    assert services._seconds("1min 30s", 90.0) == 90.0
    assert services._seconds("infinity", 90.0) is None
    assert services._seconds(None, 90.0) == 90.0


def test_shuffle_runs_one_operation_at_a_time_until_it_has_waited_long_enough() -> None:
    """One at a time, but a hook waiting for another unit's hook does not stop it forever."""
    assert scheduler.shuffle_wait({}, 100.0) == 0.0
    assert scheduler.shuffle_wait({"a/0": 98.0}, 100.0, patience=10.0) == 8.0
    assert scheduler.shuffle_wait({"a/0": 90.0}, 100.0, patience=10.0) == 0.0
    # The newest running operation counts: another may start only once it too has waited.
    assert scheduler.shuffle_wait({"a/0": 50.0, "a/1": 95.0}, 100.0, patience=10.0) == 5.0
