"""make mutation's choice of tests for a mutant: the tests that ran its line, from one coverage run."""

from __future__ import annotations

import ast
import os
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

import mutation_coverage  # noqa: E402
import mutation_report  # noqa: E402
import mutation_run  # noqa: E402

import mutmut_config  # noqa: E402

SOURCE = """\
LIMIT = 3
NAME = "picker"


def pick(values, at_least=LIMIT):
    chosen = dict(
        first=values[0],
        rest=values[1:],
    )
    if (len(values) >
            at_least):
        return chosen
    return None


def never_called():
    return NAME + "!"


EXPORTED = "read by other modules only"
"""

TESTS = """\
import picker

def test_long():
    assert picker.pick([1, 2, 3, 4])

def test_short():
    assert picker.pick([1]) is None
"""


def test_a_continuation_line_takes_its_statements_first_line_and_a_body_line_its_own() -> None:
    starts = mutation_coverage.statement_starts(ast.parse(SOURCE))
    assert starts[7] == starts[8] == 6  # inside dict(...)
    assert starts[11] == 10  # the if's condition, on its second line
    assert 12 not in starts and 13 not in starts  # the if's body and the last return are statements


def test_the_map_gives_each_line_the_tests_that_ran_it(tmp_path: Path) -> None:
    (tmp_path / "picker.py").write_text(SOURCE)
    (tmp_path / "test_picker.py").write_text(TESTS)
    found = mutation_coverage.measure(["test_picker.py"], ["picker.py"], tmp_path, tmp_path / ".coverage")["picker.py"]
    long, short = "test_picker.py::test_long", "test_picker.py::test_short"
    assert found[2] == []  # NAME: read only by a function no test calls
    assert found[20] == [mutation_coverage.IMPORT]  # EXPORTED: this module never reads it, others may
    assert found[6] == found[7] == found[10] == found[11] == [long, short]
    assert found[12] == [long] and found[13] == [short]


def test_a_mutant_runs_the_tests_of_its_line_own_test_file_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    name = "lib/charms/layer/redis/tuning.py"
    own, other = "tests/unit/test_tuning.py::test_a", "tests/unit/test_handlers.py::test_b"
    lines = {10: [other, own], 11: [mutation_coverage.IMPORT, own], 12: []}
    path = tmp_path / "map.json"
    mutation_coverage.write({name: lines}, path)
    monkeypatch.setenv(mutmut_config.COVERAGE_MAP, str(path))
    mutmut_config.loaded_coverage_map.cache_clear()
    try:
        assert mutmut_config.tests_for_line(name, 10) == [own, other]
        every_file = mutmut_config.tests_for(name)
        assert mutmut_config.tests_for_line(name, 11) == every_file  # ran at import: every test file
        in_subprocess = [test for test in every_file if mutmut_config.runs_charm_code_in_a_subprocess(test)]
        assert mutmut_config.tests_for_line(name, 12) == mutmut_config.tests_for_line(name, 99) == in_subprocess
        assert mutmut_config.tests_for_line("lib/charms/layer/redis/conf.py", 10) == mutmut_config.tests_for(
            "lib/charms/layer/redis/conf.py"
        )  # a file the map does not have
    finally:
        mutmut_config.loaded_coverage_map.cache_clear()


