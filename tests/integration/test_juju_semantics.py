"""Conformance of the local model to Juju 3.6, one test per rule a charm's correctness depends on.

Each test names the Juju rule it checks: the juju/juju source (worker/uniter, 3.6 branch) or the
documentation section it comes from. They drive the model through jubilant, with the
hook-logger test charm, as a charm's own tests would. LOCALJUJU_BIN runs them against another
`juju` (the previous revision of the local model fails each of them).
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import jubilant
import pytest
from hook_logger import APP, HOOK_LOGGER, hooks, leaders, names, removed_unit_entries

from conftest import LOCALJUJU, model_dir, settled

pytestmark = pytest.mark.integration


@pytest.fixture
def seeded(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[jubilant.Juju]:
    """A fresh model whose hooks run in the order drawn from the LOCALJUJU_SHUFFLE seed given."""
    monkeypatch.setenv("LOCALJUJU_SHUFFLE", str(request.param))
    juju = jubilant.Juju(cli_binary=LOCALJUJU, wait_timeout=90)
    name = f"seed-{secrets.token_hex(4)}"
    juju.add_model(name)
    try:
        yield juju
    finally:
        juju.destroy_model(name, destroy_storage=True, force=True)


def until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll condition until it returns something true; fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def gone(juju: jubilant.Juju, unit: str, app: str = APP) -> jubilant.Status:
    """Wait until unit has been removed and every other agent is idle."""
    return juju.wait(lambda s: unit not in s.get_units(app) and jubilant.all_agents_idle(s), delay=0.25, successes=1)


def departed(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e["hook"].endswith("-relation-departed")]


# --- 1. JUJU_DEPARTING_UNIT --------------------------------------------------------------------


def test_departing_unit_is_itself_in_its_own_departed_hooks(juju: jubilant.Juju) -> None:
    """worker/uniter/relation/resolver.go (nextHookForRelation): when the local unit is not alive,
    the departee of its -departed hooks is the local unit; survivors get the departing unit."""
    juju.deploy(HOOK_LOGGER, num_units=3, config={"service": False})
    settled(juju)
    juju.remove_unit(f"{APP}/2")
    gone(juju, f"{APP}/2")
    own = departed(removed_unit_entries(juju, f"{APP}/2"))
    assert sorted(e["remote_unit"] for e in own) == [f"{APP}/0", f"{APP}/1"]
    assert {e["departing"] for e in own} == {f"{APP}/2"}
    for survivor in (f"{APP}/0", f"{APP}/1"):
        assert [(e["remote_unit"], e["departing"]) for e in departed(hooks(juju, survivor))] == [
            (f"{APP}/2", f"{APP}/2")
        ]


def test_departing_unit_is_itself_when_its_application_is_removed(juju: jubilant.Juju) -> None:
    """worker/uniter/relation/resolver.go: the local unit is the departee when its application
    is dying (remove-application), while the units it leaves behind get it as the departee."""
    juju.deploy(HOOK_LOGGER, "writer", config={"service": False})
    juju.deploy(HOOK_LOGGER, "reader", config={"service": False})
    juju.integrate("writer:data", "reader:source")
    settled(juju)
    juju.remove_application("reader")
    juju.wait(lambda s: "reader" not in s.apps and jubilant.all_agents_idle(s), delay=0.25, successes=1)
    own = [e for e in departed(removed_unit_entries(juju, "reader/0")) if e["hook"].startswith("source-")]
    assert [(e["remote_unit"], e["departing"]) for e in own] == [("writer/0", "reader/0")]
    theirs = [e for e in departed(hooks(juju, "writer/0")) if e["hook"].startswith("data-")]
    assert [(e["remote_unit"], e["departing"]) for e in theirs] == [("reader/0", "reader/0")]


# --- 2. relation scope after install -----------------------------------------------------------


def test_a_new_unit_is_seen_once_installed_even_if_its_start_fails(juju: jubilant.Juju) -> None:
    """worker/uniter/relation/statetracker.go and resolver.go: a unit joins its relations' scopes
    once installed (relations are resolved after install, before start), so the others run
    -joined/-changed for it whatever its start hook does; they see the addresses Juju wrote."""
    juju.model_config({"automatically-retry-hooks": False})
    juju.deploy(HOOK_LOGGER, config={"service": False, "fail-hook": "start"})
    juju.wait(lambda s: jubilant.all_error(s) and jubilant.all_agents_idle(s), delay=0.25, successes=1)
    juju.config(APP, reset="fail-hook")
    juju.cli("resolve", f"{APP}/0")
    settled(juju)
    juju.config(APP, {"fail-hook": "start"})
    juju.add_unit(APP)
    status = juju.wait(lambda s: s.get_units(APP)[f"{APP}/1"].workload_status.current == "error"
                       and jubilant.all_agents_idle(s), delay=0.25, successes=1)  # fmt: skip
    assert status.get_units(APP)[f"{APP}/1"].workload_status.message == 'hook failed: "start"'
    seen = [(e["hook"], e["remote_unit"]) for e in hooks(juju, f"{APP}/0")]
    assert ("cluster-relation-joined", f"{APP}/1") in seen
    assert ("cluster-relation-changed", f"{APP}/1") in seen
    peer = next(r for r in juju.show_unit(f"{APP}/0").relation_info if r.endpoint == "cluster")
    assert peer.related_units[f"{APP}/1"].data["private-address"] == status.get_units(APP)[f"{APP}/1"].public_address


# --- 3. nothing after -departed ----------------------------------------------------------------


def later_mentions(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(hook, remote unit) of hooks that name a unit after -departed for it in the same relation."""
    found, left = [], set()
    for e in entries:
        key = (e["relation_id"], e["remote_unit"])
        if key in left:
            found.append((e["hook"], e["remote_unit"]))
        if e["hook"].endswith("-relation-departed"):
            left.add(key)
    return found


