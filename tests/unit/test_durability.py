"""No restart may drop an acknowledged write, and no hook waits on Redis or systemd without end."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
import real_redis
import redis
from fake_machine import FakeMachine
from real_redis import PASSWORD, Server

from charms.layer.redis import admin, conf, service, settings, workload

from fakejuju import config_defaults

DEFAULTS = config_defaults()


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with real_redis.running(tmp_path_factory) as started:
        yield started


def converge(machine: FakeMachine, **config: object) -> workload.Outcome:
    facts = workload.Facts({**DEFAULTS, **config}, "generated-pw", "10.0.0.1", installed="apt")
    return workload.converge(facts, lambda message: None)


def test_a_restart_waits_for_a_successful_snapshot(machine: FakeMachine) -> None:
    converge(machine)
    machine.actions.clear()
    assert converge(machine, databases=32).ready
    assert machine.actions == ["snapshot", "restart redis-server"]


def test_a_restart_in_the_hook_that_also_adds_an_application_takes_the_snapshot_first(machine: FakeMachine) -> None:
    converge(machine)
    machine.actions.clear()
    facts = workload.Facts(
        {**DEFAULTS, "databases": 32},
        "generated-pw",
        "127.1.2.3",
        installed="apt",
        client_passwords=(("app-web", "w"),),
    )
    assert workload.converge(facts, lambda message: None).ready
    assert machine.actions == ["snapshot", "restart redis-server"]
    assert [user.name for user in machine.users] == ["default", "app-web"]


def test_no_restart_while_redis_cannot_save(machine: FakeMachine) -> None:
    converge(machine)
    before = machine.config
    machine.cannot_save = "its last snapshot failed"
    machine.actions.clear()
    outcome = converge(machine, databases=32)
    assert outcome.status == "blocked"
    assert outcome.message.startswith(
        "databases needs a restart, refused: Redis cannot save (its last snapshot failed), a restart would lose data"
    )
    assert "free space in /var/lib/redis" in outcome.message
    assert machine.actions == [] and machine.config == before
    assert outcome.retry  # the next hook tries again, and restarts once the disk has room
    machine.cannot_save = None
    assert converge(machine, databases=32).ready
    assert machine.actions == ["snapshot", "restart redis-server"]


def test_a_redis_still_saving_is_never_restarted(machine: FakeMachine) -> None:
    converge(machine)
    machine.still_saving = True
    machine.actions.clear()
    outcome = converge(machine, databases=32)
    assert outcome.status == "waiting"
    assert outcome.message == "databases waits: Redis is still writing its data to disk after 60 s"
    assert machine.actions == [] and outcome.retry


def test_a_running_redis_that_does_not_answer_is_not_restarted_over(machine: FakeMachine) -> None:
    converge(machine)
    before = machine.config
    machine.hung = True
    machine.actions.clear()
    outcome = converge(machine, timeout=30)
    assert outcome.status == "blocked"
    assert outcome.message == "timeout not applied: Redis did not answer within 5 s; Redis was left running"
    assert machine.actions == [] and machine.config == before and outcome.retry


def test_switching_aof_on_live_writes_the_file_only_once_the_aof_holds_the_data(machine: FakeMachine) -> None:
    converge(machine)
    machine.still_saving = True
    before = machine.config
    outcome = converge(machine, appendonly=True)
    assert outcome.status == "waiting" and outcome.retry
    assert machine.config == before  # a restart now still starts from the snapshot
    machine.still_saving = False
    assert converge(machine, appendonly=True).ready
    assert machine.aof_written and conf.directives(machine.config or "")["appendonly"] == "yes"
    assert machine.actions[-1] == "aof written"


def test_a_restart_that_also_turns_aof_on_writes_the_aof_first(machine: FakeMachine) -> None:
    converge(machine)
    machine.actions.clear()
    assert converge(machine, appendonly=True, databases=32).ready
    assert machine.live == {"appendonly": "yes"}
    assert machine.actions == ["aof written", "snapshot", "restart redis-server"]


def test_a_redis_answering_outside_its_service_waits_for_its_aof_with_the_password_it_was_just_given(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # systemd does not count this Redis as its service (started by hand), but it answers on the socket.
    monkeypatch.setattr(service, "is_active", lambda name: False)
    started: list[str] = []
    monkeypatch.setattr(service, "systemctl", lambda *command: started.append(" ".join(command)))
    monkeypatch.setattr(service, "write_config", lambda layout, text: layout.conf.write_text(text))
    port = conf.directives(server.rendered)["port"]
    parsed = replace(settings.parse({**DEFAULTS, "appendonly": True}), port=int(port))
    rendered = conf.render(parsed, "new-password-2", "127.0.0.1", server.layout)
    plan = conf.plan(server.rendered, rendered, (7, 0, 15))
    assert {"requirepass", "appendonly"} <= set(plan.live) and not plan.restart
    assert workload.apply(plan, server.layout, server.rendered, rendered, lambda message: None)
    client = admin.connect(server.layout.unixsocket, "new-password-2")
    assert client.info("persistence")["aof_rewrite_in_progress"] == 0
    assert (server.layout.data_dir / "appendonlydir").is_dir()
    assert started == ["restart redis-server"] and server.layout.conf.read_text() == rendered


def test_make_durable_takes_a_fresh_snapshot(server: Server) -> None:
    client = admin.connect(server.layout.unixsocket, PASSWORD)
    client.set("key", "value")
    admin.make_durable(server.layout.unixsocket, PASSWORD, wait=10)
    assert (server.layout.data_dir / "dump.rdb").exists()
    assert client.info("persistence")["rdb_changes_since_last_save"] == 0


def test_make_durable_refuses_when_the_snapshot_cannot_be_written(server: Server) -> None:
    admin.connect(server.layout.unixsocket, PASSWORD).set("key", "value")
    shutil.rmtree(server.layout.data_dir)  # Redis works in a directory that is gone
    with pytest.raises(admin.CannotSave, match=r"^it could not write a snapshot$"):
        admin.make_durable(server.layout.unixsocket, PASSWORD, wait=10)
    # Its last snapshot failed: with snapshots only, one more is tried before a restart is refused.
    with pytest.raises(admin.CannotSave, match=r"^it could not write a snapshot$"):
        admin.make_durable(server.layout.unixsocket, PASSWORD, wait=10)


def test_make_durable_does_not_wait_on_a_snapshot_without_end(server: Server) -> None:
    client = admin.connect(server.layout.unixsocket, PASSWORD)
    client.config_set("rdb-key-save-delay", "1000000")  # each key takes a second to save
    client.set("key", "value")
    client.bgsave()
    try:
        with pytest.raises(admin.StillSaving, match=r"^Redis is still writing its data to disk after 0\.5 s$"):
            admin.make_durable(server.layout.unixsocket, PASSWORD, wait=0.5)
    finally:
        client.config_set("rdb-key-save-delay", "0")


def test_a_command_that_does_not_finish_is_named() -> None:
    with pytest.raises(service.NoAnswer, match=r"sleep 30 did not answer within 0\.2 s"):
        service.run(["sleep", "30"], timeout=0.2)


def test_the_hook_reports_a_stopped_redis_and_keeps_its_time(server: Server) -> None:
    server.process.send_signal(signal.SIGSTOP)
    try:
        desired = workload.Desired(workload.settings.parse(DEFAULTS), PASSWORD)
        outcome = workload.check(desired, server.layout, "apt", timeout=0.3)
    finally:
        server.process.send_signal(signal.SIGCONT)
    assert outcome.status == "blocked"
    assert outcome.message.endswith("Redis did not answer within 0.3 s")


def slow_saving_with_a_key(server: Server) -> redis.Redis:
    """A client of `server`, which now holds one key and takes a fifth of a second per key to save it."""
    client = admin.connect(server.layout.unixsocket, PASSWORD)
    client.config_set("rdb-key-save-delay", "200000")
    client.set("key", "value")
    return client


def once_idle(start: Callable[[], object]) -> Callable[[object, float], dict[str, str]]:
    """admin.wait_idle that calls `start` (a save Redis begins on its own) once Redis was found idle."""
    idle = admin.wait_idle

    def then_start(redis_client: object, wait: float) -> dict[str, str]:
        found = idle(redis_client, wait)
        start()
        return found

    return then_start


def test_make_durable_waits_for_a_snapshot_redis_started_itself(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = slow_saving_with_a_key(server)
    monkeypatch.setattr(admin, "wait_idle", once_idle(client.bgsave))
    admin.make_durable(server.layout.unixsocket, PASSWORD, wait=10)
    assert client.info("persistence")["rdb_bgsave_in_progress"] == 0
    assert client.info("persistence")["rdb_last_bgsave_status"] == "ok"


def test_make_durable_takes_its_snapshot_once_an_append_only_file_rewrite_has_ended(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Redis refuses a BGSAVE while it rewrites the append-only file (an operator's BGREWRITEAOF).
    client = slow_saving_with_a_key(server)
    monkeypatch.setattr(admin, "wait_idle", once_idle(client.bgrewriteaof))
    admin.make_durable(server.layout.unixsocket, PASSWORD, wait=10)
    persistence = client.info("persistence")
    assert (persistence["rdb_bgsave_in_progress"], persistence["rdb_changes_since_last_save"]) == (0, 0)
    assert persistence["rdb_last_bgsave_status"] == "ok" and (server.layout.data_dir / "dump.rdb").exists()


def test_a_snapshot_redis_refuses_is_named_with_its_reason(server: Server) -> None:
    client = admin.connect(server.layout.unixsocket, PASSWORD)
    client.acl_setuser("default", enabled=True, reset=False, commands=["-bgsave"])  # narrowed outside the charm
    with pytest.raises(admin.CannotSave) as refused:
        admin.make_durable(server.layout.unixsocket, PASSWORD, wait=10)
    assert str(refused.value) == (
        "it refused to take a snapshot (this user has no permissions to run the 'bgsave' command)"
    )


def test_make_durable_gives_up_on_a_snapshot_that_does_not_end(server: Server) -> None:
    client = admin.connect(server.layout.unixsocket, PASSWORD)
    client.config_set("rdb-key-save-delay", "1000000")  # each key takes a second to save
    client.set("key", "value")
    with pytest.raises(admin.StillSaving) as still:
        admin.make_durable(server.layout.unixsocket, PASSWORD, wait=0.5)
    assert str(still.value) == "Redis is still writing a snapshot after 0.5 s"
    assert client.info("persistence")["rdb_bgsave_in_progress"] == 1  # it was asked for, and runs on


def test_a_snapshot_that_failed_before_does_not_refuse_the_restart_once_its_file_can_be_written(
    server: Server,
) -> None:
    client = admin.connect(server.layout.unixsocket, PASSWORD)
    client.set("key", "value")
    (server.layout.data_dir / "dump.rdb").mkdir()  # in the way of the snapshot's file
    with pytest.raises(admin.CannotSave, match=r"^it could not write a snapshot$"):
        admin.make_durable(server.layout.unixsocket, PASSWORD, wait=10)
    (server.layout.data_dir / "dump.rdb").rmdir()  # the operator cleared the way
    client.config_set("rdb-key-save-delay", "500000")  # the new snapshot takes half a second
    admin.make_durable(server.layout.unixsocket, PASSWORD, wait=10)
    persistence = client.info("persistence")
    assert (persistence["rdb_last_bgsave_status"], persistence["rdb_changes_since_last_save"]) == ("ok", 0)


def test_make_durable_with_the_append_only_file_on_refuses_after_a_failed_snapshot(server: Server) -> None:
    # While `save` is set Redis also takes a snapshot as it stops, and does not stop when that fails.
    client = admin.connect(server.layout.unixsocket, PASSWORD)
    client.config_set("appendonly", "yes")
    admin.wait_for_aof(server.layout.unixsocket, PASSWORD, wait=10)
    client.set("key", "value")
    shutil.rmtree(server.layout.data_dir)
    client.bgsave(schedule=False)
    assert service.wait_until(lambda: client.info("persistence")["rdb_bgsave_in_progress"] == 0, timeout=10)
    with pytest.raises(admin.CannotSave, match=r"^its last snapshot failed$"):
        admin.make_durable(server.layout.unixsocket, PASSWORD, wait=10)


@pytest.mark.parametrize(
    ("persistence", "problem"),
    [
        ({"aof_enabled": "1", "aof_last_write_status": "err"}, "its last write to the append-only file failed"),
        ({"aof_enabled": "0", "aof_last_write_status": "err"}, ""),
        (
            {"aof_enabled": "1", "aof_last_write_status": "ok", "aof_last_bgrewrite_status": "err"},
            "its last append-only file rewrite failed",
        ),
        (
            {"aof_enabled": "1", "aof_last_bgrewrite_status": "ok", "rdb_last_bgsave_status": "err"},
            "its last snapshot failed",
        ),
        ({"aof_enabled": "1"}, ""),
        (
            {
                "aof_enabled": "0",
                "aof_last_write_status": "ok",
                "aof_last_bgrewrite_status": "ok",
                "rdb_last_bgsave_status": "ok",
            },
            "",
        ),
    ],
)
def test_what_redis_says_of_its_last_writes_to_disk_is_the_problem_named(
    persistence: dict[str, str], problem: str
) -> None:
    # The INFO persistence fields Redis reports; the problem is what the blocked status quotes.
    assert admin.save_problem(persistence) == problem


def test_an_aof_rewrite_scheduled_counts_as_saving() -> None:
    assert admin.busy_saving({"aof_rewrite_scheduled": "1", "rdb_bgsave_in_progress": "0"})
    assert not admin.busy_saving({"aof_rewrite_scheduled": "0", "rdb_bgsave_in_progress": "0"})


def test_wait_for_aof_returns_once_the_append_only_file_holds_the_data(server: Server) -> None:
    client = admin.connect(server.layout.unixsocket, PASSWORD)
    client.set("key", "value")
    client.config_set("appendonly", "yes")
    admin.wait_for_aof(server.layout.unixsocket, PASSWORD, wait=10)
    persistence = client.info("persistence")
    assert (persistence["aof_enabled"], persistence["aof_rewrite_in_progress"]) == (1, 0)
    assert persistence["aof_last_bgrewrite_status"] == "ok"


def test_wait_for_aof_on_a_redis_that_did_not_turn_it_on_says_it_cannot_save(server: Server) -> None:
    with pytest.raises(admin.CannotSave, match=r"^it could not write the append-only file$"):
        admin.wait_for_aof(server.layout.unixsocket, PASSWORD, wait=10)


def test_make_durable_with_the_append_only_file_on_takes_no_snapshot(server: Server) -> None:
    # Redis reloads from the append-only file: a restart need not wait for a snapshot too.
    client = admin.connect(server.layout.unixsocket, PASSWORD)
    client.config_set("appendonly", "yes")
    admin.wait_for_aof(server.layout.unixsocket, PASSWORD, wait=10)
    client.set("key", "value")
    assert client.config_get("save")["save"]
    before = client.info("persistence")["rdb_last_save_time"]
    admin.make_durable(server.layout.unixsocket, PASSWORD, wait=10)
    persistence = client.info("persistence")
    assert (persistence["rdb_last_save_time"], persistence["rdb_changes_since_last_save"]) == (before, 1)


def test_make_durable_without_persistence_writes_nothing_to_disk(server: Server) -> None:
    # save "" and no append-only file: the operator chose a cache, no snapshot is due before a restart.
    client = admin.connect(server.layout.unixsocket, PASSWORD)
    client.config_set("save", "")
    client.set("key", "value")
    admin.make_durable(server.layout.unixsocket, PASSWORD, wait=10)
    assert not (server.layout.data_dir / "dump.rdb").exists()
