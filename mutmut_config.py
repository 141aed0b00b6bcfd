"""mutmut's hook for `make mutation`: run each mutant against the unit tests that cover its file.

The whole unit suite takes over a minute (some tests start real redis-server
processes); a mutant of settings.py need not wait for it. A mutant of a file
runs the unit test files that import its module, directly or through a test
helper module (fake_machine.py, real_redis.py, ...), plus those listed for it
in EXTRA_TESTS: the module's own test files first (named after it), then the
others fastest first: pytest stops at the first failure, so most
mutants die in the first second. A file that no test imports and that has no
EXTRA_TESTS entry runs the whole unit suite, so a new module is never left
untested, only slow.

A new module whose tests import it needs nothing here. Add an EXTRA_TESTS line
only for tests that exercise the file without importing it (the handler tests
drive reactive/ and the interfaces through charms.reactive's dispatch), and
list a new test file that is slow (real redis-server processes, many hooks) in
SLOW_TESTS, and in ONLY_FOR when it imports modules it does not test. Then: `make mutation PATHS=the/new/module.py`.
"""

from __future__ import annotations

import ast
import os
import shlex
import sys
from functools import cache
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "tools"))
import mutation_coverage

# The environment variable naming the map of which tests run each line (made by tools/mutation_run.py).
COVERAGE_MAP = "MUTATION_COVERAGE_MAP"
# pytest, with a failure to import the mutated module counted as a failure (see the script).
RUNNER = "sh tools/mutation-pytest"
UNIT = "tests/unit"
HANDLERS = f"{UNIT}/test_handlers.py"
# Run last, slowest last: these start real redis-server processes or run many hooks.
SLOW_TESTS = [
    f"{UNIT}/test_backup_steps.py",
    f"{UNIT}/test_clustering.py",
    f"{UNIT}/test_unit_actions.py",
    f"{UNIT}/test_cluster_redis_client.py",
    f"{UNIT}/test_cluster_plan.py",
    f"{UNIT}/test_durability.py",
    f"{UNIT}/test_monitoring.py",
    f"{UNIT}/test_drift.py",
    f"{UNIT}/test_conf.py",
    f"{UNIT}/test_users.py",
    f"{UNIT}/test_tls_bus.py",
    HANDLERS,
    f"{UNIT}/test_cluster_executor.py",
]
# Slow tests that import many modules but are there for a few: they run only for those.
ONLY_FOR: dict[str, set[str]] = {
    # redis_client.py has its own fast tests on one real redis-server.
    f"{UNIT}/test_cluster_executor.py": {"lib/charms/layer/redis/cluster/executor.py"},
}
# Tests that cover a file without importing it as a module.
EXTRA_TESTS: dict[str, list[str]] = {
    "reactive/redis.py": [HANDLERS, f"{UNIT}/test_tls_cluster_handlers.py"],
    "layers/leadership/reactive/leadership.py": [HANDLERS],
    "interfaces/redis/provides.py": [f"{UNIT}/test_interfaces.py", HANDLERS],
    "interfaces/redis/requires.py": [f"{UNIT}/test_interfaces.py", f"{UNIT}/test_redis_requires.py"],
    "interfaces/nrpe-external-master/provides.py": [f"{UNIT}/test_interfaces.py", HANDLERS],
    "interfaces/redis-peers/peers.py": [f"{UNIT}/test_interfaces.py", HANDLERS],
    "interfaces/http/provides.py": [f"{UNIT}/test_interfaces.py", HANDLERS],
    "interfaces/prometheus_scrape/provides.py": [f"{UNIT}/test_interfaces.py", HANDLERS],
    "interfaces/tls-certificates/requires.py": [f"{UNIT}/test_interfaces.py", HANDLERS],
    "layers/leadership/lib/charms/leadership.py": [f"{UNIT}/test_layer_fidelity.py", HANDLERS],
    "layers/basic/lib/charms/layer/basic.py": [f"{UNIT}/test_layer_fidelity.py", HANDLERS],
    "layers/basic/lib/charms/layer/__init__.py": [f"{UNIT}/test_layer_fidelity.py"],
    "layers/basic/lib/charms/layer/options.py": [f"{UNIT}/test_layer_fidelity.py"],
    "layers/basic/lib/charms/layer/execd.py": [f"{UNIT}/test_layer_fidelity.py"],
    "layers/basic/lib/charms/layer/hook_trace.py": [HANDLERS],
    "layers/basic/lib/charms/layer/status_memory.py": [f"{UNIT}/test_basic_bootstrap.py", HANDLERS],
    "lib/charms/layer/redis/workload.py": [HANDLERS],
    "lib/charms/layer/redis/clustering.py": [HANDLERS],
    "lib/charms/layer/redis/cluster/redis_client.py": [f"{UNIT}/test_cluster_protocol.py"],
}


