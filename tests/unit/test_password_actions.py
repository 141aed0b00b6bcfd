"""The password actions: get-admin-password on stdout only; rotate-password and forget-old-passwords on the leader."""

from __future__ import annotations

import calendar
import re
import time
from pathlib import Path

import pytest
from charmhelpers.core import hookenv, unitdata

from charms.layer.redis import credentials, ingress, password_actions, rotation, run_action, users, workload

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


def refusal(action, params: dict[str, str]) -> str:
    """The one line an action refused with."""
    with pytest.raises(run_action.ActionRefused) as refused:
        action(params)
    return str(refused.value)


def test_before_the_leader_generated_one_the_action_is_refused(unit) -> None:
    assert refusal(password_actions.get_admin_password, {}) == "no password yet: the leader has not generated it"


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
    monkeypatch.setattr(hookenv, "relation_ids", {"redis": ["redis:1", "redis:2"]}.get)
    monkeypatch.setattr(hookenv, "remote_service_name", {"redis:1": "web", "redis:2": "worker"}.get)
    monkeypatch.setattr(hookenv, "relation_set", lambda rid, values: published.setdefault(rid, {}).update(values))
    monkeypatch.setattr(password_actions, "apply_here", applied.append)
    monkeypatch.setattr(run_action, "progress", lambda line: None)
    said: list[str] = []
    monkeypatch.setattr(password_actions, "progress", said.append)
    return {"secrets": secrets, "applied": applied, "published": published, "said": said}


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
    unit["config"]["password-grace-period"] = 3600
    before = time.time()
    results = password_actions.rotate_password({})
    content = shared_content(unit, leader)
    assert set(rotation.old_users(content)) == {"app-web", "app-worker"}
    assert set(leader["published"]) == {"redis:1", "redis:2"}
    assert leader["said"] == ["New passwords for app-web, app-worker accepted here and shared with every unit"]
    assert results["rotated"] == "app-web app-worker"
    until = results["old-passwords"].removeprefix("accepted until ")
    expires = calendar.timegm(time.strptime(until, "%Y-%m-%dT%H:%M:%SZ"))
    assert before + 3600 - 1 <= expires <= time.time() + 3600
    assert password_actions.forget_old_passwords({}) == {"forgotten": "app-web app-worker"}
    assert password_actions.forget_old_passwords({}) == {"forgotten": "none"}


def test_with_no_grace_period_the_old_password_is_gone_when_the_action_ends(unit, leader) -> None:
    password_actions.rotate_password({"application": "worker"})
    unit["config"]["password-grace-period"] = 0
    assert password_actions.rotate_password({"application": "web"}) == {
        "rotated": "app-web",
        "old-passwords": "removed",
    }
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
    for action, name in (
        (password_actions.rotate_password, "rotate-password"),
        (password_actions.forget_old_passwords, "forget-old-passwords"),
    ):
        assert refusal(action, {}) == f"{name} runs on the leader only: run it as `juju run redis/leader {name}`"
    assert leader["applied"] == [] and credentials.ref_from(unit["leader"]).revision == 1


def test_an_application_that_is_not_related_is_refused_naming_the_related_ones(unit, leader) -> None:
    assert refusal(password_actions.rotate_password, {"application": "db"}) == (
        "application=db is not related to this application (related: web, worker)"
    )
    assert credentials.ref_from(unit["leader"]).revision == 1


def test_an_invalid_grace_period_rotates_nothing_and_names_the_option(unit, leader) -> None:
    unit["config"]["password-grace-period"] = -1
    refused = refusal(password_actions.rotate_password, {"application": "web"})
    assert re.fullmatch(
        r"nothing rotated: invalid password-grace-period: must be a whole number from \d+ to \d+", refused
    )
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
    assert refusal(password_actions.rotate_password, {"user": "replication"}) == (
        "user=replication is not one of the charm's users the leader made (admin, replication, monitoring)"
    )
    assert refusal(password_actions.rotate_password, {"user": "admin", "application": "web"}) == (
        "give application or user, not both: nothing rotated"
    )
    assert credentials.ref_from(unit["leader"]).revision == 1


