"""charms.reactive's flag tracer, held back until the end of the hook and written only when the hook did something."""

from __future__ import annotations

from charmhelpers.core import hookenv

from charms.reactive.trace import LogTracer


class HookTrace(LogTracer):
    """LogTracer whose lines are gathered for the whole hook and written in one juju-log call.

    The hook is eventful when a handler was queued, a flag changed or
    something was noted (an error); `write` logs nothing for an uneventful hook.
    """

    def __init__(self, opening: str) -> None:
        super().__init__()
        self.lines = [opening]
        self.eventful = False

    def note(self, line: str) -> None:
        self.lines.append(line)
        self.eventful = True

    def start_dispatch_phase(self, phase: str, handlers: list) -> None:
        if handlers:
            self.eventful = True
        super().start_dispatch_phase(phase, handlers)

    def _flag(self, msg: str) -> None:
        self.eventful = True
        super()._flag(msg)

    def _flush(self) -> None:
        self.lines.extend(self._msgs)
        self._msgs = []

    def write(self, level: str) -> None:
        """Log what was gathered, once, if the hook was eventful."""
        if self.eventful and self.lines:
            hookenv.log("\n".join(self.lines), level)
        self.lines = []
