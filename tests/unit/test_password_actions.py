"""get-admin-password: which password it gives, and that it gives it on stdout only."""

from __future__ import annotations

from pathlib import Path

import pytest
from charmhelpers.core import hookenv

from charms.layer.redis import credentials, password_actions, run_action


@pytest.fixture
def unit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, object]:
    """What the action reads from Juju: config, leader settings, the charm directory."""
    seen: dict[str, object] = {"config": {"password": ""}, "leader": {}}
    monkeypatch.setattr(hookenv, "config", lambda: seen["config"])
    monkeypatch.setattr(hookenv, "leader_get", lambda: seen["leader"])
    monkeypatch.setattr(hookenv, "charm_dir", lambda: str(tmp_path))
    return seen


def test_the_configured_password_is_printed_and_never_a_result(unit, capsys: pytest.CaptureFixture[str]) -> None:
    unit["config"] = {"password": "configured-password-1"}
    results = password_actions.get_admin_password({})
    assert capsys.readouterr().out == "configured-password-1\n"
    assert "configured-password-1" not in repr(run_action.flatten(results))


def test_the_generated_password_comes_from_the_secret(unit, tmp_path: Path, capsys) -> None:
    ref = credentials.SecretRef("secret:abc", 2)
    credentials.Cache(tmp_path / credentials.CACHE_NAME).write(ref, {"password": "generated-1", "revision": "2"})
    unit["leader"] = credentials.leader_values(ref, {})
    password_actions.get_admin_password({})
    assert capsys.readouterr().out == "generated-1\n"


def test_before_the_leader_generated_one_the_action_is_refused(unit) -> None:
    with pytest.raises(run_action.ActionRefused, match="no password yet"):
        password_actions.get_admin_password({})
