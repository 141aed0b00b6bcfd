"""charms.reactive's flag tracer, held back until the end of the hook and written only when the hook did something."""

from __future__ import annotations

from collections.abc import Callable

from charmhelpers.core import hookenv

from charms.reactive.trace import LogTracer

Log = Callable[..., None]
# charms.reactive logs this before each handler it runs, in every hook: held back with the trace.
INVOKING = "Invoking reactive handler: "


class HookTrace(LogTracer):
    """LogTracer whose lines are gathered for the whole hook and written in one juju-log call.

    The hook is eventful when a flag changed, a handler logged a line of its
    own or something was noted (an error); `write` logs nothing for an
    uneventful hook. Handlers that ran and changed nothing (a health check that
    found all well) do not make a hook eventful: the "Invoking reactive
    handler" lines are held back with the trace (see `holding`).
    """

    def __init__(self, opening: str, log: Log | None = None) -> None:
        super().__init__()
        self.lines = [opening]
        self.eventful = False
        self.log = log or hookenv.log

    def note(self, line: str) -> None:
        self.lines.append(line)
        self.eventful = True

    def _flag(self, msg: str) -> None:
        self.eventful = True
        super()._flag(msg)

    def _flush(self) -> None:
        self.lines.extend(self._msgs)
        self._msgs = []

    def holding(self, message: str, level: str | None = None) -> None:
        """hookenv.log for the hook's handlers: the framework's "Invoking" lines join the trace, the rest is logged."""
        if message.startswith(INVOKING):
            self.lines.append(message)
            return
        self.eventful = True
        self.log(message, level)

    def write(self, level: str) -> None:
        """Log what was gathered, once, if the hook was eventful."""
        if self.eventful and self.lines:
            self.log("\n".join(self.lines), level)
        self.lines = []
