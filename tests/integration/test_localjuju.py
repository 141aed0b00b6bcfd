"""Tests of the local model (tests/localjuju) through jubilant, with the hook-logger charm."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import jubilant
import pytest
from hook_logger import APP, HOOK_LOGGER, eventually, hooks, leaders, names, removed_unit_hooks

from conftest import CHARMS, LOCALJUJU, model_dir, settled

pytestmark = pytest.mark.integration


def source_data(juju: jubilant.Juju) -> dict[str, str]:
    """What reader/0 sees of writer/0 on its source relation."""
    info = next(r for r in juju.show_unit("reader/0").relation_info if r.endpoint == "source")
    return info.related_units["writer/0"].data


def assert_peer_pairs(entries: list[dict[str, Any]], peers: set[str]) -> None:
    """Each peer is met exactly once by joined followed directly by changed."""
    pairs = [(e["hook"], e["remote_unit"]) for e in entries]
    for peer in peers:
        i = pairs.index(("cluster-relation-joined", peer))
        assert pairs[i + 1] == ("cluster-relation-changed", peer)
    assert sorted(p[1] for p in pairs if p[0] == "cluster-relation-joined") == sorted(peers)


def test_deploy_three_units_hook_order(juju: jubilant.Juju) -> None:
    started = time.monotonic()
    juju.deploy(HOOK_LOGGER, num_units=3)
    settled(juju)
    elapsed = time.monotonic() - started
    print(f"deploy of 3 hook-logger units until every hook ran: {elapsed:.2f} s")
    units = [f"{APP}/{n}" for n in range(3)]
    for unit in units:
        entries = hooks(juju, unit)
        first = "leader-elected" if unit == f"{APP}/0" else "leader-settings-changed"
        assert names(entries)[:5] == ["install", "cluster-relation-created", first, "config-changed", "start"]
        assert entries[0]["leader"] == (unit == f"{APP}/0")
        assert_peer_pairs(entries[5:], set(units) - {unit})
        assert len(entries) == 9
    assert leaders(juju) == [f"{APP}/0"]
    status = juju.wait(jubilant.all_active, delay=0.25, successes=1)
    addresses = {u.public_address for u in status.get_units(APP).values()}
    assert len(addresses) == 3 and all(a.startswith("127.") for a in addresses)


def test_add_unit_hook_order(juju: jubilant.Juju) -> None:
    juju.deploy(HOOK_LOGGER, num_units=2)
    settled(juju)
    juju.add_unit(APP)
    settled(juju)
    new = hooks(juju, f"{APP}/2")
    assert names(new)[:5] == [
        "install",
        "cluster-relation-created",
        "leader-settings-changed",
        "config-changed",
        "start",
    ]
    assert_peer_pairs(new[5:], {f"{APP}/0", f"{APP}/1"})
    for old in (f"{APP}/0", f"{APP}/1"):
        tail = hooks(juju, old)[-2:]
        assert [(e["hook"], e["remote_unit"]) for e in tail] == [
            ("cluster-relation-joined", f"{APP}/2"),
            ("cluster-relation-changed", f"{APP}/2"),
        ]


def test_remove_leader_elects_one_new_leader(juju: jubilant.Juju) -> None:
    juju.deploy(HOOK_LOGGER, num_units=3)
    settled(juju)
    seen: list[list[str]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append(leaders(juju))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        juju.remove_unit(f"{APP}/0")
        juju.wait(lambda s: f"{APP}/0" not in s.get_units(APP) and jubilant.all_agents_idle(s), delay=0.25, successes=1)
    finally:
        stop.set()
        watcher.join()
    assert seen and all(len(s) == 1 for s in seen), seen
    (leader,) = leaders(juju)  # any survivor may win (the shuffle seed draws it)
    assert leader in (f"{APP}/1", f"{APP}/2")
    gone = removed_unit_hooks(juju, f"{APP}/0")
    assert gone[-4:] == ["cluster-relation-departed", "cluster-relation-departed", "stop", "remove"]
    other = ({f"{APP}/1", f"{APP}/2"} - {leader}).pop()
    new_leader, follower = hooks(juju, leader), hooks(juju, other)
    assert "leader-elected" in names(new_leader[9:])
    assert "leader-settings-changed" in names(follower[9:])
    departed = [e for e in follower if e["hook"] == "cluster-relation-departed"]
    assert [(e["remote_unit"], e["departing"]) for e in departed] == [(f"{APP}/0", f"{APP}/0")]
    assert set(juju.status().get_units(APP)) == {f"{APP}/1", f"{APP}/2"}


def test_leader_settings_reach_followers(juju: jubilant.Juju) -> None:
    juju.deploy(HOOK_LOGGER, num_units=2)
    settled(juju)
    juju.config(APP, {"leader-data": "hello"})
    settled(juju)
    follower = [e for e in hooks(juju, f"{APP}/1") if e["hook"] == "leader-settings-changed"]
    assert follower[-1]["leader_data"] == "hello"
    assert "leader-settings-changed" not in names(hooks(juju, f"{APP}/0"))


def test_relation_data_only_after_hook_succeeds(juju: jubilant.Juju) -> None:
    juju.model_config({"automatically-retry-hooks": False})  # the test retries by hand
    juju.deploy(HOOK_LOGGER, "writer")
    juju.deploy(HOOK_LOGGER, "reader", config={"service": False})
    juju.integrate("writer:data", "reader:source")
    settled(juju)
    juju.config("writer", {"relation-data": "v1", "fail-hook": "config-changed"})
    status = settled(juju)
    writer = status.apps["writer"].units["writer/0"]
    assert writer.workload_status.current == "error"
    assert writer.workload_status.message == 'hook failed: "config-changed"'
    data = source_data(juju)
    assert "value" not in data and data["private-address"] == writer.public_address
    assert not [e for e in hooks(juju, "reader/0") if e.get("remote_value") == "v1"]

    juju.config("writer", reset="fail-hook")
    juju.cli("resolve", "writer/0")
    assert settled(juju).apps["writer"].units["writer/0"].workload_status.current == "active"
    data = source_data(juju)
    assert data["value"] == "v1"
    changed = [e for e in hooks(juju, "reader/0") if e["hook"] == "source-relation-changed"]
    assert changed[-1]["remote_value"] == "v1" and changed[-1]["remote_unit"] == "writer/0"
    assert names(hooks(juju, "writer/0")).count("config-changed") >= 3  # failed, retried, reset


def test_units_have_their_own_files_and_services(juju: jubilant.Juju) -> None:
    juju.deploy(HOOK_LOGGER, num_units=2)
    settled(juju)
    assert juju.exec("cat /etc/hook-logger/unit", unit=f"{APP}/1").stdout.strip() == f"{APP}/1"
    assert juju.exec("ls /var/lib/hook-logger", unit=f"{APP}/1").stdout.split() == [f"written-by-{APP}-1"]
    assert not Path("/etc/hook-logger").exists()
    assert juju.exec("hostname", unit=f"{APP}/0").stdout != juju.exec("hostname", unit=f"{APP}/1").stdout

    juju.exec("systemctl stop hook-logger-http", unit=f"{APP}/0")
    state = "systemctl is-active hook-logger-http || true"
    assert juju.exec(state, unit=f"{APP}/0").stdout.strip() == "inactive"
    assert juju.exec(state, unit=f"{APP}/1").stdout.strip() == "active"
    units = juju.status().get_units(APP)
    with socket.create_connection((units[f"{APP}/1"].public_address, 8080), timeout=5):
        pass
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((units[f"{APP}/0"].public_address, 8080), timeout=5)


def test_kernel_settings_are_read_only(juju: jubilant.Juju) -> None:
    juju.deploy(HOOK_LOGGER, config={"service": False})
    task = juju.exec("echo 1 > /proc/sys/net/ipv4/ip_forward; echo rc=$?; cat /etc/os-release", unit=f"{APP}/0")
    assert "Read-only file system" in task.stderr
    assert 'NAME="Ubuntu"' in task.stdout


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _servers_bound_to(addresses: list[str]) -> list[int]:
    return [pid for address in addresses for pid in _processes_mentioning(f"--bind\0{address}\0")]


def test_no_process_outlives_destroy_model() -> None:
    juju = jubilant.Juju(cli_binary=LOCALJUJU)
    name = f"test-destroy-{os.getpid()}"
    juju.add_model(name)
    try:
        juju.deploy(HOOK_LOGGER, num_units=2)
        addresses = [u.public_address for u in settled(juju).get_units(APP).values()]
        root = str(model_dir(juju))
        assert len(_servers_bound_to(addresses)) == 2
        assert _processes_mentioning(root)
    finally:
        juju.destroy_model(name)
    # destroy-model returns once the model is gone; its processes may take a moment to exit.
    eventually(lambda: not _processes_mentioning(root) and not _servers_bound_to(addresses), timeout=10)
    assert not Path(root).exists()


def test_jubilant_api(juju: jubilant.Juju) -> None:
    juju.deploy(HOOK_LOGGER, num_units=2, config={"leader-data": "x"})
    settled(juju)
    assert juju.config(APP)["leader-data"] == "x"
    assert juju.config(APP)["service"] is True
    info = juju.show_unit(f"{APP}/0")
    assert info.leader and info.opened_ports == ["8080/tcp"]
    assert info.relation_info[0].endpoint == "cluster"
    assert list(info.relation_info[0].related_units) == [f"{APP}/1"]
    task = juju.run(f"{APP}/1", "echo", {"text": "hi"})
    assert task.results == {"text": "hi", "unit": f"{APP}/1"}
    with pytest.raises(jubilant.TaskError):
        juju.run(f"{APP}/0", "fail")
    with pytest.raises(jubilant.TaskError):
        juju.exec("exit 3", unit=f"{APP}/0")
    assert juju.exec("is-leader --format=json", unit=f"{APP}/leader").stdout.strip() == "true"
    juju.wait(jubilant.all_agents_idle, delay=0.25, successes=1)


def test_refresh_runs_upgrade_charm(juju: jubilant.Juju) -> None:
    juju.deploy(HOOK_LOGGER, config={"service": False})
    settled(juju)
    juju.refresh(APP, path=HOOK_LOGGER)
    settled(juju)
    assert names(hooks(juju, f"{APP}/0"))[-2:] == ["upgrade-charm", "config-changed"]
    assert juju.status().apps[APP].charm_rev == 1


def test_snap_and_apt_stand_ins(juju: jubilant.Juju) -> None:
    juju.deploy(HOOK_LOGGER, config={"service": False})
    settled(juju)
    unit = f"{APP}/0"
    juju.exec("snap set system proxy.http=http://proxy:3128 && snap install hello --classic", unit=unit)
    assert juju.exec("snap get system proxy.http", unit=unit).stdout.strip() == "http://proxy:3128"
    calls = [
        json.loads(x)["argv"]
        for x in juju.exec("cat /var/lib/localjuju/snap-calls.jsonl", unit=unit).stdout.splitlines()
    ]
    assert ["snap", "install", "hello", "--classic"] in calls
    assert "hello" in juju.exec("snap list hello", unit=unit).stdout
    with pytest.raises(jubilant.TaskError):
        juju.exec("snap list not-installed", unit=unit)
    assert "already installed" in juju.exec("apt-get install -y python3", unit=unit).stdout


def test_temp_model_and_cli_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{LOCALJUJU.parent}:{os.environ['PATH']}")
    with jubilant.temp_model() as juju:
        assert juju.status().apps == {}
        model = juju.model
    assert model is not None and not (model_dir(jubilant.Juju(model=model))).exists()
    for argv, word in ((["frobnicate"], "frobnicate"), (["status", "--bogus"], "--bogus")):
        result = subprocess.run([LOCALJUJU, *argv], capture_output=True, text=True, check=False)
        assert result.returncode != 0
        assert len(result.stderr.strip().splitlines()) == 1 and word in result.stderr


# --- subordinates ------------------------------------------------------------------------------

SUB_LOGGER = CHARMS / "sub-logger"
SUB = "sub-logger"
SUB_LOG = "/var/log/sub-logger/hooks.jsonl"


def sub_hooks(juju: jubilant.Juju, unit: str) -> list[dict[str, Any]]:
    """The hooks a sub-logger unit logged, read inside its principal's machine."""
    out = juju.exec(f"cat {SUB_LOG}", unit=unit).stdout
    return [json.loads(line) for line in out.splitlines()]