@pytest.mark.parametrize("seeded", [1, 2, 3], indirect=True)
def test_no_hook_names_a_unit_after_its_departed(seeded: jubilant.Juju) -> None:
    """worker/uniter/relation/statetracker.go: a unit departed is no longer a member, so no later
    hook names it; the departing unit has left scope, so what its teardown hooks write is not
    published (the others get no -changed for it)."""
    juju = seeded
    juju.deploy(HOOK_LOGGER, num_units=3, config={"service": False, "relation-data": "v1", "teardown-data": "gone"})
    settled(juju)
    juju.config(APP, {"relation-data": "v2"})
    juju.remove_unit(f"{APP}/2")
    gone(juju, f"{APP}/2")
    logs = {u: hooks(juju, u) for u in (f"{APP}/0", f"{APP}/1")} | {f"{APP}/2": removed_unit_entries(juju, f"{APP}/2")}
    for unit, entries in logs.items():
        assert later_mentions(entries) == [], unit
    for unit in (f"{APP}/0", f"{APP}/1"):
        seen = [e for e in logs[unit] if e["remote_unit"] == f"{APP}/2" and e.get("remote_value") == "gone"]
        assert seen == [], unit


# --- 4. leadership -----------------------------------------------------------------------------


def test_leadership_moves_with_the_local_verb_and_the_new_leader_runs_leader_elected(juju: jubilant.Juju) -> None:
    """worker/uniter/leadership (Juju docs, "leader-elected"): the unit that gains the lease runs
    leader-elected, the others leader-settings-changed, the old leader no hook. The verb
    `local-move-leader` is the local model's own, standing in for a lapsed lease."""
    juju.deploy(HOOK_LOGGER, num_units=3, config={"service": False})
    settled(juju)
    before = {u: len(hooks(juju, u)) for u in (f"{APP}/0", f"{APP}/1", f"{APP}/2")}
    juju.cli("local-move-leader", f"{APP}/2")
    settled(juju)
    assert leaders(juju) == [f"{APP}/2"]
    assert names(hooks(juju, f"{APP}/2")[before[f"{APP}/2"] :]) == ["leader-elected"]
    assert names(hooks(juju, f"{APP}/1")[before[f"{APP}/1"] :]) == ["leader-settings-changed"]
    assert juju.exec("is-leader --format=json", unit=f"{APP}/0").stdout.strip() == "false"
    assert juju.exec("is-leader --format=json", unit=f"{APP}/2").stdout.strip() == "true"


