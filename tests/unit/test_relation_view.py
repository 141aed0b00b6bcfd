"""The base layer's relation view: relation-ids and relation-list answered from the previous hook only when Juju
would say the same."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from charms.layer import relation_view


class FakeRelations:
    """A unit's relations as Juju reports them: its own view (relation-ids, relation-list) and goal-state.

    As Juju's goal-state does, `units` lists the application's own units (this
    one included) and `relations` the non-peer endpoints' remote applications
    and units; the peer endpoint `cluster` is not in `relations`.
    """

    def __init__(self) -> None:
        self.ids: dict[str, list[str]] = {"cluster": ["cluster:0"], "redis": [], "nrpe-external-master": []}
        self.members: dict[str, list[str]] = {"cluster:0": []}
        self.units: dict[str, dict] = {"redis/0": {"status": "active", "since": "t0"}}
        self.goal: dict[str, dict] = {}
        self.calls: list[str] = []

    def relation_ids(self, reltype: str | None = None) -> list[str]:
        self.calls.append(f"relation-ids {reltype}")
        return list(self.ids.get(reltype or "", []))

    def related_units(self, relid: str | None = None) -> list[str]:
        self.calls.append(f"relation-list {relid}")
        return list(self.members.get(relid or "", []))

    def install_goal_state_tool(self, tools: Path, exit_code: int = 0) -> None:
        """A `goal-state` executable that prints this fake's goal and records its arguments."""
        self.tools = tools
        tool = tools / "goal-state"
        tool.write_text(f'#!/bin/sh\necho "$@" >> {tools}/goal-state.args\ncat {tools}/goal.json\nexit {exit_code}\n')
        tool.chmod(0o755)

    def before_hook(self) -> None:
        (self.tools / "goal.json").write_text(json.dumps({"units": self.units, "relations": self.goal}))
        self.calls.clear()

    def goal_state_calls(self) -> list[str]:
        args = self.tools / "goal-state.args"
        return args.read_text().splitlines() if args.exists() else []


