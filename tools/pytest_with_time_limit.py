"""pytest for `make mutation`: every failure counts, and a test that outlives its time limit fails.

mutmut 2 counts a mutant as killed only when its test command exits 1: any other
failure (pytest's 2 for a module that no longer imports, 3 for an internal error)
is mapped to 1 here. "No tests collected" (5) stays 5: it would mean the choice of
tests is wrong, so the mutant stays a survivor.

A mutant can make a test wait forever (a loop that never ends, a wait whose
deadline never comes). mutmut's own time-out is ten times the baseline of the
whole selection of tests, which is 15-30 minutes for the slower files; here each
test (its fixtures included) gets MUTATION_TEST_TIMEOUT seconds, after which the
process prints where it was stuck and exits 1.
"""

from __future__ import annotations

import faulthandler
import os
import sys
from collections.abc import Iterator

import pytest

# Several times the slowest unit test on a 2-core machine running two mutants at once.
DEFAULT_TIMEOUT = 120.0


class TimeLimit:
    """A pytest plugin that ends the process (status 1) when one test runs longer than `seconds`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        # pytest captures file descriptor 2 while a test runs: the stack goes to the real stderr.
        self.stderr = os.fdopen(os.dup(2), "w")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
        faulthandler.dump_traceback_later(self.seconds, exit=True, file=self.stderr)
        try:
            yield
        finally:
            faulthandler.cancel_dump_traceback_later()


def main(arguments: list[str]) -> int:
    limit = TimeLimit(float(os.environ.get("MUTATION_TEST_TIMEOUT", DEFAULT_TIMEOUT)))
    status = pytest.main(["-x", "-q", "-p", "no:cacheprovider", *arguments], plugins=[limit])
    return status if status in (0, 5) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
