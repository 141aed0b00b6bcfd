"""Conformance of the local model's hook tools and secrets with Juju 3.6.

Each test names the Juju rule it checks: a source file under juju/juju
worker/uniter/runner/jujuc (the hook tools), the uniter's API server, or the Juju documentation.
The tests run hook tools in a unit's hook context through `juju exec`, or in real hooks of the
hook-logger charm through the commands it runs on request (see hook_logger.run_in_hooks).
"""

from __future__ import annotations

import json

import jubilant
import pytest
from hook_logger import (
    APP,
    HOOK_LOGGER,
    command_results,
    eventually,
    hooks,
    in_hook,
    relation_id,
    run_in_hooks,
)

from conftest import model_dir, settled

pytestmark = pytest.mark.integration

UNIT = f"{APP}/0"


def deploy(juju: jubilant.Juju, app: str = APP, units: int = 1, **config: object) -> None:
    juju.deploy(HOOK_LOGGER, app, num_units=units, config={"service": False, **config})
    settled(juju)


def without_retries(juju: jubilant.Juju) -> None:
    """Failed hooks wait for `juju resolve` (Juju's automatically-retry-hooks=false)."""
    juju.model_config({"automatically-retry-hooks": False})


def failing(juju: jubilant.Juju, unit: str, command: str) -> jubilant.TaskError:
    """Run a command that must fail in the unit's hook context; return the failed task."""
    with pytest.raises(jubilant.TaskError) as failed:
        juju.exec(command, unit=unit)
    return failed.value


# --- point 6: hook tools as Juju parses them ------------------------------------------------------


def test_double_dash_ends_options(juju: jubilant.Juju) -> None:
    """juju/gnuflag (jujuc's flag parser): `--` ends the options; what follows is positional."""
    deploy(juju)
    in_hook(juju, UNIT, "status-set maintenance -- --not-an-option")
    status = juju.status().apps[APP].units[UNIT].workload_status
    assert (status.current, status.message) == ("maintenance", "--not-an-option")


def test_option_values_and_booleans_in_every_form(juju: jubilant.Juju) -> None:
    """juju/gnuflag: `--flag=value` and `--flag value` (`-r ID`, `-r=ID`) are the same, and a
    boolean flag takes `=true`/`=false` (jujuc relation-list.go --app, config-get.go --all)."""
    deploy(juju, units=2)
    rid = relation_id(juju, UNIT, "cluster")
    forms = [
        f"relation-list -r {rid} --format json",
        f"relation-list --relation={rid} --format=json",
        f"relation-list -r={rid} --app=false --format=json",
    ]
    for command in forms:
        assert json.loads(in_hook(juju, UNIT, command)) == [f"{APP}/1"], command
    assert json.loads(in_hook(juju, UNIT, f"relation-list -r {rid} --app=true --format=json")) == APP
    all_options = json.loads(in_hook(juju, UNIT, "config-get --all=true --format=json"))
    assert all_options["fail-hook"] == ""
    failed = failing(juju, UNIT, "config-get --all=maybe")
    assert failed.task.return_code == 2
    assert 'invalid boolean value "maybe"' in failed.task.stderr


def test_status_get_json_is_an_object(juju: jubilant.Juju) -> None:
    """jujuc status-get.go: any format but smart prints an object, {"status"} alone or, with
    --include-data, also "message" and "status-data"; --application nests the units."""
    deploy(juju)
    in_hook(juju, UNIT, "status-set blocked 'needs a relation'")
    assert json.loads(in_hook(juju, UNIT, "status-get --format=json")) == {"status": "blocked"}
    assert json.loads(in_hook(juju, UNIT, "status-get --format=json --include-data")) == {
        "status": "blocked",
        "message": "needs a relation",
        "status-data": {},
    }
    assert in_hook(juju, UNIT, "status-get").strip() == "blocked"
    app = json.loads(in_hook(juju, UNIT, "status-get --application --format=json"))
    assert app["application-status"]["units"] == {UNIT: {"status": "blocked"}}