@pytest.mark.parametrize("seeded", [5], indirect=True)
def test_any_survivor_may_become_leader_but_never_a_dying_unit(seeded: jubilant.Juju) -> None:
    """Juju's leases (core/lease, worker/uniter/leadership): when the leader goes, whichever
    surviving unit claims the lease first leads, not the lowest-numbered one; a dying unit never
    claims it. Two failovers under one seed: at least one elects a unit other than the lowest."""
    juju = seeded
    juju.deploy(HOOK_LOGGER, num_units=4, config={"service": False})
    settled(juju)
    lowest_won = []
    for _ in range(2):
        old = leaders(juju)[0]
        survivors = sorted(set(juju.status().get_units(APP)) - {old}, key=lambda u: int(u.split("/")[1]))
        juju.remove_unit(old)
        gone(juju, old)
        (new,) = leaders(juju)
        assert new in survivors
        assert names(hooks(juju, new)).count("leader-elected") >= 1
        lowest_won.append(new == survivors[0])
    assert not all(lowest_won)


# --- 5. the model runs on its own --------------------------------------------------------------


def test_commands_return_once_the_change_is_recorded(juju: jubilant.Juju) -> None:
    """Juju's API server records a change and returns; unit agents run the hooks afterwards
    (Juju docs, "juju deploy"/"juju config"). A wait for idle agents then sees them run."""
    juju.deploy(HOOK_LOGGER, num_units=2, config={"service": False})
    assert not jubilant.all_agents_idle(juju.status())
    settled(juju)
    juju.config(APP, {"relation-data": "x"})
    assert not jubilant.all_agents_idle(juju.status())
    status = settled(juju)
    assert jubilant.all_active(status)
    assert all(names(hooks(juju, u))[-1] != "start" for u in status.get_units(APP))


def test_update_status_runs_every_update_status_hook_interval(juju: jubilant.Juju) -> None:
    """worker/uniter/resolver.go and model-config `update-status-hook-interval`: an idle unit
    runs update-status every interval."""
    juju.model_config({"update-status-hook-interval": "2s"})
    juju.deploy(HOOK_LOGGER, config={"service": False})
    settled(juju)
    until(lambda: names(hooks(juju, f"{APP}/0")).count("update-status") >= 2, 30, "two update-status hooks")


def test_a_failed_hook_is_retried_with_backoff(juju: jubilant.Juju) -> None:
    """worker/uniter (hook retry strategy) and model-config `automatically-retry-hooks` (default
    true): a failed hook runs again after a delay that doubles from 5 s, without `juju resolve`."""
    juju.deploy(HOOK_LOGGER, config={"service": False, "fail-hook": "install"})
    juju.wait(lambda s: jubilant.all_error(s) and jubilant.all_agents_idle(s), delay=0.25, successes=1)
    juju.config(APP, reset="fail-hook")
    juju.wait(lambda s: jubilant.all_active(s) and jubilant.all_agents_idle(s), delay=0.2, successes=1, timeout=40)
    assert names(hooks(juju, f"{APP}/0")).count("install") >= 2


def test_debug_log_shows_a_hook_while_it_runs(juju: jubilant.Juju) -> None:
    """Juju's `debug-log` streams the uniter's log as hooks run ("running X hook" before it
    ends), not only once they are over."""
    juju.deploy(HOOK_LOGGER, config={"service": False, "slow-hook": "start", "slow-seconds": 5})

    def running_start() -> bool:
        log = juju.debug_log(limit=200)
        return 'running "start" hook' in log and 'ran "start" hook' not in log

    until(running_start, 20, "debug-log to show the start hook running")
    settled(juju)
    assert 'ran "start" hook' in juju.debug_log(limit=200)


# --- 8. actions --------------------------------------------------------------------------------


