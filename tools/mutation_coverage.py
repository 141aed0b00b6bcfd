"""Which unit tests run each line of the charm's code: the map `make mutation` picks a mutant's tests from.

A mutant can only change what a test sees if that test runs the mutated line.
So before mutating, the tests of the files to mutate run once under coverage
with a context per test (pytest-cov's --cov-context=test), and this writes,
for each source file, each line's tests as pytest node ids:
mutmut_config.pre_mutation runs only those for a mutant of the line.

A line that runs outside any test (a constant, a class body, or a function a
test module calls while pytest collects it), or at the import of a module a
test imported first, is marked IMPORT: its mutants run
every test file of the module, as they would without the map. A function's
decorators and signature take the tests that ran its body, and a constant or
class attribute the tests that ran the lines reading it, unless one of those
ran outside a test too. A line of a multi-line statement that coverage did
not record takes the statement's first line's tests.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from coverage import CoverageData

# The tests of a line that ran while modules were imported (outside any test).
IMPORT = ""
PHASES = ("|setup", "|run", "|teardown")


def test_of(context: str) -> str:
    """The node id of a pytest-cov context ("tests/unit/test_x.py::test_y[p]|run"); IMPORT for the empty one."""
    for phase in PHASES:
        context = context.removesuffix(phase)
    return context


def statement_starts(tree: ast.Module) -> dict[int, int]:
    """Each line of a statement that spans lines, mapped to the statement's first line.

    For a compound statement (if, for, def, with, ...) only its header counts:
    the lines of its body are their own statements.
    """
    starts: dict[int, int] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt) or node.end_lineno is None:
            continue
        bodies = [child for field in ("body", "orelse", "finalbody", "handlers") for child in getattr(node, field, [])]
        last = min((child.lineno for child in bodies), default=node.end_lineno + 1) - 1
        for line in range(node.lineno + 1, last + 1):
            starts.setdefault(line, node.lineno)
    return starts


def function_headers(tree: ast.Module) -> dict[int, int]:
    """Each line of a function's decorators and signature, mapped to the first statement of its body.

    They run at import, but what they decide (a default argument, a decorator)
    shows only when the function is called: in the tests that ran its body.
    """
    headers: dict[int, int] = {}
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        body = node.body[1:] if ast.get_docstring(node) is not None and len(node.body) > 1 else node.body
        first = min((decorator.lineno for decorator in node.decorator_list), default=node.lineno)
        for line in range(first, node.body[0].lineno):
            headers[line] = body[0].lineno
    return headers


def import_time_lines(tree: ast.Module) -> set[int]:
    """The lines a module runs when imported: all but its functions' bodies.

    A module is imported once per process, by whichever test needs it first
    (a layer module imported by the first hook a test runs): coverage gives its
    import-time lines that one test, though what they set shows in every test
    that uses it. So they count as run at import, like the lines of a module
    pytest imports while collecting.
    """
    lines = set(range(1, max((node.end_lineno or 0 for node in tree.body), default=0) + 1))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines -= set(range(node.body[0].lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def decorator_lines(tree: ast.Module) -> set[int]:
    """The lines of functions' decorators.

    A decorator can decide when its function runs at all (a reactive handler's
    @when): a mutant of it shows in the tests in which the function must not
    run, which never ran its body. So a decorator takes the tests of its body
    first, then every test file of its module.
    """
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                found.update(range(decorator.lineno, (decorator.end_lineno or decorator.lineno) + 1))
    return found


def name_uses(tree: ast.Module) -> dict[int, set[int]]:
    """Each line of a module constant or class attribute, mapped to the other lines that use its name.

    A constant is set at import, but a mutant of it shows only where it is read:
    in the tests that ran those lines (a name read as `NAME` or as `x.NAME`);
    read only on lines no test ran, it is as untested as they are. A name this
    module never reads (other modules do) keeps every test file, and so does a
    dataclass field made with `field(...)`, whose options act in the methods the
    dataclass generates, where coverage sees no line (repr=False shows in repr()).
    """
    used: dict[str, set[int]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            used.setdefault(node.id, set()).add(node.lineno)
        elif isinstance(node, ast.Attribute):
            used.setdefault(node.attr, set()).add(node.end_lineno or node.lineno)
    bodies = [tree.body, *(node.body for node in ast.walk(tree) if isinstance(node, ast.ClassDef))]
    uses: dict[int, set[int]] = {}
    for statement in (statement for body in bodies for statement in body):
        if not isinstance(statement, (ast.Assign, ast.AnnAssign)):
            continue
        if is_field_call(statement.value):
            continue  # its options (repr=, compare=) act in generated methods: every test file of the module
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        names = [target.id for target in targets if isinstance(target, ast.Name)]
        if not names:
            continue
        own = set(range(statement.lineno, (statement.end_lineno or statement.lineno) + 1))
        readers = set().union(*(used.get(name, set()) for name in names)) - own
        for line in own:
            uses[line] = readers
    return uses


def is_field_call(value: ast.expr | None) -> bool:
    """A dataclass field's `field(...)` (or `dataclasses.field(...)`)."""
    if not isinstance(value, ast.Call):
        return False
    called = value.func
    return (isinstance(called, ast.Name) and called.id == "field") or (
        isinstance(called, ast.Attribute) and called.attr == "field"
    )