def test_relation_list_is_sorted(juju: jubilant.Juju) -> None:
    """jujuc relation-list.go prints the relation cache's MemberNames, which sorts them: the
    order does not depend on the order in which units joined."""
    without_retries(juju)
    deploy(juju, units=3, **{"fail-hook": "start"})
    juju.config(APP, reset="fail-hook")
    for unit in (f"{APP}/2", f"{APP}/1", UNIT):  # the highest-numbered unit starts first
        juju.cli("resolve", unit)
        settled(juju)
    rid = relation_id(juju, UNIT, "cluster")
    members = eventually(lambda: json.loads(in_hook(juju, UNIT, f"relation-list -r {rid} --format=json")))
    assert members == [f"{APP}/1", f"{APP}/2"]


def test_non_leader_reads_its_peer_application_data(juju: jubilant.Juju) -> None:
    """Juju's uniter API (ReadSettings): any unit may read its own application's data bag of a
    peer relation; only in a non-peer relation is that reserved to the leader."""
    deploy(juju, units=2)
    rid = relation_id(juju, UNIT, "cluster")
    in_hook(juju, UNIT, f"relation-set -r {rid} --app topology=three-shards")
    settled(juju)
    seen = json.loads(in_hook(juju, f"{APP}/1", f"relation-get -r {rid} --app --format=json - {APP}"))
    assert seen == {"topology": "three-shards"}


def test_goal_state_shows_real_statuses_and_units_not_yet_joined(juju: jubilant.Juju) -> None:
    """apiserver uniter goalStateUnits/goalStateRelations (jujuc goal-state.go prints them): each
    unit's workload status, or `dying`; for each non-peer relation, the remote application and
    all its units, also those that have not joined yet; peer relations are left out."""
    deploy(juju, "writer", units=2)
    deploy(juju, "reader")
    in_hook(juju, "writer/1", "status-set blocked 'waiting for a reader'")
    run_in_hooks(juju, "reader/0", {"source-relation-created": ["goal-state --format=json"]})
    juju.integrate("writer:data", "reader:source")
    settled(juju)
    created = eventually(lambda: command_results(juju, "reader/0", "source-relation-created"))
    seen = json.loads(created[0]["stdout"])["relations"]["source"]
    assert {"writer/0", "writer/1"} <= set(seen), seen
    assert seen["writer/1"]["status"] == "blocked"
    goal = json.loads(in_hook(juju, "writer/0", "goal-state --format=json"))
    assert goal["units"]["writer/1"]["status"] == "blocked"
    assert goal["units"]["writer/0"]["status"] == "active"
    assert set(goal["relations"]) == {"data"}
    juju.remove_unit("writer/1")
    dying = json.loads(in_hook(juju, "writer/0", "goal-state --format=json"))["units"].get("writer/1")
    assert dying is None or dying["status"] == "dying"


def test_state_set_is_committed_only_when_the_hook_succeeds(juju: jubilant.Juju) -> None:
    """Juju's uniter commits a hook's charm state with its other changes (CommitHookChanges,
    SetUnitState) only when the hook succeeds; within the hook, state-get sees its own sets."""
    without_retries(juju)
    deploy(juju)
    run_in_hooks(juju, UNIT, {"config-changed": ["state-set attempt=done", "state-get attempt"]})
    juju.config(APP, {"fail-hook": "config-changed"})
    juju.wait(lambda s: s.apps[APP].units[UNIT].workload_status.current == "error", delay=0.2)
    assert command_results(juju, UNIT, "config-changed")[-1]["stdout"].strip() == "done"
    assert json.loads(in_hook(juju, UNIT, "state-get --format=json")) == {}
    juju.config(APP, reset="fail-hook")
    juju.cli("resolve", UNIT)
    juju.wait(jubilant.all_active, delay=0.2)
    settled(juju)
    assert json.loads(in_hook(juju, UNIT, "state-get --format=json")) == {"attempt": "done"}


def test_exec_commits_whatever_its_exit_status(juju: jubilant.Juju) -> None:
    """Juju's runner commits a `juju exec` command's context (relation settings, charm state)
    whatever the command's exit status, unlike a hook's."""
    deploy(juju, "writer")
    deploy(juju, "reader")
    juju.integrate("writer:data", "reader:source")
    settled(juju)
    rid = relation_id(juju, "writer/0", "data")
    failed = failing(juju, "writer/0", f"relation-set -r {rid} value=from-exec; state-set kept=yes; exit 3")
    assert failed.task.return_code == 3
    settled(juju)

    def reader_sees() -> str | None:
        info = next(r for r in juju.show_unit("reader/0").relation_info if r.endpoint == "source")
        return info.related_units["writer/0"].data.get("value")

    assert eventually(reader_sees) == "from-exec"
    assert json.loads(in_hook(juju, "writer/0", "state-get kept --format=json")) == "yes"