@pytest.fixture
def juju(reactive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeRelations:
    fake = FakeRelations()
    (tmp_path / "metadata.yaml").write_text("name: redis\npeers:\n  cluster:\n    interface: redis-peers\n")
    tools = tmp_path / "tools"
    tools.mkdir()
    fake.install_goal_state_tool(tools)
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    return fake


def run_hook(juju: FakeRelations, monkeypatch: pytest.MonkeyPatch, name: str, relation: str = "") -> dict:
    """One hook: what Endpoint startup asks (ids of every endpoint, members of every relation), then its end."""
    from charmhelpers.core import hookenv

    monkeypatch.setattr(hookenv, "relation_ids", juju.relation_ids)
    monkeypatch.setattr(hookenv, "related_units", juju.related_units)
    monkeypatch.setenv("JUJU_HOOK_NAME", name)
    if relation:
        monkeypatch.setenv("JUJU_RELATION_ID", relation)
    else:
        monkeypatch.delenv("JUJU_RELATION_ID", raising=False)
    juju.before_hook()
    relation_view.install()
    seen = {}
    for endpoint in sorted(juju.ids):
        for rid in hookenv.relation_ids(endpoint):
            seen[rid] = sorted(hookenv.related_units(rid))
        seen.setdefault(endpoint, hookenv.relation_ids(endpoint))
    hookenv._run_atexit()
    return seen


def truth(juju: FakeRelations) -> dict:
    """What Juju itself would answer."""
    seen = {}
    for endpoint in sorted(juju.ids):
        for rid in juju.ids[endpoint]:
            seen[rid] = sorted(juju.members.get(rid, []))
        seen.setdefault(endpoint, list(juju.ids[endpoint]))
    return seen


def test_a_quiet_hook_after_a_converged_one_asks_only_goal_state(juju, monkeypatch) -> None:
    assert run_hook(juju, monkeypatch, "install") == truth(juju)
    assert "relation-ids cluster" in juju.calls

    assert run_hook(juju, monkeypatch, "update-status") == truth(juju)
    assert juju.calls == []
    assert juju.goal_state_calls() == ["--format=json", "--format=json"]


def test_a_units_first_hook_asks_juju_whatever_hook_it_is(juju, monkeypatch) -> None:
    assert run_hook(juju, monkeypatch, "update-status") == truth(juju)
    assert "relation-ids cluster" in juju.calls


def test_a_new_unit_is_seen_exactly_when_juju_shows_it(juju, monkeypatch) -> None:
    run_hook(juju, monkeypatch, "install")
    # Juju's goal moves first: a peer is coming; this unit's view has not changed yet.
    juju.units["redis/1"] = {"status": "waiting", "since": "t1"}
    assert run_hook(juju, monkeypatch, "update-status") == truth(juju)
    assert "relation-list cluster:0" in juju.calls
    # Still not converged (the goal lists redis/1, the view does not): Juju is asked again.
    assert run_hook(juju, monkeypatch, "update-status") == truth(juju)
    assert "relation-list cluster:0" in juju.calls
    # The joined hook changes the view; afterwards the view is reused.
    juju.members["cluster:0"] = ["redis/1"]
    assert run_hook(juju, monkeypatch, "cluster-relation-joined", "cluster:0") == truth(juju)
    assert run_hook(juju, monkeypatch, "update-status") == truth(juju)
    assert juju.calls == []


def test_a_new_relation_is_asked_for_until_its_hooks_have_run(juju, monkeypatch) -> None:
    run_hook(juju, monkeypatch, "install")
    juju.goal["redis"] = {"webapp": {"status": "joined", "since": "t2"}}
    run_hook(juju, monkeypatch, "config-changed")
    # The agent learns of the relation before its relation-created hook runs.
    juju.ids["redis"] = ["redis:3"]
    assert run_hook(juju, monkeypatch, "update-status") == truth(juju)
    assert "relation-ids redis" in juju.calls
    juju.goal["redis"]["webapp/0"] = {"status": "joined", "since": "t3"}
    juju.members["redis:3"] = ["webapp/0"]
    run_hook(juju, monkeypatch, "redis-relation-joined", "redis:3")
    assert run_hook(juju, monkeypatch, "update-status") == truth(juju)
    assert juju.calls == []


def test_a_removed_relation_disappears(juju, monkeypatch) -> None:
    juju.ids["redis"] = ["redis:3"]
    juju.members["redis:3"] = ["webapp/0"]
    juju.goal["redis"] = {
        "webapp": {"status": "joined", "since": "t2"},
        "webapp/0": {"status": "active", "since": "t2"},
    }
    run_hook(juju, monkeypatch, "install")
    del juju.goal["redis"]
    juju.members["redis:3"] = []
    run_hook(juju, monkeypatch, "redis-relation-departed", "redis:3")
    juju.ids["redis"] = []
    assert run_hook(juju, monkeypatch, "update-status") == truth(juju)
    assert run_hook(juju, monkeypatch, "update-status") == truth(juju)
    assert juju.calls == []


@pytest.mark.parametrize(
    ("hook", "relation"), [("install", ""), ("upgrade-charm", ""), ("cluster-relation-changed", "cluster:0")]
)
def test_hooks_that_change_relations_always_ask_juju(juju, monkeypatch, hook: str, relation: str) -> None:
    run_hook(juju, monkeypatch, "install")
    run_hook(juju, monkeypatch, hook, relation)
    assert "relation-ids cluster" in juju.calls
    assert "relation-list cluster:0" in juju.calls


def test_without_goal_state_every_question_goes_to_juju(juju, monkeypatch) -> None:
    run_hook(juju, monkeypatch, "install")
    (juju.tools / "goal-state").unlink()
    monkeypatch.setenv("PATH", str(juju.tools))
    assert run_hook(juju, monkeypatch, "update-status") == truth(juju)
    assert "relation-ids cluster" in juju.calls


def test_a_failing_goal_state_is_not_believed_even_if_it_prints_something(juju, monkeypatch) -> None:
    run_hook(juju, monkeypatch, "install")
    juju.install_goal_state_tool(juju.tools, exit_code=1)
    assert run_hook(juju, monkeypatch, "update-status") == truth(juju)
    assert "relation-ids cluster" in juju.calls


def test_a_units_status_does_not_matter_but_a_remade_relation_does(juju, monkeypatch) -> None:
    juju.ids["redis"] = ["redis:3"]
    juju.members["redis:3"] = ["webapp/0"]
    juju.goal["redis"] = {
        "webapp": {"status": "joined", "since": "t2"},
        "webapp/0": {"status": "active", "since": "t2"},
    }
    run_hook(juju, monkeypatch, "install")
    juju.units["redis/0"] = {"status": "maintenance", "since": "t5"}
    juju.goal["redis"]["webapp/0"] = {"status": "waiting", "since": "t5"}
    assert run_hook(juju, monkeypatch, "update-status") == truth(juju)
    assert juju.calls == []
    # The relation was removed and made again with the same application: a new relation id.
    juju.goal["redis"]["webapp"] = {"status": "joined", "since": "t6"}
    juju.ids["redis"] = ["redis:4"]
    juju.members = {"cluster:0": [], "redis:4": ["webapp/0"]}
    assert run_hook(juju, monkeypatch, "update-status") == truth(juju)
    assert "relation-ids redis" in juju.calls