def lines_to_tests(contexts_by_line: dict[int, list[str]], source: str) -> dict[int, list[str]]:
    """Each line's node ids (IMPORT among them when it ran outside a test), with multi-line statements
    and function headers filled in."""
    tree = ast.parse(source)
    tests = {line: sorted(set(map(test_of, contexts))) for line, contexts in contexts_by_line.items()}
    for line in import_time_lines(tree) & tests.keys():
        tests[line] = [IMPORT]
    for line, start in statement_starts(tree).items():
        if line not in tests and start in tests:
            tests[line] = tests[start]
    decorators = decorator_lines(tree)
    for line, body in function_headers(tree).items():
        if line in decorators:
            # Whichever tests ran it (the module's first import in a test), it shows in every test file.
            tests[line] = [test for test in tests.get(body, []) if test != IMPORT] + [IMPORT]
        elif IMPORT in tests.get(line, [IMPORT]) and tests.get(body) and IMPORT not in tests[body]:
            tests[line] = tests[body]
    for line, readers in name_uses(tree).items():
        found = [tests.get(reader, []) for reader in sorted(readers)]
        if IMPORT in tests.get(line, [IMPORT]) and found and not any(IMPORT in each for each in found):
            tests[line] = sorted({test for each in found for test in each})
    return tests


def measure(
    test_files: Iterable[str], sources: list[str], root: Path, data_file: Path
) -> dict[str, dict[int, list[str]]]:
    """Run `test_files` once under coverage and return each of `sources`' lines' tests (relative paths)."""
    run_under_coverage(test_files, sources, root, data_file)
    return from_data(data_file, sources, root)


def run_under_coverage(test_files: Iterable[str], sources: list[str], root: Path, data_file: Path) -> None:
    """Run the tests once, recording which test ran each line of the directories of `sources` into `data_file`."""
    directories = sorted({str((root / source).parent) for source in sources})
    subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "pytest_cov",
            *(f"--cov={directory}" for directory in directories), "--cov-context=test", "--cov-report=",
            *test_files,
        ],
        cwd=root, env={**os.environ, "COVERAGE_FILE": str(data_file)}, check=False, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def from_data(data_file: Path, sources: list[str], root: Path) -> dict[str, dict[int, list[str]]]:
    """Each line's tests of each of `sources` that `data_file` measured (relative paths)."""
    data = CoverageData(basename=str(data_file))
    data.read()
    measured = {str(Path(name).resolve().relative_to(root.resolve())): name for name in data.measured_files()}
    return {
        source: lines_to_tests(data.contexts_by_lineno(measured[source]), (root / source).read_text())
        for source in sources
        if source in measured
    }


def write(found: dict[str, dict[int, list[str]]], path: Path) -> None:
    path.write_text(json.dumps({source: {str(k): v for k, v in lines.items()} for source, lines in found.items()}))


def read(path: Path) -> dict[str, dict[int, list[str]]]:
    return {source: {int(k): v for k, v in lines.items()} for source, lines in json.loads(path.read_text()).items()}