def test_a_line_no_test_runs_survives_without_running_the_whole_suite(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    name = "lib/charms/layer/redis/resp.py"  # no unit test file of it starts Python on the charm's code
    path = tmp_path / "map.json"
    mutation_coverage.write({name: {}}, path)
    monkeypatch.setenv(mutmut_config.COVERAGE_MAP, str(path))
    mutmut_config.loaded_coverage_map.cache_clear()

    class Context:
        filename, current_line_index = name, 4

        class config:
            test_command = ""

    try:
        mutmut_config.pre_mutation(Context)
    finally:
        mutmut_config.loaded_coverage_map.cache_clear()
    assert Context.config.test_command == "true"
    assert subprocess.run(Context.config.test_command, shell=True, check=False).returncode == 0


def test_a_dataclass_field_made_with_field_runs_every_test_file_of_its_module(tmp_path: Path) -> None:
    source = "from dataclasses import dataclass, field\n\n\n@dataclass\nclass Login:\n"
    source += "    name: str\n    password: str = field(repr=False)\n    port: int = 6379\n\n\n"
    source += "def address(login):\n    return login.port, login.password\n"
    (tmp_path / "login.py").write_text(source)
    test = "import login\n\n\ndef test_repr():\n    assert 'pw' not in repr(login.Login('a', 'pw'))\n\n\n"
    test += "def test_port():\n    assert login.address(login.Login('a', 'pw')) == (6379, 'pw')\n"
    (tmp_path / "test_login.py").write_text(test)
    found = mutation_coverage.measure(["test_login.py"], ["login.py"], tmp_path, tmp_path / ".coverage")["login.py"]
    assert found[7] == [mutation_coverage.IMPORT]  # not test_port's: repr= shows only in the generated __repr__
    assert found[8] == ["test_login.py::test_port"]  # a plain default: the tests that read it


def test_a_constant_of_a_module_a_test_imports_first_takes_the_tests_that_read_it(tmp_path: Path) -> None:
    # Imported inside test_first, whose run alone coverage credits with the module's import-time lines.
    (tmp_path / "lazy.py").write_text(
        'PREFIX = "Invoking "\n\n\ndef held(message):\n    return message.startswith(PREFIX)\n'
    )
    test = "def test_first():\n    import lazy  # noqa\n\n\n"
    test += "def test_held():\n    import lazy\n\n    assert lazy.held('Invoking x') and not lazy.held('x')\n"
    (tmp_path / "test_lazy.py").write_text(test)
    found = mutation_coverage.measure(["test_lazy.py"], ["lazy.py"], tmp_path, tmp_path / ".coverage")["lazy.py"]
    assert found[1] == ["test_lazy.py::test_held"]  # where PREFIX is read
    assert found[4] == ["test_lazy.py::test_held"]  # the signature: its body's tests


def test_a_functions_signature_and_decorators_take_the_tests_that_ran_its_body(tmp_path: Path) -> None:
    # `at_least=LIMIT` is evaluated at import, but only a call of pick() shows a mutant of it.
    (tmp_path / "picker.py").write_text(SOURCE.replace("def pick", "@staticmethod\ndef pick"))
    (tmp_path / "test_picker.py").write_text(TESTS.replace("picker.pick(", "picker.pick.__func__("))
    found = mutation_coverage.measure(["test_picker.py"], ["picker.py"], tmp_path, tmp_path / ".coverage")["picker.py"]
    both = ["test_picker.py::test_long", "test_picker.py::test_short"]
    assert found[6] == found[7] == both  # the def line, the body's first line
    assert found[5] == [*both, mutation_coverage.IMPORT]  # the decorator: every test file, those first
    assert found[1] == both  # LIMIT, read only by pick's signature


PICKER = 'def double(x):\n    return x * 2\n\n\ndef describe(x):\n    return "big" if x > 10 else "no"\n'
PICKER_TEST = (
    'import sys\nsys.path.insert(0, "lib")\nimport picker\n\n\ndef test_double():\n    assert picker.double(3) == 6\n'
)


def mutmut_run(project: Path) -> dict[str, int]:
    """Run mutmut on project/lib/picker.py with project/tests; how many mutants of each status its cache holds."""
    runner = f"{sys.executable} -m pytest -x -q -p no:cacheprovider tests"
    mutmut = [str(Path(sys.executable).parent / "mutmut"), "run", "--paths-to-mutate", "lib/picker.py"]
    subprocess.run([*mutmut, "--tests-dir", "tests", "--runner", runner, "--no-progress"], cwd=project, check=False)
    with sqlite3.connect(project / ".mutmut-cache") as db:
        statuses = [status for (status,) in db.execute("SELECT status FROM mutant")]
    # Killed but slowly (a loaded machine) is killed.
    return dict(Counter("ok_killed" if status == "ok_suspicious" else status for status in statuses))


@pytest.fixture
def picker(tmp_path: Path) -> Path:
    """A project of one module whose test sees double's two mutants and none of describe's four."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "lib/picker.py").write_text(PICKER)
    (tmp_path / "tests/test_picker.py").write_text(PICKER_TEST)
    assert mutmut_run(tmp_path) == {"ok_killed": 2, "bad_survived": 4}  # describe: >=, 11, "XXbigXX", "XXnoXX"
    return tmp_path


def test_the_report_of_kept_results_counts_what_was_measured_and_what_changed_since(picker: Path) -> None:
    (picker / ".mutation-cache").mkdir()
    (picker / ".mutmut-cache").rename(picker / ".mutation-cache/lib__picker.py.sqlite")

    def kept() -> dict[str, int]:
        counts = {"lib/picker.py": mutation_run.count_mutants("lib/picker.py", picker)}
        (picker / "work").mkdir()
        try:
            results = mutation_run.kept_results(counts, picker, picker / "work")
        finally:
            shutil.rmtree(picker / "work")
        return {status: sum(r.status == status for r in results) for status in {r.status for r in results}}

    assert kept() == {"ok_killed": 2, "bad_survived": 4}
    source = picker / "lib/picker.py"
    source.write_text(source.read_text().replace("x > 10", "x > 20"))
    assert kept() == {"ok_killed": 2, "untested": 4}  # the changed line's mutants were never run


def test_the_report_names_each_file_with_mutants_not_run(capsys: pytest.CaptureFixture[str]) -> None:
    results = [
        mutation_report.Result("lib/a.py", 1, "ok_killed", "x", "y"),
        *[mutation_report.Result("lib/b.py", 0, "untested", "", "")] * 2,
        mutation_report.Result("lib/c.py", 3, "untested", "x", "y"),
    ]
    assert mutation_report.report(results, []) == 1
    printed = capsys.readouterr().out.splitlines()
    assert "lib/b.py: 2 mutants not run (changed since its last run, or never run)" in printed
    assert "lib/c.py: 1 mutants not run (changed since its last run, or never run)" in printed
    assert not [line for line in printed if line.startswith("lib/a.py")]


def test_an_entry_for_a_mutant_mutmut_no_longer_makes_is_not_counted(
    picker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As a kept cache can hold after lines moved: an entry on a line that has no mutant (now).
    with sqlite3.connect(picker / ".mutmut-cache") as db:
        (line,) = db.execute("SELECT id FROM line WHERE line = 'def double(x):'").fetchone()
        db.execute(
            "INSERT INTO mutant (line, \"index\", tested_against_hash, status) VALUES (?, 0, '', 'untested')", (line,)
        )
    monkeypatch.chdir(picker)
    found = Counter(mutant.status for mutant in mutation_report.load_mutants(picker / ".mutmut-cache"))
    assert found == {"ok_killed": 2, "bad_survived": 4}


def test_a_survivor_listed_as_equivalent_is_not_retested_when_the_tests_change(picker: Path) -> None:
    # A new test that kills all but `>=`; the run settles what is listed first, as make mutation does.
    with (picker / "tests/test_picker.py").open("a") as test:
        test.write(
            '\n\ndef test_describe():\n    assert picker.describe(1) == "no"\n    assert picker.describe(11) == "big"\n'
        )
    listed = 'file: lib/picker.py\nmutant: return "big" if x > 10 else "XXnoXX"\nreason: for this test\n'
    (picker / "equivalent.txt").write_text(listed)
    report = [sys.executable, str(ROOT / "tools/mutation_report.py"), "--equivalents", "equivalent.txt"]
    subprocess.run([*report, "--prepare-rerun", "tests"], cwd=picker, check=True)
    assert mutmut_run(picker) == {"ok_killed": 4, "bad_survived": 2}  # the listed one was not run again


def test_a_line_repeating_an_earlier_lines_text_is_tested_when_added_after_it(picker: Path) -> None:
    source = picker / "lib/picker.py"
    source.write_text(source.read_text() + "\n\ndef also_double(x):\n    return x * 2\n")
    # mutmut alone takes the new line's results from double's: its two mutants get no entry and never run.
    assert mutmut_run(picker) == {"ok_killed": 2, "bad_survived": 4}
    report = [sys.executable, str(ROOT / "tools/mutation_report.py"), "--equivalents", "/dev/null"]
    subprocess.run([*report, "--prepare-rerun", "tests"], cwd=picker, check=True)
    assert mutmut_run(picker) == {"ok_killed": 2, "bad_survived": 6}  # no test calls also_double


def test_a_repeated_line_is_tested_when_an_earlier_line_with_its_text_has_no_mutant(picker: Path) -> None:
    # mutmut's twin is the first line with the text that has a mutant (double's), not the string's line.
    source = picker / "lib/picker.py"
    example = 'EXAMPLE = """\n    return x * 2\n"""\n\n\n'
    source.write_text(example + source.read_text() + "\n\ndef also_double(x):\n    return x * 2\n")
    report = [sys.executable, str(ROOT / "tools/mutation_report.py"), "--equivalents", "/dev/null"]
    subprocess.run([*report, "--prepare-rerun", "tests"], cwd=picker, check=True)
    statuses = mutmut_run(picker)
    assert "untested" not in statuses
    assert sum(statuses.values()) == len(mutation_report.mutations_of(str(source)))


def test_a_repeated_line_whose_result_is_out_of_date_is_tested_again_not_given_its_twins(picker: Path) -> None:
    source = picker / "lib/picker.py"
    source.write_text(source.read_text() + "\n\ndef also_double(x):\n    return x * 2\n")
    report = [sys.executable, str(ROOT / "tools/mutation_report.py"), "--equivalents", "/dev/null"]
    subprocess.run([*report, "--prepare-rerun", "tests"], cwd=picker, check=True)
    assert mutmut_run(picker) == {"ok_killed": 2, "bad_survived": 6}
    with (picker / "tests/test_picker.py").open("a") as test:
        test.write("\n\ndef test_also_double():\n    assert picker.also_double(3) == 6\n")
    subprocess.run([*report, "--prepare-rerun", "tests"], cwd=picker, check=True)
    assert mutmut_run(picker) == {"ok_killed": 4, "bad_survived": 4}  # also_double's two are killed now


def test_a_test_run_that_aborts_counts_as_failing(tmp_path: Path) -> None:
    # mutmut counts every exit status but 1 as the tests passing: a crash must not be a survivor.
    (tmp_path / "test_crash.py").write_text("import os\n\n\ndef test_crash():\n    os.abort()\n")
    (tmp_path / "test_fine.py").write_text("def test_fine():\n    assert True\n")
    runner = ["sh", "tools/mutation-pytest"]
    assert subprocess.run([*runner, str(tmp_path / "test_crash.py")], cwd=ROOT, check=False).returncode == 1
    assert subprocess.run([*runner, str(tmp_path / "test_fine.py")], cwd=ROOT, check=False).returncode == 0


def test_a_test_that_outlives_its_time_limit_counts_as_failing(tmp_path: Path) -> None:
    # A mutant that makes a test wait forever is killed by its test's time limit, not mutmut's (minutes).
    (tmp_path / "test_waits.py").write_text("import time\n\n\ndef test_waits():\n    time.sleep(30)\n")
    limited = {**os.environ, "MUTATION_TEST_TIMEOUT": "1"}
    ran = subprocess.run(["sh", "tools/mutation-pytest", str(tmp_path / "test_waits.py")], cwd=ROOT,
                         env=limited, capture_output=True, text=True, check=False)  # fmt: skip
    assert ran.returncode == 1
    assert "test_waits" in ran.stderr  # where it was stuck


def test_two_equivalents_without_a_blank_line_between_them_are_an_error(tmp_path: Path) -> None:
    listed = tmp_path / "equivalent.txt"
    one = "file: lib/a.py\nmutant: x = 2\nreason: r\n"
    listed.write_text(one + "\n" + one.replace("a.py", "b.py"))
    assert [entry.filename for entry in mutation_report.load_equivalents(listed)] == ["lib/a.py", "lib/b.py"]
    listed.write_text(one + one.replace("a.py", "b.py"))  # as a union merge can leave them
    with pytest.raises(ValueError, match="a block has two file: lines"):
        mutation_report.load_equivalents(listed)


def test_a_survivor_whose_equivalent_entry_is_removed_is_run_again(picker: Path) -> None:
    with (picker / "tests/test_picker.py").open("a") as test:
        test.write('\n\ndef test_describe():\n    assert picker.describe(1) == "no"\n')
    listed = 'file: lib/picker.py\nmutant: return "big" if x > 10 else "XXnoXX"\nreason: for this test\n'
    (picker / "equivalent.txt").write_text(listed)
    report = [sys.executable, str(ROOT / "tools/mutation_report.py"), "--equivalents", "equivalent.txt"]
    subprocess.run([*report, "--prepare-rerun", "tests"], cwd=picker, check=True)
    assert mutmut_run(picker) == {"ok_killed": 2, "bad_survived": 4}  # listed: not run
    (picker / "equivalent.txt").write_text("")  # the entry goes; the tests stay as they were
    subprocess.run([*report, "--prepare-rerun", "tests"], cwd=picker, check=True)
    assert mutmut_run(picker) == {"ok_killed": 3, "bad_survived": 3}