def deploy_with_subordinates(juju: jubilant.Juju, units: int) -> None:
    """hook-logger with `units` units, each with a sub-logger unit attached through juju-info."""
    juju.deploy(HOOK_LOGGER, num_units=units, config={"service": False})
    settled(juju)  # subordinate units are numbered in the order their principals enter scope
    juju.deploy(SUB_LOGGER)
    juju.integrate(APP, SUB)
    settled(juju)


def test_subordinate_is_deployed_without_units(juju: jubilant.Juju) -> None:
    juju.deploy(SUB_LOGGER)
    app = juju.status().apps[SUB]
    assert app.units == {} and app.subordinate_to == []
    with pytest.raises(jubilant.CLIError, match="subordinate"):
        juju.deploy(SUB_LOGGER, "two-subs", num_units=2)
    with pytest.raises(jubilant.CLIError, match="subordinate"):
        juju.add_unit(SUB)


def test_each_principal_unit_gets_one_subordinate_on_its_machine(juju: jubilant.Juju) -> None:
    deploy_with_subordinates(juju, 2)
    status = juju.status()
    assert status.apps[SUB].subordinate_to == [APP]
    assert status.apps[SUB].units == {}
    assert set(status.get_units(SUB)) == {f"{SUB}/0", f"{SUB}/1"}
    for n in range(2):
        principal, sub = f"{APP}/{n}", f"{SUB}/{n}"
        unit = status.apps[APP].units[principal]
        assert list(unit.subordinates) == [sub]
        assert unit.subordinates[sub].public_address == unit.public_address
        assert unit.subordinates[sub].machine == ""
        assert unit.subordinates[sub].leader == (n == 0)
        assert unit.subordinates[sub].workload_status.current == "active"
        assert juju.exec("hostname", unit=sub).stdout == juju.exec("hostname", unit=principal).stdout

        entries = sub_hooks(juju, sub)
        first = "leader-elected" if n == 0 else "leader-settings-changed"
        assert names(entries) == ["install", "juju-info-relation-created", first, "config-changed", "start",
                                  "juju-info-relation-joined", "juju-info-relation-changed"]  # fmt: skip
        assert all(e["principal"] == principal and e["principal_file"] == principal for e in entries)
        assert [(e["remote_unit"], e["members"]) for e in entries[5:]] == [(principal, [principal])] * 2

        tail = hooks(juju, principal)[-2:]
        assert [(e["hook"], e["remote_unit"]) for e in tail] == [
            ("juju-info-relation-joined", sub),
            ("juju-info-relation-changed", sub),
        ]
        rid = tail[0]["relation_id"]
        assert juju.exec(f"relation-list -r {rid}", unit=principal).stdout.split() == [sub]


