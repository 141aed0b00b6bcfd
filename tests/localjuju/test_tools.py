"""The local model's hook-tool argument parsing, action parameter checks and secret bookkeeping,
without a model: pure functions of their inputs (tests/integration/test_juju_hooktools.py runs
them in real hooks). The local model runs on the host's Python only, so these are not among
the unit tests that also run on 3.10 and 3.12."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from localjuju import actionparams, secrets
from localjuju.hooktools import FORMAT, Args, ToolError


def test_options_take_values_in_every_gnuflag_form() -> None:
    for argv in (["-r", "3"], ["-r=3"], ["-r3"], ["--relation", "3"], ["--relation=3"]):
        assert Args(argv, set(), {"-r", "--relation"}).get("-r", "--relation") == "3", argv


def test_double_dash_ends_options_and_booleans_take_go_spellings() -> None:
    args = Args(["--app=false", "key", "--", "--not-an-option", "-x"], {"--app"}, FORMAT)
    assert args.positional == ["key", "--not-an-option", "-x"]
    assert not args.has("--app")
    assert Args(["--app=True"], {"--app"}, set()).has("--app")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bogus"], "flag provided but not defined: --bogus"),
        (["--format"], "flag needs an argument: --format"),
        (["--format=xml"], 'unknown format "xml"'),
        (["--app=maybe"], 'invalid boolean value "maybe"'),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv: list[str], message: str) -> None:
    with pytest.raises(ToolError) as refused:
        Args(argv, {"--app"}, FORMAT)
    assert refused.value.code == 2 and message in str(refused.value)


def test_action_parameters_are_checked_against_the_schema() -> None:
    spec = {"params": {"text": {"type": "string"}, "count": {"type": "integer"}}, "required": ["text"]}
    assert actionparams.check(spec, {"text": "hi", "count": 2, "extra": True}) is None
    assert actionparams.check(spec, {"text": 5}) == (
        "validation failed: text: Invalid type. Expected: string, given: integer"
    )
    assert "(root): text is required" in (actionparams.check(spec, {}) or "")
    closed = spec | {"additionalProperties": False}
    assert "Additional property extra is not allowed" in (actionparams.check(closed, {"text": "a", "extra": 1}) or "")
    assert "count: Invalid type" in (actionparams.check(spec, {"text": "a", "count": True}) or "")


def _state() -> dict[str, Any]:
    units = {name: {"life": "alive", "queue": []} for name in ("owner/0", "consumer/0")}
    return {"units": units, "apps": {"owner": {"leader": "owner/0"}}, "relations": {}, "config": {}}


def _committed(tmp_path: Path, state: dict[str, Any], *ops: dict[str, Any]) -> None:
    stamp = secrets.iso(secrets.now())
    secrets.commit(state, tmp_path, [op | {"at": stamp} for op in ops])


def test_a_new_revision_tells_consumers_and_an_untracked_one_tells_the_owner(tmp_path: Path) -> None:
    state = _state()
    owner = {"kind": "application", "name": "owner"}
    _committed(tmp_path, state, {"op": "add", "id": "a" * 20, "owner": owner, "label": "db", "content": {"key": "1"}})
    _committed(tmp_path, state, {"op": "track", "id": "a" * 20, "unit": "consumer/0", "revision": 1, "label": "mine"})
    _committed(tmp_path, state, {"op": "set", "id": "a" * 20, "content": {"key": "2"}})
    changed = state["units"]["consumer/0"]["queue"]
    assert [(e["hook"], e["secret_label"]) for e in changed] == [("secret-changed", "mine")]
    assert state["units"]["owner/0"]["queue"] == []
    _committed(tmp_path, state, {"op": "track", "id": "a" * 20, "unit": "consumer/0", "revision": 2})
    removed = state["units"]["owner/0"]["queue"]
    assert [(e["hook"], e["secret_revision"]) for e in removed] == [("secret-remove", 1)]
    assert oct(secrets.path(tmp_path).stat().st_mode & 0o777) == "0o600"


def test_expiry_and_rotation_fall_due_on_the_owner(tmp_path: Path) -> None:
    state = _state()
    owner = {"kind": "unit", "name": "owner/0"}
    soon = secrets.iso(secrets.now() + datetime.timedelta(seconds=30))
    add = {"op": "add", "id": "b" * 20, "owner": owner, "content": {"key": "1"}, "expire": soon, "rotate": "daily"}
    _committed(tmp_path, state, add)
    secrets.queue_due(state, tmp_path)
    assert state["units"]["owner/0"]["queue"] == []
    secrets.queue_due(state, tmp_path, secrets.now() + datetime.timedelta(days=1, seconds=1))
    hooks = sorted(e["hook"] for e in state["units"]["owner/0"]["queue"])
    assert hooks == ["secret-expired", "secret-rotate"]
