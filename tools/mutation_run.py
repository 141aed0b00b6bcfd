"""`make mutation`: run mutmut over the charm's code in parallel shards and print one report.

mutmut 2 writes each mutant into the file it mutates, so two runs must never
share a tree: each of --jobs workers has its own copy of the repository (the
venv is shared, read-only) and takes files, largest first, from one queue.
Every file is its own `mutmut run`, whose baseline and mutants run only the
unit tests mutmut_config.py picks for it.

Each file's results are kept in .mutation-cache/ (one mutmut cache per file),
so the next run retests only what can have changed: mutmut keeps a killed
mutant killed and retests survivors whenever a unit test file changed (not
those listed as equivalent: mutation_report.settle_equivalents), and a
changed source line is a new mutant. A line that repeats an earlier line's
text is tested too (mutation_report.unshadow_repeated_lines). --fresh (make mutation FRESH=1) starts
from nothing. The results are merged and judged by tools/mutation_report.py.

--report (make mutation-report) runs nothing: it judges the results kept in
.mutation-cache/ as they are, so the whole code has one report after runs that
each measured a part of it. A file with no kept results counts as not run.

    tools/mutation_run.py [--jobs N] [--fresh] [PATH ...]   # files or directories; default: pyproject's paths_to_mutate
    tools/mutation_run.py --report [PATH ...]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

import mutation_coverage  # noqa: E402
import mutation_report  # noqa: E402

from mutmut_config import COVERAGE_MAP, tests_for  # noqa: E402

# What a worker's copy of the tree leaves out: state of other tools, and the venv (linked instead).
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", ".venv-*", "build", ".localjuju", ".cache", "__pycache__", "*.pyc",
    ".pytest_cache", ".ruff_cache", ".mutmut-cache", ".mutation-cache", "html",
)  # fmt: skip
CACHES = ROOT / ".mutation-cache"


def mutmut_setting(name: str) -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"][name]


def default_paths() -> list[str]:
    return [path.strip() for path in mutmut_setting("paths_to_mutate").split(",") if path.strip()]


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


def count_mutants(name: str, root: Path = ROOT) -> int:
    return len(mutation_report.mutations_of(name, root))


def cache_of(name: str) -> Path:
    return CACHES / (name.replace("/", "__") + ".sqlite")


def results_in(tree: Path, name: str) -> list[mutation_report.Result]:
    """The results of `name` in the mutmut cache of `tree`, which must hold the sources mutmut diffs against."""
    exported = tree / "results.json"
    report_tool = str(ROOT / "tools/mutation_report.py")
    subprocess.run([sys.executable, report_tool, "--export", str(exported)], cwd=tree, check=True)
    return [mutation_report.Result(**row) for row in json.loads(exported.read_text()) if row["filename"] == name]


@dataclass
class Worker:
    """One copy of the tree, mutating one file at a time."""

    tree: Path
    log: Path
    # The `mutmut run` under way and the file it mutates, for stop().
    running: subprocess.Popen[bytes] | None = None
    current: str = ""
    stopped: bool = False

    @classmethod
    def create(cls, workdir: Path, index: int) -> Worker:
        tree = workdir / f"tree-{index}"
        shutil.copytree(ROOT, tree, ignore=NOT_COPIED, symlinks=True)
        (tree / ".venv").symlink_to(ROOT / ".venv")
        return cls(tree, workdir / f"tree-{index}.log")

    def mutate(self, name: str, fresh: bool) -> list[mutation_report.Result]:
        cache, kept = self.tree / ".mutmut-cache", cache_of(name)
        cache.unlink(missing_ok=True)
        if kept.exists() and not fresh:
            shutil.copyfile(kept, cache)
            prepare = [sys.executable, "tools/mutation_report.py", "--prepare-rerun", mutmut_setting("tests_dir")]
            with self.log.open("ab") as log:
                subprocess.run(prepare, cwd=self.tree, stdout=log, stderr=subprocess.STDOUT, check=True)
        command = [
            str(self.tree / ".venv/bin/mutmut"), "run", "--no-progress", "--simple-output",
            "--paths-to-mutate", name, "--runner", " ".join(["sh tools/mutation-pytest", *tests_for(name)]),
        ]  # fmt: skip
        with self.log.open("ab") as log:
            log.write(f"\n=== {name}\n".encode())
            log.flush()
            # Its own session: stop() ends mutmut with its test workers, which outlive it otherwise.
            self.current = name
            self.running = subprocess.Popen(
                command, cwd=self.tree, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            self.running.wait()
            self.running = None
        if self.stopped:
            return []
        results = results_in(self.tree, name)
        if results:
            CACHES.mkdir(exist_ok=True)
            shutil.copyfile(cache, kept)
        else:
            print(f"{name}: no mutant ran; see the end of {self.log}", file=sys.stderr)
        return results

    def stop(self) -> None:
        """End the run under way and keep what it has measured so far, for the next run to go on from."""
        self.stopped = True
        if self.running is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.running.pid, signal.SIGKILL)
            self.running.wait()
            cache = self.tree / ".mutmut-cache"
            if cache.exists():
                CACHES.mkdir(exist_ok=True)
                shutil.copyfile(cache, cache_of(self.current))
                print(f"{self.current}: stopped; what it measured so far is kept", file=sys.stderr)


def kept_results(counts: dict[str, int], root: Path, workdir: Path) -> list[mutation_report.Result]:
    """The results kept in root's .mutation-cache/ for each file, read where mutmut can see root's sources.

    A mutant the kept results lack (a file never run, or a line changed since) counts as `untested`.
    """
    for top in {Path(name).parts[0] for name in counts}:
        (workdir / top).symlink_to(root / top)
    results: list[mutation_report.Result] = []
    for name, count in counts.items():
        kept: list[mutation_report.Result] = []
        cache = root / ".mutation-cache" / cache_of(name).name
        if cache.exists():
            shutil.copyfile(cache, workdir / ".mutmut-cache")
            kept = results_in(workdir, name)
        results += with_unrun(kept, name, count)
    return results


def with_unrun(results: list[mutation_report.Result], name: str, count: int) -> list[mutation_report.Result]:
    """`results` of `name`, and one `untested` for each of its `count` mutants they lack."""
    return results + [mutation_report.Result(name, 0, "untested", "", "")] * max(0, count - len(results))


def map_lines_to_tests(names: list[str], workdir: Path) -> Path:
    """Run the tests of `names` once under coverage: the map mutmut_config picks each mutant's tests from.

    The coverage data is kept in .mutation-cache/ with a digest of the code
    and the tests: while they are unchanged, the next run reuses it.
    """
    started = time.monotonic()
    tests = list(dict.fromkeys(test for name in names for test in tests_for(name)))
    digest = tree_digest([*names, *tests])
    data, kept = CACHES / "coverage.sqlite", CACHES / "coverage.digest"
    if data.exists() and kept.exists() and kept.read_text() == digest:
        print("which tests run each line: code and tests unchanged since the last run", flush=True)
    else:
        CACHES.mkdir(exist_ok=True)
        kept.unlink(missing_ok=True)
        mutation_coverage.run_under_coverage(tests, names, ROOT, data)
        kept.write_text(digest)
    found = mutation_coverage.from_data(data, names, ROOT)
    path = workdir / "lines-to-tests.json"
    mutation_coverage.write(found, path)
    print(
        f"which tests run each line: {len(found)} of {len(names)} files mapped, in {time.monotonic() - started:.0f} s",
        flush=True,
    )
    return path


def tree_digest(chosen: list[str]) -> str:
    """What the coverage data depends on: the chosen files and tests, and every .py file of the code and unit tests."""
    digest = hashlib.sha256("\n".join(chosen).encode())
    for top in ("lib", "reactive", "interfaces", "layers", "tests/unit", "tests/conftest.py"):
        for path in sorted((ROOT / top).rglob("*.py")) if (ROOT / top).is_dir() else [ROOT / top]:
            if "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def run_all(
    counts: dict[str, int], jobs: int, fresh: bool, workdir: Path, began: float
) -> list[mutation_report.Result]:
    pending = queue.SimpleQueue[str]()
    for name in sorted(counts, key=lambda n: -counts[n]):
        pending.put(name)
    results: list[mutation_report.Result] = []

    workers = [Worker.create(workdir, index) for index in range(min(jobs, len(counts)))]

    def work(worker: Worker) -> None:
        while not worker.stopped:
            try:
                name = pending.get_nowait()
            except queue.Empty:
                return
            done = with_unrun(worker.mutate(name, fresh), name, counts[name])
            if worker.stopped:
                return
            results.extend(done)
            killed = sum(result.status in mutation_report.KILLED for result in done)
            print(f"{name}: {killed}/{len(done)} killed, after {time.monotonic() - began:.0f} s", flush=True)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:  # Ctrl-C, or SIGTERM (see main)
        for worker in workers:
            worker.stop()
        raise
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("MUTATION_JOBS", "4")))
    parser.add_argument("--keep", action="store_true", help="keep the workers' trees and logs")
    parser.add_argument("--fresh", action="store_true", help="ignore the results kept in .mutation-cache/")
    parser.add_argument("--report", action="store_true", help="run nothing: judge the results kept in .mutation-cache/")
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped like Ctrl-C: the workers' results are kept
    began = time.monotonic()
    counts = {name: count for name in source_files(args.paths or default_paths()) if (count := count_mutants(name))}
    jobs = max(1, args.jobs)
    workdir = Path(tempfile.mkdtemp(prefix="mutation-"))
    if args.report:
        try:
            results = kept_results(counts, ROOT, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return mutation_report.report(results, mutation_report.load_equivalents(ROOT / "mutmut-equivalent.txt"))
    print(f"{sum(counts.values())} mutants in {len(counts)} files, {jobs} workers (work in {workdir})", flush=True)
    try:
        os.environ[COVERAGE_MAP] = str(map_lines_to_tests(list(counts), workdir))
        results = run_all(counts, jobs, args.fresh, workdir, began)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    status = mutation_report.report(results, mutation_report.load_equivalents(ROOT / "mutmut-equivalent.txt"))
    print(f"make mutation took {time.monotonic() - began:.0f} s wall time, {jobs} workers")
    return status


if __name__ == "__main__":
    sys.exit(main())