def test_action_set_keys_follow_juju_rule(juju: jubilant.Juju) -> None:
    """jujuc action-set.go: each dot-separated part of a key is lowercase alphanumerics and
    hyphens, starting and ending alphanumeric; dots nest; stdout/stderr keys are reserved."""
    deploy(juju)
    task = juju.run(UNIT, "set-results", {"pairs": "outer.inner-key=1 top=2"})
    assert task.results["outer"] == {"inner-key": "1"} and task.results["top"] == "2"
    for bad in ("Upper=1", "under_score=1", "-leading=1", "a..b=1", "stdout=x"):
        with pytest.raises(jubilant.TaskError) as failed:
            juju.run(UNIT, "set-results", {"pairs": bad})
        assert failed.value.task.status == "failed", bad


def test_run_checks_parameters_against_actions_yaml(juju: jubilant.Juju) -> None:
    """Juju validates `juju run` parameters against the action's JSON Schema in actions.yaml
    (charm ValidateParams): types, `required` and `additionalProperties: false`."""
    deploy(juju)
    attempts = {
        "text=5": "Invalid type. Expected: string, given: integer",
        "bogus=1": "is required",
        "pairs=a=1 extra=2": "Additional property extra is not allowed",
    }
    for params, error in attempts.items():
        action = "echo" if params.startswith("text") else "set-results"
        with pytest.raises(jubilant.CLIError) as refused:
            juju.cli("run", UNIT, action, *params.split(" "))
        assert "validation failed" in refused.value.stderr and error in refused.value.stderr, params
    assert juju.run(UNIT, "echo", {"text": "fine"}).results["text"] == "fine"


# --- the tools' server: same behaviour as a tool process in the unit -----------------------------


def test_tools_read_files_and_stdin_as_the_unit_sees_them(juju: jubilant.Juju) -> None:
    """jujuc's --file options (cmd.FileVar) name a file of the calling process, relative to its
    working directory, or `-` for its standard input: the unit's own /tmp, not the host's."""
    deploy(juju)
    in_hook(juju, UNIT, "cd /tmp && printf 'from-file: yes\\n' > kv.yaml && state-set --file kv.yaml")
    in_hook(juju, UNIT, "printf 'from-stdin: yes\\n' | state-set --file -")
    assert json.loads(in_hook(juju, UNIT, "state-get --format=json")) == {"from-file": "yes", "from-stdin": "yes"}
    failed = failing(juju, UNIT, "state-set --file /tmp/missing.yaml")
    assert failed.task.return_code == 1 and "missing.yaml" in failed.task.stderr


# --- point 7: Juju secrets ----------------------------------------------------------------------


def related_pair(juju: jubilant.Juju) -> str:
    """writer (data) related to reader (source); return the writer's relation id."""
    deploy(juju, "writer")
    deploy(juju, "reader")
    juju.integrate("writer:data", "reader:source")
    settled(juju)
    return relation_id(juju, "writer/0", "data")


def logged(juju: jubilant.Juju, unit: str, hook: str) -> list[dict[str, object]]:
    """The unit's log entries of one hook, after running whatever is queued."""
    return [e for e in hooks(juju, unit) if e["hook"] == hook]


def test_secret_add_grant_and_get_across_a_relation(juju: jubilant.Juju) -> None:
    """jujuc secret-add.go, secret-grant.go, secret-get.go, secret-ids.go, secret-info-get.go:
    the leader adds an application secret, grants it on a relation, the related unit reads it;
    an application it was not granted to cannot."""
    rid = related_pair(juju)
    deploy(juju, "stranger")
    uri = in_hook(juju, "writer/0", "secret-add --label db --description 'db login' username=admin password=s3cret")
    uri = uri.strip()
    assert uri.startswith("secret:")
    in_hook(juju, "writer/0", f"secret-grant {uri} -r {rid}")
    assert json.loads(in_hook(juju, "reader/0", f"secret-get {uri} --format=json")) == {
        "username": "admin",
        "password": "s3cret",
    }
    assert in_hook(juju, "reader/0", f"secret-get {uri} password").strip() == "s3cret"
    failing(juju, "stranger/0", f"secret-get {uri}")
    ident = uri.removeprefix("secret:")
    assert json.loads(in_hook(juju, "writer/0", "secret-ids --format=json")) == [ident]
    info = json.loads(in_hook(juju, "writer/0", "secret-info-get --label db --format=json"))[ident]
    assert (info["revision"], info["label"], info["owner"], info["description"]) == (1, "db", "application", "db login")
    assert info["access"][0]["target"] == "application-reader"