def test_actions_are_tasks_that_run_between_hooks(juju: jubilant.Juju) -> None:
    """Juju 3 actions (docs "juju run", "juju show-task"; worker/uniter/resolver.go runs pending
    actions between hooks): `juju run --background` returns the task id, the action waits for the
    running hook to end, and `show-task` shows its results and its action-log lines."""
    juju.deploy(HOOK_LOGGER, config={"service": False})
    settled(juju)
    juju.config(APP, {"slow-hook": "config-changed", "slow-seconds": 3})
    assert juju.model is not None
    argv = [str(LOCALJUJU), "run", "-m", juju.model, f"{APP}/0", "echo", "text=hi", "--background"]
    scheduled = subprocess.run(argv, capture_output=True, text=True, check=True)
    match = re.search(r"with task (\d+)", scheduled.stderr)
    assert match, scheduled.stderr
    task = json.loads(juju.cli("show-task", match.group(1), "--wait", "60s", "--format", "json"))
    assert task["status"] == "completed"
    assert task["results"]["text"] == "hi"
    assert any("echoing hi" in line for line in task["log"])
    entries = hooks(juju, f"{APP}/0")
    changed = [e for e in entries if e["hook"] == "config-changed"][-1]
    action = next(e for e in entries if e["hook"] == "action echo")
    assert entries.index(action) > entries.index(changed)
    assert action["time"] >= changed["time"] + 3  # it ran after the slow hook ended


# --- 9. services and files ---------------------------------------------------------------------

CRASHY = """[Unit]
Description=a service that is restarted when it dies

[Service]
ExecStart=/bin/sleep 100000
Restart=always
RestartSec=0.2
"""

SLOW_STOP = """[Unit]
Description=a service that takes 12 s to shut down cleanly

[Service]
ExecStart=/bin/sh -c 'trap "sleep 12; touch /var/lib/slow-stop/clean; exit 0" TERM; while :; do sleep 1; done'
TimeoutStopSec=30
"""


def _main_pid(juju: jubilant.Juju, unit: str, service: str) -> str:
    out = juju.exec(f"systemctl status {service} || true", unit=unit).stdout
    match = re.search(r"Main PID: (\d+)", out)
    return match.group(1) if match else ""


def test_restart_always_brings_back_a_crashed_service(juju: jubilant.Juju) -> None:
    """systemd.service(5) `Restart=always`: a main process that dies is started again (as Debian's
    redis-server.service asks on a real machine)."""
    juju.deploy(HOOK_LOGGER, config={"service": False})
    settled(juju)
    unit = f"{APP}/0"
    juju.exec(f"cat > /etc/systemd/system/crashy.service <<'EOF'\n{CRASHY}EOF\nsystemctl start crashy", unit=unit)
    first = _main_pid(juju, unit, "crashy")
    assert first
    juju.exec(f"kill -9 {first}", unit=unit)
    until(lambda: _main_pid(juju, unit, "crashy") not in ("", first), 20, "crashy to be restarted")
    assert juju.exec("systemctl is-active crashy", unit=unit).stdout.strip() == "active"


def test_stop_waits_timeout_stop_sec_for_a_clean_shutdown(juju: jubilant.Juju) -> None:
    """systemd.service(5) `TimeoutStopSec=`: stop waits that long for the main process to exit
    after SIGTERM before it kills it (a Redis saving its data must not be cut short)."""
    juju.deploy(HOOK_LOGGER, config={"service": False})
    settled(juju)
    unit = f"{APP}/0"
    setup = f"mkdir -p /var/lib/slow-stop && cat > /etc/systemd/system/slow-stop.service <<'EOF'\n{SLOW_STOP}EOF"
    juju.exec(f"{setup}\nsystemctl start slow-stop", unit=unit)
    juju.exec("systemctl stop slow-stop", unit=unit)
    assert juju.exec("ls /var/lib/slow-stop", unit=unit).stdout.split() == ["clean"]


def test_model_directory_and_state_are_private(juju: jubilant.Juju) -> None:
    """Juju keeps a model's data (relation settings, passwords among them) readable by the
    controller only: the local model's directory is 0700 and its state files 0600."""
    juju.deploy(HOOK_LOGGER, config={"service": False})
    settled(juju)
    root = model_dir(juju)
    assert root.stat().st_mode & 0o777 == 0o700
    assert (root / "state.json").stat().st_mode & 0o777 == 0o600