def test_exec_run_and_show_unit_on_a_subordinate(juju: jubilant.Juju) -> None:
    deploy_with_subordinates(juju, 1)
    sub, principal = f"{SUB}/0", f"{APP}/0"
    address = juju.status().apps[APP].units[principal].public_address
    task = juju.exec("pwd; echo $JUJU_PRINCIPAL_UNIT; unit-get private-address; ls /var/lib/juju/agents", unit=sub)
    assert task.stdout.split() == [
        "/var/lib/juju/agents/unit-sub-logger-0/charm",
        principal,
        address,
        "unit-hook-logger-0",
        "unit-sub-logger-0",
    ]
    results = juju.run(sub, "whoami").results
    assert results == {
        "unit": sub,
        "principal": principal,
        "address": address,
        "principal-file": principal,
        "charm-dir": "/var/lib/juju/agents/unit-sub-logger-0/charm",
    }
    info = juju.show_unit(sub)
    assert info.leader and info.relation_info[0].endpoint == "juju-info"
    assert list(info.relation_info[0].related_units) == [principal]


def test_principal_add_and_remove_unit_carry_their_subordinates(juju: jubilant.Juju) -> None:
    deploy_with_subordinates(juju, 2)
    juju.add_unit(APP)
    status = settled(juju)
    assert list(status.apps[APP].units[f"{APP}/2"].subordinates) == [f"{SUB}/2"]
    assert names(sub_hooks(juju, f"{SUB}/2"))[2] == "leader-settings-changed"

    with pytest.raises(jubilant.CLIError, match="subordinate"):
        juju.remove_unit(f"{SUB}/1")
    juju.remove_unit(f"{APP}/0")
    status = settled(juju)
    assert set(status.apps[APP].units) == {f"{APP}/1", f"{APP}/2"}
    assert set(status.get_units(SUB)) == {f"{SUB}/1", f"{SUB}/2"}
    assert sum(u.leader for u in status.get_units(SUB).values()) == 1
    upper = model_dir(juju) / "units" / f"{APP}-0" / "upper"
    gone = [json.loads(line) for line in (upper / SUB_LOG.lstrip("/")).read_text().splitlines()]
    assert [(e["hook"], e["remote_unit"]) for e in gone[-4:]] == [
        ("juju-info-relation-departed", f"{APP}/0"),
        ("juju-info-relation-broken", ""),
        ("stop", None),
        ("remove", None),
    ]
    assert "juju-info-relation-departed" in removed_unit_hooks(juju, f"{APP}/0")


def test_remove_relation_removes_subordinate_units(juju: jubilant.Juju) -> None:
    deploy_with_subordinates(juju, 2)
    juju.remove_relation(APP, SUB)
    status = settled(juju)
    assert status.get_units(SUB) == {} and status.apps[SUB].subordinate_to == []
    assert all(not u.subordinates for u in status.apps[APP].units.values())
    assert juju.exec(f"tail -1 {SUB_LOG}", unit=f"{APP}/0").stdout.count('"remove"') == 1


def test_destroy_model_ends_subordinate_processes() -> None:
    juju = jubilant.Juju(cli_binary=LOCALJUJU)
    name = f"test-destroy-sub-{os.getpid()}"
    juju.add_model(name)
    marker = f"{os.getpid() % 1000 + 41000}"
    try:
        deploy_with_subordinates(juju, 1)
        juju.exec(f"setsid sleep {marker} >/dev/null 2>&1 < /dev/null &", unit=f"{SUB}/0")
        assert _processes_mentioning(f"sleep\0{marker}")
    finally:
        juju.destroy_model(name)
    eventually(lambda: not _processes_mentioning(f"sleep\0{marker}"), timeout=10)