def test_only_the_leader_manages_application_secrets(juju: jubilant.Juju) -> None:
    """jujuc secret-add.go: a secret is the application's unless `--owner unit`; only the leader
    may add or change the application's secrets; a unit's secret is its own alone."""
    deploy(juju, units=2)
    follower = f"{APP}/1"
    failed = failing(juju, follower, "secret-add token=abc")
    assert "leader" in failed.task.stderr
    mine = in_hook(juju, follower, "secret-add --owner unit token=abc").strip()
    assert in_hook(juju, follower, f"secret-get {mine} token").strip() == "abc"
    failing(juju, UNIT, f"secret-get {mine}")
    shared = in_hook(juju, UNIT, "secret-add token=xyz").strip()
    assert in_hook(juju, follower, f"secret-get {shared} token").strip() == "xyz"
    failing(juju, follower, f"secret-set {shared} token=changed")


def test_secret_changes_commit_only_when_the_hook_succeeds(juju: jubilant.Juju) -> None:
    """Juju commits secret changes with the hook's other changes (CommitHookChanges): a failed
    hook's secret-add leaves no secret; the retried hook's does."""
    without_retries(juju)
    deploy(juju)
    run_in_hooks(juju, UNIT, {"config-changed": ["secret-add --label boot token=abc"]})
    juju.config(APP, {"fail-hook": "config-changed"})
    juju.wait(lambda s: s.apps[APP].units[UNIT].workload_status.current == "error", delay=0.2)
    assert command_results(juju, UNIT, "config-changed")[-1]["rc"] == 0
    assert json.loads(in_hook(juju, UNIT, "secret-ids --format=json") or "[]") == []
    juju.config(APP, reset="fail-hook")
    juju.cli("resolve", UNIT)
    juju.wait(jubilant.all_active, delay=0.2)
    settled(juju)
    info = json.loads(in_hook(juju, UNIT, "secret-info-get --label boot --format=json"))
    assert [i["label"] for i in info.values()] == ["boot"]


def test_secret_revisions_changed_peek_refresh_and_remove(juju: jubilant.Juju) -> None:
    """jujuc secret-get.go: a consumer keeps reading the revision it tracks; --peek reads the
    latest once, --refresh tracks it. A new revision runs secret-changed on consumers (with
    JUJU_SECRET_ID and their label); a revision no one tracks any more runs secret-remove on
    the owner with JUJU_SECRET_REVISION (Juju hook reference, secret events)."""
    rid = related_pair(juju)
    uri = in_hook(juju, "writer/0", "secret-add --label db password=first").strip()
    in_hook(juju, "writer/0", f"secret-grant {uri} -r {rid}")
    assert in_hook(juju, "reader/0", f"secret-get {uri} password --label mine").strip() == "first"
    in_hook(juju, "writer/0", f"secret-set {uri} password=second")
    changed = eventually(lambda: logged(juju, "reader/0", "secret-changed"))
    assert (changed[0]["juju_secret_id"], changed[0]["juju_secret_label"]) == (uri, "mine")
    assert in_hook(juju, "reader/0", f"secret-get {uri} password").strip() == "first"
    assert in_hook(juju, "reader/0", f"secret-get {uri} password --peek").strip() == "second"
    assert in_hook(juju, "reader/0", f"secret-get {uri} password").strip() == "first"
    assert in_hook(juju, "reader/0", f"secret-get {uri} password --refresh").strip() == "second"
    removed = eventually(lambda: logged(juju, "writer/0", "secret-remove"))
    assert (removed[0]["juju_secret_id"], removed[0]["juju_secret_revision"]) == (uri, "1")
    in_hook(juju, "writer/0", f"secret-remove {uri} --revision 1")
    assert in_hook(juju, "reader/0", "secret-get --label mine password 2>&1 || true").strip() != "first"


