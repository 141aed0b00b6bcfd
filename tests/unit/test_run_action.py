"""The action runner: results as Juju's action-set takes them, failures as one line."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from charms.layer.redis import run_action

ROOT = Path(__file__).resolve().parents[2]


def test_nested_results_become_dotted_keys_with_string_values() -> None:
    flat = run_action.flatten({"backup": {"path": "/srv/b.rdb", "size": 12}, "keys": 3})
    assert flat == {"backup.path": "/srv/b.rdb", "backup.size": "12", "keys": "3"}


def test_an_action_name_resolves_to_its_function(monkeypatch) -> None:
    monkeypatch.setitem(run_action.ACTIONS, "flatten-it", "run_action:flatten")
    assert run_action.resolve("flatten-it") is run_action.flatten


class ActionRecord:
    """What an action told Juju: its results or its failure."""

    def __init__(self, params: dict | None) -> None:
        self.params, self.results, self.failures = params, [], []


def run_with(monkeypatch, params: dict | None, function) -> ActionRecord:
    from charmhelpers.core import hookenv

    from charms.layer import basic

    record = ActionRecord(params)
    monkeypatch.setattr(basic, "activate_venv", lambda: None)  # the unit's venv is this process's
    monkeypatch.setattr(hookenv, "action_get", lambda key=None: record.params)
    monkeypatch.setattr(hookenv, "action_set", record.results.append)
    monkeypatch.setattr(hookenv, "action_fail", record.failures.append)
    monkeypatch.setattr(run_action, "resolve", lambda name: function)
    run_action.run("an-action")
    return record


def test_run_gives_the_parameters_and_sets_the_results_dotted(monkeypatch) -> None:
    record = run_with(monkeypatch, {"keys": 3}, lambda params: {"asked": {"keys": params["keys"]}})
    assert record.results == [{"asked.keys": "3"}] and record.failures == []


def test_an_action_without_parameters_gets_an_empty_dict(monkeypatch) -> None:
    record = run_with(monkeypatch, None, lambda params: {"given": repr(params)})
    assert record.results == [{"given": "{}"}]


def test_a_refusal_fails_the_action_with_its_line_only(monkeypatch) -> None:
    def refuse(params: dict) -> dict:
        raise run_action.ActionRefused("backup refused: no space left on /var/snap")

    record = run_with(monkeypatch, {}, refuse)
    assert record.failures == ["backup refused: no space left on /var/snap"] and record.results == []


def test_any_other_error_fails_naming_the_action_and_the_error(monkeypatch) -> None:
    def broken(params: dict) -> dict:
        raise KeyError("path")

    record = run_with(monkeypatch, {}, broken)
    assert record.failures == ["an-action failed: KeyError: 'path'"] and record.results == []


def test_every_action_of_actions_yaml_runs_its_function() -> None:
    from charms.layer.redis import backup, cluster_status, password_actions

    declared = yaml.safe_load((ROOT / "actions.yaml").read_text())
    assert set(run_action.ACTIONS) == set(declared)
    assert {name: run_action.resolve(name) for name in declared} == {
        "backup": backup.backup_action,
        "list-backups": backup.list_backups_action,
        "restore": backup.restore_action,
        "cluster-status": cluster_status.cluster_status_action,
        "get-admin-password": password_actions.get_admin_password,
        "rotate-password": password_actions.rotate_password,
        "forget-old-passwords": password_actions.forget_old_passwords,
    }
    for name in declared:
        assert f'run("{name}")' in (ROOT / "actions" / name).read_text()


def test_progress_lines_go_to_juju_s_action_log_and_a_failing_action_log_is_not_fatal(
    tmp_path: Path, monkeypatch
) -> None:
    logged = tmp_path / "logged"
    action_log = tmp_path / "bin" / "action-log"
    action_log.parent.mkdir()
    action_log.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {logged}\nexit 1\n')
    action_log.chmod(0o755)
    monkeypatch.setenv("PATH", f"{action_log.parent}:{os.environ['PATH']}")
    run_action.progress("copying the snapshot; 40 of 100 keys")
    assert logged.read_text() == "copying the snapshot; 40 of 100 keys\n"