def module_name(filename: str) -> str:
    """The dotted name the charm imports a file by: lib/ of the charm and of each layer are on sys.path."""
    inside = filename.split("/lib/", 1)[1] if "/lib/" in filename else filename.removeprefix("lib/")
    return inside.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


@cache
def imported_by(test: Path) -> frozenset[str]:
    """Modules a test file imports, also through the helper modules beside it."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(test.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    for name in list(names):
        helper = test.parent / f"{name}.py"
        if "." not in name and helper.exists() and helper != test:
            names |= imported_by(helper)
    return frozenset(names)


def tests_for(filename: str) -> list[str]:
    """The unit test files a mutant of `filename` runs, its own first, then fastest first; the whole suite when none."""
    filename = filename.removeprefix("./")
    module = module_name(filename)
    importing = [
        str(test)
        for test in sorted(Path(UNIT).glob("test_*.py"))
        if module in imported_by(test) and filename in ONLY_FOR.get(str(test), {filename})
    ]
    # A listed file that does not exist would make pytest fail and count the mutant as killed.
    tests = [test for test in dict.fromkeys(importing + EXTRA_TESTS.get(filename, [])) if Path(test).exists()]
    tests.sort(key=lambda test: (not is_own_test(test, filename), SLOW_TESTS.index(test) if test in SLOW_TESTS else -1))
    return tests or [UNIT]


def is_own_test(test: str, filename: str) -> bool:
    """A test file named after the module (test_cluster_nodes.py for cluster/nodes.py): it runs first."""
    return f"_{Path(filename).stem}_" in f"{Path(test).stem}_"


@cache
def loaded_coverage_map() -> dict[str, dict[int, list[str]]] | None:
    """The map of which tests run each line (tools/mutation_coverage.py), when `make mutation` made one."""
    path = os.environ.get(COVERAGE_MAP)
    return mutation_coverage.read(Path(path)) if path else None


@cache
def runs_charm_code_in_a_subprocess(test: str) -> bool:
    """A test file that starts Python on the charm's code: coverage of this process does not see those lines."""
    return "sys.executable" in Path(test).read_text()


def tests_for_line(filename: str, line: int) -> list[str]:
    """What a mutant of `line` (1-based) of `filename` runs: the tests that ran that line, as node ids.

    Without a coverage map, or for a line that ran while modules were imported,
    every test file of tests_for(). A line no test ran in-process: the test
    files among those that run the charm in a subprocess (coverage does not see
    those lines); none: no test runs the line, so none can fail for its mutant.
    """
    filename = filename.removeprefix("./")
    files = tests_for(filename)
    found = loaded_coverage_map()
    ran = (found or {}).get(filename)
    if ran is None:
        return files
    if mutation_coverage.IMPORT in ran.get(line, []):
        # Every test file; those holding the tests that ran the line (a decorator's body) first.
        holding = {node.split("::", 1)[0] for node in ran[line] if node != mutation_coverage.IMPORT}
        return sorted(files, key=lambda test: test not in holding)
    if not ran.get(line):
        return [test for test in files if runs_charm_code_in_a_subprocess(test)]
    rank = {test: index for index, test in enumerate(files)}
    return sorted(ran[line], key=lambda node: rank.get(node.split("::", 1)[0], len(rank)))


def pre_mutation(context: Any) -> None:
    tests = tests_for_line(context.filename, context.current_line_index + 1)
    # No test: "true" (survives) rather than pytest with no argument, which would run the whole suite.
    context.config.test_command = f"{RUNNER} {' '.join(map(shlex.quote, tests))}" if tests else "true"
