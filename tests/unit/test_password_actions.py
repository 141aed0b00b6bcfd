"""The password actions: get-admin-password on stdout only; rotate-password and forget-old-passwords on the leader."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from charmhelpers.core import hookenv

from charms.layer.redis import credentials, password_actions, rotation, run_action

from fakejuju import config_defaults


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


class FakeSecrets:
    """The passwords' secret as Juju keeps it: its content by id."""

    def __init__(self) -> None:
        self.content: dict[str, dict[str, str]] = {}

    def add(self, content, label: str) -> str:
        self.content["secret:abc"] = dict(content)
        return "secret:abc"

    def set(self, ident: str, content) -> None:
        self.content[ident] = dict(content)

    def get(self, ident: str) -> dict[str, str]:
        return dict(self.content[ident])


@pytest.fixture
def leader(unit, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, object]:
    """A leader whose secret gives web and worker a password, related to both; what the action changed."""
    secrets = FakeSecrets()
    monkeypatch.setattr(credentials, "HookSecretTools", lambda: secrets)
    content = {"password": "default-pw", "app-web": "web-pw-1", "app-worker": "worker-pw-1", "revision": "1"}
    secrets.content["secret:abc"] = content
    unit["leader"] = credentials.leader_values(credentials.SecretRef("secret:abc", 1), {})
    unit["config"] = config_defaults()
    applied: list[dict[str, str]] = []
    published: dict[str, dict[str, str]] = {}
    monkeypatch.setattr(hookenv, "is_leader", lambda: True)
    monkeypatch.setattr(hookenv, "service_name", lambda: "redis")
    monkeypatch.setattr(hookenv, "leader_set", lambda values: unit["leader"].update(values))
    monkeypatch.setattr(hookenv, "relation_ids", lambda endpoint: ["redis:1", "redis:2"])
    monkeypatch.setattr(hookenv, "remote_service_name", {"redis:1": "web", "redis:2": "worker"}.get)
    monkeypatch.setattr(hookenv, "relation_set", lambda rid, values: published.setdefault(rid, {}).update(values))
    monkeypatch.setattr(password_actions, "apply_here", applied.append)
    monkeypatch.setattr(run_action, "progress", lambda line: None)
    monkeypatch.setattr(password_actions, "progress", lambda line: None)
    return {"secrets": secrets, "applied": applied, "published": published}


def shared_content(unit, leader) -> dict[str, str]:
    """The content at the revision the leader settings now name, as every unit reads it."""
    ref = credentials.ref_from(unit["leader"])
    content = leader["secrets"].content[ref.id]
    assert credentials.revision_of(content) == ref.revision
    return content


def without_revision(content: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in content.items() if key != credentials.REVISION}


def test_rotating_one_application_shares_both_passwords_and_publishes_the_new_one(unit, leader) -> None:
    results = password_actions.rotate_password({"application": "web"})
    content = shared_content(unit, leader)
    new = content["app-web"]
    assert new != "web-pw-1"
    assert rotation.accepted(content, "app-web", time.time()) == (new, "web-pw-1")
    assert content["app-worker"] == "worker-pw-1"
    assert leader["published"] == {"redis:1": {"password": new}}
    assert without_revision(leader["applied"][-1]) == without_revision(content)
    assert results["rotated"] == "app-web" and results["old-passwords"].startswith("accepted until ")
    assert new not in repr(run_action.flatten(results))


def test_rotating_without_an_application_rotates_every_related_one(unit, leader) -> None:
    password_actions.rotate_password({})
    content = shared_content(unit, leader)
    assert set(rotation.old_users(content)) == {"app-web", "app-worker"}
    assert set(leader["published"]) == {"redis:1", "redis:2"}


def test_with_no_grace_period_the_old_password_is_gone_when_the_action_ends(unit, leader) -> None:
    password_actions.rotate_password({"application": "worker"})
    unit["config"]["password-grace-period"] = 0
    password_actions.rotate_password({"application": "web"})
    content = shared_content(unit, leader)
    assert rotation.accepted(content, "app-web", time.time()) == (content["app-web"],)
    assert rotation.accepted(content, "app-worker", time.time())[1:] == ("worker-pw-1",)  # its own grace period
    assert without_revision(leader["applied"][-1]) == without_revision(content)


def test_forget_old_passwords_leaves_only_the_current_ones(unit, leader) -> None:
    password_actions.rotate_password({"application": "web"})
    results = password_actions.forget_old_passwords({})
    content = shared_content(unit, leader)
    assert rotation.old_users(content) == []
    assert without_revision(leader["applied"][-1]) == without_revision(content)
    assert results == {"forgotten": "app-web"}


def test_a_non_leader_refuses_with_one_line(unit, leader, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hookenv, "is_leader", lambda: False)
    for action in (password_actions.rotate_password, password_actions.forget_old_passwords):
        with pytest.raises(run_action.ActionRefused, match="runs on the leader only: run it as `juju run redis/leader"):
            action({})
    assert leader["applied"] == [] and credentials.ref_from(unit["leader"]).revision == 1


def test_an_application_that_is_not_related_is_refused_naming_the_related_ones(unit, leader) -> None:
    with pytest.raises(run_action.ActionRefused, match=r"application=db is not related .*\(related: web, worker\)"):
        password_actions.rotate_password({"application": "db"})
    assert credentials.ref_from(unit["leader"]).revision == 1


def test_an_invalid_grace_period_rotates_nothing_and_names_the_option(unit, leader) -> None:
    unit["config"]["password-grace-period"] = -1
    with pytest.raises(
        run_action.ActionRefused, match="nothing rotated: invalid password-grace-period: must be a whole number"
    ):
        password_actions.rotate_password({"application": "web"})
    assert credentials.ref_from(unit["leader"]).revision == 1


def test_rotating_the_admin_user_keeps_its_old_password_and_publishes_nothing(unit, leader) -> None:
    leader["secrets"].content["secret:abc"].update({"charm-admin": "admin-pw-1", "charm-monitoring": "mon-pw-1"})
    results = password_actions.rotate_password({"user": "admin"})
    content = shared_content(unit, leader)
    assert rotation.accepted(content, "charm-admin", time.time()) == (content["charm-admin"], "admin-pw-1")
    assert content["charm-monitoring"] == "mon-pw-1" and content["app-web"] == "web-pw-1"
    assert leader["published"] == {}  # never on a relation
    assert without_revision(leader["applied"][-1]) == without_revision(content)
    assert results["rotated"] == "charm-admin"


def test_a_charm_user_the_leader_has_not_made_or_with_an_application_is_refused(unit, leader) -> None:
    with pytest.raises(run_action.ActionRefused, match=r"user=replication is not one of the charm's users"):
        password_actions.rotate_password({"user": "replication"})
    with pytest.raises(run_action.ActionRefused, match="give application or user, not both"):
        password_actions.rotate_password({"user": "admin", "application": "web"})
    assert credentials.ref_from(unit["leader"]).revision == 1


def test_get_admin_password_gives_the_admin_user_once_the_leader_made_it(unit, tmp_path: Path, capsys) -> None:
    ref = credentials.SecretRef("secret:abc", 2)
    content = {"password": "generated-1", "charm-admin": "admin-1", "revision": "2"}
    credentials.Cache(tmp_path / credentials.CACHE_NAME).write(ref, content)
    unit["leader"] = credentials.leader_values(ref, {})
    results = password_actions.get_admin_password({})
    assert (capsys.readouterr().out, results) == ("admin-1\n", {"username": "charm-admin"})