def test_get_admin_password_gives_the_admin_user_once_the_leader_made_it(unit, tmp_path: Path, capsys) -> None:
    ref = credentials.SecretRef("secret:abc", 2)
    content = {"password": "generated-1", "charm-admin": "admin-1", "revision": "2"}
    credentials.Cache(tmp_path / credentials.CACHE_NAME).write(ref, content)
    unit["leader"] = credentials.leader_values(ref, {})
    results = password_actions.get_admin_password({})
    assert (capsys.readouterr().out, results) == ("admin-1\n", {"username": "charm-admin"})


def test_with_no_grace_period_every_related_application_is_rotated_and_its_old_password_removed(unit, leader) -> None:
    unit["config"]["password-grace-period"] = 0
    results = password_actions.rotate_password({})
    assert results == {"rotated": "app-web app-worker", "old-passwords": "removed"}
    assert rotation.old_users(shared_content(unit, leader)) == []


def test_with_no_application_related_rotating_is_refused_and_names_none(unit, leader, monkeypatch) -> None:
    leader["secrets"].content["secret:abc"] = {"password": "default-pw", "revision": "1"}
    assert refusal(password_actions.rotate_password, {}) == "no application is related: there is no password to rotate"
    assert refusal(password_actions.rotate_password, {"application": "web"}) == (
        "application=web is not related to this application (related: none)"
    )


def test_a_leader_of_a_revision_before_secrets_gives_its_password_from_the_leader_settings(unit, capsys) -> None:
    unit["leader"] = {credentials.LEGACY_PASSWORD: "legacy-pw-1"}
    password_actions.get_admin_password({})
    assert capsys.readouterr().out == "legacy-pw-1\n"
    assert password_actions.admin_login() == users.Login("default", "legacy-pw-1")


def test_the_new_passwords_are_applied_on_the_leaders_own_unit_at_its_address(unit, monkeypatch) -> None:
    unit["config"] = config_defaults()
    converged: list[workload.Facts] = []
    outcome = workload.Outcome("active", "Ready")
    monkeypatch.setattr(workload, "converge", lambda facts, progress: converged.append(facts) or outcome)
    monkeypatch.setattr(unitdata, "kv", lambda: FakeKv({}))
    monkeypatch.setattr(hookenv, "unit_private_ip", lambda: "127.1.9.9")
    content = {"password": "default-pw", "app-web": "web-pw-2", "revision": "2"}
    password_actions.apply_here(content)
    assert converged[-1].ingress == "127.1.9.9" and converged[-1].client_passwords == (("app-web", "web-pw-2"),)
    monkeypatch.setattr(unitdata, "kv", lambda: FakeKv({ingress.KV_INGRESS: "127.1.2.3"}))
    outcome = workload.Outcome("blocked", "maxmemory not applied: refused")
    with pytest.raises(run_action.ActionRefused) as refused:
        password_actions.apply_here(content)
    assert converged[-1].ingress == "127.1.2.3"
    assert str(refused.value) == (
        "the new passwords are shared, but this unit did not apply them: maxmemory not applied: refused"
    )


class FakeKv(dict):
    """unitdata.kv() as apply_here reads it."""

    def get(self, key, default=None):  # type: ignore[override]
        return super().get(key, default)


def test_rotating_before_the_leader_shared_a_secret_or_when_it_cannot_be_read_is_refused(
    unit, leader, monkeypatch
) -> None:
    shared = dict(unit["leader"])
    unit["leader"] = {}
    assert refusal(password_actions.rotate_password, {}) == "no password yet: the leader has not generated it"
    unit["leader"] = shared

    def unreadable(*args: object) -> dict[str, str]:
        raise credentials.SecretError("secret-get: permission denied")

    monkeypatch.setattr(credentials, "read", unreadable)
    assert refusal(password_actions.forget_old_passwords, {}) == (
        "the passwords' secret cannot be read: secret-get: permission denied"
    )