def test_revoked_or_unrelated_consumers_lose_access(juju: jubilant.Juju) -> None:
    """jujuc secret-grant.go: access is granted in the context of a relation; secret-revoke
    (secret-revoke.go) ends it, and so does removing the relation."""
    rid = related_pair(juju)
    uri = in_hook(juju, "writer/0", "secret-add token=abc").strip()
    in_hook(juju, "writer/0", f"secret-grant {uri} -r {rid} --unit reader/0")
    assert in_hook(juju, "reader/0", f"secret-get {uri} token").strip() == "abc"
    in_hook(juju, "writer/0", f"secret-revoke {uri} -r {rid}")
    failing(juju, "reader/0", f"secret-get {uri} token")
    in_hook(juju, "writer/0", f"secret-grant {uri} -r {rid}")
    assert in_hook(juju, "reader/0", f"secret-get {uri} token").strip() == "abc"
    juju.remove_relation("writer:data", "reader:source")
    settled(juju)
    failing(juju, "reader/0", f"secret-get {uri} token")


def test_secret_expiry_and_rotation_run_owner_hooks(juju: jubilant.Juju) -> None:
    """Juju runs secret-expired on the owner when a revision's --expire time passes (with
    JUJU_SECRET_REVISION) and secret-rotate when its --rotate policy is due. The local model's
    `secret-rotate-seconds` model config shortens rotation intervals (not a Juju setting)."""
    deploy(juju)
    juju.model_config({"secret-rotate-seconds": "1"})
    expiring = in_hook(juju, UNIT, "secret-add --label soon --expire 1s token=abc").strip()
    rotating = in_hook(juju, UNIT, "secret-add --label rolling --rotate hourly token=abc").strip()
    expired = eventually(lambda: logged(juju, UNIT, "secret-expired"))
    assert (expired[0]["juju_secret_id"], expired[0]["juju_secret_revision"]) == (expiring, "1")
    rotated = eventually(lambda: logged(juju, UNIT, "secret-rotate"))
    assert (rotated[0]["juju_secret_id"], rotated[0]["juju_secret_label"]) == (rotating, "rolling")


def test_user_secrets_through_the_cli(juju: jubilant.Juju) -> None:
    """cmd/juju/secrets (add-secret, grant-secret, secrets, show-secret --reveal, update-secret)
    in the output shapes jubilant parses; a granted application reads the secret and gets
    secret-changed when it is updated."""
    deploy(juju, "reader")
    uri = juju.add_secret("api-token", {"token": "t0ken"}, info="for the API")
    juju.grant_secret("api-token", "reader")
    listed = juju.secrets()
    assert [(s.uri, s.name, s.owner, s.revision) for s in listed] == [(uri, "api-token", "<model>", 1)]
    shown = juju.show_secret("api-token", reveal=True)
    assert shown.content == {"token": "t0ken"} and shown.description == "for the API"
    assert [a.target for a in juju.show_secret(uri).access or []] == ["application-reader"]
    assert in_hook(juju, "reader/0", f"secret-get {uri} token").strip() == "t0ken"
    juju.update_secret("api-token", {"token": "n3w"})
    assert eventually(lambda: logged(juju, "reader/0", "secret-changed"))[0]["juju_secret_id"] == uri
    assert juju.show_secret(uri, reveal=True).content == {"token": "n3w"}
    assert "n3w" not in juju.cli("secrets") + juju.cli("status", "--format=json")


def test_secret_content_stays_out_of_state_logs_and_readable_files(juju: jubilant.Juju) -> None:
    """Secrets never appear in status, logs, the model's state or world-readable files: the
    content is kept in files of the model readable by root only."""
    deploy(juju)
    juju.add_secret("db", {"password": "do-not-leak-4f2a"})
    juju.grant_secret("db", APP)
    uri = juju.secrets()[0].uri
    assert json.loads(in_hook(juju, UNIT, f"secret-get {uri} --format=json")) == {"password": "do-not-leak-4f2a"}
    holders = {}
    root = model_dir(juju)
    for path in root.rglob("*"):
        inside_units = "units" in path.relative_to(root).parts
        if path.is_file() and not path.is_symlink() and not inside_units and b"do-not-leak-4f2a" in path.read_bytes():
            holders[str(path.relative_to(root))] = path.stat().st_mode & 0o777
    assert holders.get("secrets.json") == 0o600
    assert all(mode == 0o600 for mode in holders.values()), holders
    assert not [name for name in holders if name.startswith("logs") or name == "state.json"], holders
    assert "do-not-leak-4f2a" not in juju.cli("status", "--format=json") + juju.cli("debug-log")
