"""The base layer's hook trace: charms.reactive's tracer lines, written once and only when the hook did something."""

from __future__ import annotations

import pytest


@pytest.fixture
def logged(reactive, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    from charmhelpers.core import hookenv

    lines: list[tuple[str, str]] = []
    monkeypatch.setattr(hookenv, "log", lambda message, level=None: lines.append((message, level)))
    return lines


def traced_hook(reactive, flag: str | None = None, handlers: list | None = None):
    from charms.layer.hook_trace import HookTrace
    from charms.reactive.trace import install_tracer

    trace = HookTrace("Reactive main running for hook update-status")
    install_tracer(trace)
    trace.start_dispatch()
    trace.start_dispatch_phase("hooks", [])
    if flag:
        reactive.set_flag(flag)
    trace.start_dispatch_phase("other", handlers or [])
    return trace


def test_a_hook_that_changes_no_flag_and_runs_no_handler_logs_nothing(reactive, logged) -> None:
    reactive.set_flag("redis.ready")
    traced_hook(reactive).write("DEBUG")
    assert logged == []


def test_a_changed_flag_is_logged_once_with_the_whole_trace(reactive, logged) -> None:
    traced_hook(reactive, "redis.pending").write("DEBUG")
    assert len(logged) == 1
    message, level = logged[0]
    assert level == "DEBUG"
    lines = message.splitlines()
    assert lines[0] == "Reactive main running for hook update-status"
    assert "tracer: set flag redis.pending" in lines


def test_a_handler_that_changes_nothing_leaves_the_hook_unlogged(reactive, logged) -> None:
    from charmhelpers.core import hookenv

    from charms.reactive.bus import Handler

    def check_health() -> None:
        pass

    trace = traced_hook(reactive, handlers=[Handler.get(check_health)])
    trace.holding("Invoking reactive handler: reactive/redis.py:153:check_health", hookenv.INFO)
    trace.write("DEBUG")
    assert logged == []


def test_a_handler_that_logs_makes_the_hook_worth_logging_with_the_handlers_that_ran(reactive, logged) -> None:
    from charmhelpers.core import hookenv

    from charms.reactive.bus import Handler

    def check_health() -> None:
        pass

    trace = traced_hook(reactive, handlers=[Handler.get(check_health)])
    trace.holding("Invoking reactive handler: reactive/redis.py:153:check_health", hookenv.INFO)
    trace.holding("Repaired what was changed outside the charm: maxmemory", hookenv.WARNING)
    trace.write("DEBUG")
    assert logged[0] == ("Repaired what was changed outside the charm: maxmemory", hookenv.WARNING)
    assert len(logged) == 2
    assert "Invoking reactive handler: reactive/redis.py:153:check_health" in logged[1][0].splitlines()


def test_a_hook_that_changes_a_flag_logs_the_handlers_it_ran(reactive, logged) -> None:
    from charmhelpers.core import hookenv

    trace = traced_hook(reactive, "redis.pending")
    trace.holding("Invoking reactive handler: reactive/redis.py:131:converge", hookenv.INFO)
    trace.write("DEBUG")
    assert len(logged) == 1
    assert "Invoking reactive handler: reactive/redis.py:131:converge" in logged[0][0].splitlines()


def test_what_is_noted_after_a_write_is_written_by_the_next(reactive, logged) -> None:
    trace = traced_hook(reactive, "redis.pending")
    trace.write("DEBUG")
    trace.note("Hook error:\nlate")
    trace.write("ERROR")
    assert [level for _, level in logged] == ["DEBUG", "ERROR"]
    assert logged[1][0] == "Hook error:\nlate"


def test_an_error_is_logged_at_error_level(reactive, logged) -> None:
    trace = traced_hook(reactive)
    trace.note("Hook error:\nTraceback ...")
    trace.write("ERROR")
    assert [level for _, level in logged] == ["ERROR"]
    assert "Hook error" in logged[0][0]
