"""Print the score of the last `mutmut run` and every surviving mutant, explained or not.

Reads mutmut's result cache (.mutmut-cache) of one run; with --export it writes
the results as JSON instead, for tools/mutation_run.py to merge. A survivor listed in
mutmut-equivalent.txt is shown with the reason no test can kill it; any other
survivor is a gap in the tests. Exits non-zero below the target score or when a
survivor is unexplained.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

TARGET = 0.90
# A mutant whose tests never finish (mutmut's timeout, ten times the baseline) is
# caught: with it the test suite never passes.
KILLED = ("ok_killed", "ok_suspicious", "bad_timeout")
SURVIVED = ("bad_survived",)


@dataclass(frozen=True)
class Mutant:
    pk: int
    filename: str
    line_number: int
    status: str


@dataclass(frozen=True)
class Result:
    """One mutant as the report needs it; what a shard of `make mutation` hands back."""

    filename: str
    line_number: int
    status: str
    original: str
    mutated: str


@dataclass(frozen=True)
class Equivalent:
    filename: str
    mutated: str
    reason: str
    # For a mutant that empties its line (a removed decorator): the line it is on.
    line: int | None = None


def mutations_of(filename: str, root: Path = Path()) -> list[Any]:
    """mutmut's mutants of root/filename as it runs them: each names its line's text, 0-based number and index."""
    from mutmut import Context, list_mutations

    path = root / filename
    if not path.exists():
        return []
    return list_mutations(Context(source=path.read_text(), filename=filename, dict_synonyms=[]))


def load_mutants(cache: Path) -> list[Mutant]:
    """The cache's mutants of lines the source still has where the cache says.

    A cache kept from an earlier run can hold entries for a line that has since
    moved or gone, or two entries for one line (mutmut matches repeated lines
    such as `@property` loosely): a mutant mutmut would not make from the code
    any more is left out, and of two for the same line and mutation the one
    tested counts.
    """
    with sqlite3.connect(cache) as db:
        rows = db.execute(
            'SELECT m.id, s.filename, l.line_number, l.line, m."index", m.status FROM mutant m '
            "JOIN line l ON m.line = l.id JOIN sourcefile s ON l.sourcefile = s.id ORDER BY s.filename, l.line_number"
        ).fetchall()
    made: dict[str, set[tuple[str, int, int]]] = {}
    mutants: dict[tuple[str, int, int], Mutant] = {}
    for pk, filename, number, text, index, status in rows:
        if filename not in made:
            made[filename] = {(m.line, m.line_number, m.index) for m in mutations_of(filename)}
        key = (filename, number, index)
        if (text, number, index) in made[filename] and (key not in mutants or status != "untested"):
            mutants[key] = Mutant(pk, filename, number + 1, status)
    return list(mutants.values())


def load_equivalents(path: Path) -> list[Equivalent]:
    """Blocks of `file:`, `mutant:`, `reason:` (and for an emptied line `line:`) lines; # starts a comment."""
    entries, block = [], {}
    for line in [*path.read_text().splitlines(), ""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if block:
                line_number = int(block["line"]) if "line" in block else None
                entries.append(Equivalent(block["file"], block["mutant"], block["reason"], line_number))
            block = {}
            continue
        key, _, value = line.partition(":")
        if key.strip() in block:
            raise ValueError(f"{path}: a block has two {key.strip()}: lines (a blank line missing before {line!r})")
        block[key.strip()] = value.strip()
    return entries


def mutated_line(mutant: Mutant) -> tuple[str, str]:
    """(original line, mutated line) of a mutant, both stripped, from mutmut's own diff."""
    from mutmut.cache import get_unified_diff

    diff = get_unified_diff(mutant.pk, dict_synonyms=[], update_cache=False)
    removed = [line[1:].strip() for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return (removed[0] if removed else "", added[0] if added else "")


def results_from_cache(cache: Path) -> list[Result]:
    """Every mutant in mutmut's cache; the diffs are read by mutmut, from the cache in the current directory."""
    results = []
    for mutant in load_mutants(cache):
        original, mutated = mutated_line(mutant) if mutant.status in SURVIVED else ("", "")
        results.append(Result(mutant.filename, mutant.line_number, mutant.status, original, mutated))
    return results


def follow_moved_lines(cache: Path) -> None:
    """What mutmut does first when it runs: move the cache's lines to where the sources now have them.

    Done before the other steps of --prepare-rerun, so that they see the lines mutmut will test.
    """
    from mutmut.cache import update_line_numbers

    with sqlite3.connect(cache) as db:
        names = [name for (name,) in db.execute("SELECT filename FROM sourcefile")]
    for name in names:
        if Path(name).exists():
            update_line_numbers(name)


def settle_equivalents(cache: Path, equivalents: list[Equivalent], tests_dir: str) -> int:
    """Mark each survivor listed as equivalent as tested against the current tests, and each other
    survivor as not; how many are listed.

    mutmut retests every survivor once any test file changed. A listed survivor
    cannot be killed, and retesting one can take minutes (a constant runs every test
    of its module): this keeps mutmut from running it again. A survivor not listed
    is run again at every run (also one whose entry was just removed, with the
    tests unchanged since it was settled), until a test kills it or the list
    explains it.
    """
    from mutmut.cache import hash_of_tests

    current = hash_of_tests([tests_dir])
    marks = []
    for mutant in load_mutants(cache):
        if mutant.status in SURVIVED:
            original, mutated = mutated_line(mutant)
            listed = explain(Result(mutant.filename, mutant.line_number, mutant.status, original, mutated), equivalents)
            marks.append((current if listed else "", mutant.pk))
    with sqlite3.connect(cache) as db:
        db.executemany("UPDATE mutant SET tested_against_hash = ? WHERE id = ?", marks)
    return sum(1 for mark, _ in marks if mark)


def unshadow_repeated_lines(cache: Path, tests_dir: str) -> int:
    """Have mutmut test the mutants of a line whose text an earlier line repeats; how many it will.

    mutmut 2 looks a mutant's status up by its line's text alone, in the first
    line with that text that has a mutant (its "twin"): a second `return False`
    added after the first was tested is never run (it gets no entry of its own),
    nor is one whose twin was killed or is up to date. This gives the later
    line's mutants entries of their own, and wherever one is not killed and not
    tested against the current tests, marks its twin's untested so that mutmut
    runs both.
    """
    from mutmut.cache import hash_of_tests

    current = hash_of_tests([tests_dir])
    with sqlite3.connect(cache) as db:
        files = db.execute("SELECT id, filename FROM sourcefile").fetchall()
        rows = db.execute("SELECT id, sourcefile, line_number FROM line")
        line_ids = {(file, number): line for line, file, number in rows}
        kept: dict[int, dict[int, tuple[str, str]]] = {}
        for index, line, status, tested_against in db.execute(
            'SELECT "index", line, status, tested_against_hash FROM mutant'
        ):
            kept.setdefault(line, {})[index] = (status, tested_against)
        shadowed = 0
        for file, filename in files:
            first: dict[str, int] = {}
            for mutation in mutations_of(filename):
                line_id = line_ids.get((file, mutation.line_number))
                twin = line_ids.get((file, first.setdefault(mutation.line, mutation.line_number)))
                if line_id is None or twin is None or twin == line_id:
                    continue
                status, tested_against = kept.get(line_id, {}).get(mutation.index, ("untested", ""))
                if status == "ok_killed" or (status != "untested" and tested_against == current):
                    continue
                if mutation.index not in kept.get(line_id, {}):
                    db.execute(
                        'INSERT INTO mutant (line, "index", tested_against_hash, status) VALUES (?, ?, ?, ?)',
                        (line_id, mutation.index, "", "untested"),
                    )
                db.execute(
                    'UPDATE mutant SET status = ? WHERE line = ? AND "index" = ?', ("untested", twin, mutation.index)
                )
                shadowed += 1
    return shadowed


def explain(result: Result, equivalents: list[Equivalent]) -> str | None:
    for entry in equivalents:
        same_line = entry.line is None or entry.line == result.line_number
        if entry.filename == result.filename and entry.mutated == result.mutated and same_line:
            return entry.reason
    return None


def report(results: list[Result], equivalents: list[Equivalent]) -> int:
    """Print each survivor and the score.

    Non-zero below the target, or with a survivor unexplained or a mutant not run.
    """
    tested = [r for r in results if r.status in KILLED + SURVIVED]
    killed = [r for r in tested if r.status in KILLED]
    unexplained = 0
    for result in (r for r in tested if r.status in SURVIVED):
        reason = explain(result, equivalents)
        unexplained += reason is None
        label = f"equivalent: {reason}" if reason else "NOT KILLED: a test is missing"
        print(f"{result.filename}:{result.line_number} [{result.status}] {label}")
        print(f"    - {result.original}\n    + {result.mutated}")
    untested = len(results) - len(tested)
    for filename, count in Counter(r.filename for r in results if r.status not in KILLED + SURVIVED).items():
        print(f"{filename}: {count} mutants not run (changed since its last run, or never run)")
    score = len(killed) / len(tested) if tested else 0.0
    explained = len(tested) - len(killed) - unexplained
    print(
        f"\nmutation score: {len(killed)}/{len(tested)} killed = {score:.1%} "
        f"({explained} survivors explained as equivalent, {unexplained} unexplained, {untested} not run)"
    )
    if score < TARGET:
        print(f"below the target of {TARGET:.0%}", file=sys.stderr)
        return 1
    return 1 if unexplained or untested else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(".mutmut-cache"))
    parser.add_argument("--equivalents", type=Path, default=Path("mutmut-equivalent.txt"))
    parser.add_argument("--export", type=Path, help="write the results as JSON instead of judging them")
    parser.add_argument(
        "--prepare-rerun",
        metavar="TESTS_DIR",
        help="before mutmut runs on the cache again: skip survivors listed as equivalent, run repeated lines",
    )
    args = parser.parse_args()
    if args.prepare_rerun:
        if args.cache.resolve() != Path(".mutmut-cache").resolve():
            parser.error("--prepare-rerun works on the .mutmut-cache of the current directory, which mutmut reads")
        follow_moved_lines(args.cache)
        settled = settle_equivalents(args.cache, load_equivalents(args.equivalents), args.prepare_rerun)
        unshadowed = unshadow_repeated_lines(args.cache, args.prepare_rerun)
        print(f"{settled} survivors listed as equivalent are not run again; {unshadowed} mutants of repeated lines are")
        return 0
    results = results_from_cache(args.cache) if args.cache.exists() else []
    if args.export:
        args.export.write_text(json.dumps([asdict(result) for result in results]))
        return 0
    return report(results, load_equivalents(args.equivalents) if args.equivalents.exists() else [])


if __name__ == "__main__":
    sys.exit(main())
