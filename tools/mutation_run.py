"""`make mutation`: run mutmut over the charm's code in parallel shards and print one report.

mutmut 2 writes each mutant into the file it mutates, so two runs must never
share a tree: every shard mutates its own disjoint set of files in its own copy
of the repository (the venv is shared, read-only). Each shard's baseline and
mutants run only the unit tests mutmut_config.py maps to the shard's files.
The shards' results are merged and judged by tools/mutation_report.py.

    tools/mutation_run.py [--jobs N] [PATH ...]   # files or directories; default: pyproject's paths_to_mutate
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

import mutation_report  # noqa: E402
from mutmut import Context, list_mutations  # noqa: E402

from mutmut_config import tests_for  # noqa: E402

# What a shard's copy of the tree leaves out: state of other tools, and the venv (linked instead).
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", ".venv-*", "build", ".localjuju", ".cache", "__pycache__", "*.pyc",
    ".pytest_cache", ".ruff_cache", ".mutmut-cache", "html",
)  # fmt: skip


@dataclass(frozen=True)
class Shard:
    index: int
    files: tuple[str, ...]
    mutants: int

    @property
    def tests(self) -> list[str]:
        """The union of the files' tests, each once, in the order first listed (fast ones first)."""
        return list(dict.fromkeys(test for name in self.files for test in tests_for(name)))


def default_paths() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    return [path.strip() for path in config["paths_to_mutate"].split(",") if path.strip()]


def source_files(paths: list[str]) -> list[str]:
    """The .py files under the given files and directories, relative to the repository root."""
    found: list[str] = []
    for given in paths:
        path = (ROOT / given).resolve()
        if not path.exists():
            raise SystemExit(f"mutation: {given} does not exist")
        candidates = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        found += [str(candidate.relative_to(ROOT)) for candidate in candidates if "__pycache__" not in candidate.parts]
    return list(dict.fromkeys(found))


def count_mutants(name: str) -> int:
    return len(list_mutations(Context(source=(ROOT / name).read_text(), filename=name, dict_synonyms=[])))


def split(counts: dict[str, int], jobs: int) -> list[Shard]:
    """Files onto at most `jobs` shards, largest first onto the least loaded, so shards end together."""
    loads: list[list[str]] = [[] for _ in range(jobs)]
    totals = [0] * jobs
    for name in sorted(counts, key=lambda n: -counts[n]):
        lightest = totals.index(min(totals))
        loads[lightest].append(name)
        totals[lightest] += counts[name]
    return [Shard(i, tuple(files), totals[i]) for i, files in enumerate(loads) if files]


def start(shard: Shard, workdir: Path) -> subprocess.Popen[bytes]:
    tree = workdir / f"shard-{shard.index}"
    shutil.copytree(ROOT, tree, ignore=NOT_COPIED, symlinks=True)
    (tree / ".venv").symlink_to(ROOT / ".venv")
    command = [
        str(tree / ".venv/bin/mutmut"), "run", "--no-progress", "--simple-output",
        "--paths-to-mutate", ",".join(shard.files),
        "--runner", " ".join(["sh tools/mutation-pytest", *shard.tests]),
    ]  # fmt: skip
    log = (workdir / f"shard-{shard.index}.log").open("wb")
    return subprocess.Popen(command, cwd=tree, stdout=log, stderr=subprocess.STDOUT)


def collect(shard: Shard, workdir: Path) -> list[mutation_report.Result]:
    """The shard's results, read by the report script inside the shard's tree (mutmut's cache is per directory)."""
    tree, exported = workdir / f"shard-{shard.index}", workdir / f"shard-{shard.index}.json"
    subprocess.run(
        [str(tree / ".venv/bin/python"), "tools/mutation_report.py", "--export", str(exported)], cwd=tree, check=True
    )
    results = [mutation_report.Result(**row) for row in json.loads(exported.read_text())]
    if not results:
        log = (workdir / f"shard-{shard.index}.log").read_text(errors="replace")
        print(f"shard {shard.index} ran no mutant; the end of its log:\n{log[-3000:]}", file=sys.stderr)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("MUTATION_JOBS", "4")))
    parser.add_argument("--keep", action="store_true", help="keep the shards' trees and logs")
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args()
    began = time.monotonic()
    counts = {name: count for name in source_files(args.paths or default_paths()) if (count := count_mutants(name))}
    shards = split(counts, max(1, args.jobs))
    workdir = Path(tempfile.mkdtemp(prefix="mutation-"))
    print(f"{sum(counts.values())} mutants in {len(counts)} files, {len(shards)} shards (work in {workdir})")
    try:
        running = [(shard, start(shard, workdir)) for shard in shards]
        for shard, process in running:
            process.wait()
            print(f"shard {shard.index}: {shard.mutants} mutants, done after {time.monotonic() - began:.0f} s")
        results = [result for shard in shards for result in collect(shard, workdir)]
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    status = mutation_report.report(results, mutation_report.load_equivalents(ROOT / "mutmut-equivalent.txt"))
    print(f"make mutation took {time.monotonic() - began:.0f} s wall time, {len(shards)} shards")
    return status


if __name__ == "__main__":
    sys.exit(main())
