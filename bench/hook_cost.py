#!/usr/bin/env python3
"""Benchmark (a): the cost of a no-op hook of the built charm against `import charms.reactive`.

Both are timed inside a unit of the local model, on the unit's own Python and
environment: the hook is `pre-series-upgrade` (no handler of the charm reacts to
it, so it is the fixed cost every hook pays: interpreter, imports, kv store,
leadership and config flags, hook tools), run through `juju exec` from the
charm directory as an operator would. The baseline compares like with like:
`import charms.reactive` in the unit's venv with the same import stand-ins the
hook installs first (charms.layer.import_shims, so that neither pays for
distutils or pkg_resources); the bare import without them is printed too, as
the cost the stand-ins save. Prints the medians of RUNS runs each (taken in
alternating rounds with the previous revision's) and their ratios, and the
same net of the hook tool calls the hook makes (counted with wrappers),
since the local model's tools (~30 ms each, Python) cost more than Juju's.

Beside the hook's figures (median, hook-tool calls, median net of the calls)
it prints the same for a previous revision of the charm (PREVIOUS, default
the last revision whose every-hook health check cost 10 calls), built from git
into a temporary directory with that revision's own layers and deployed in the
same model, so that both are measured on the same machine at the same time.

The same charm on the upstream layer-basic and layer-leadership is not
measured: it cannot be built offline. charm-build's wheelhouse for upstream
layer-basic downloads its pinned sdists from PyPI (pip<19, setuptools<42,
PyYAML<=5.2, Jinja2<=2.10.1, charmhelpers<1.0), its first hook apt-installs
python3-pip, python3-dev and build-essential and pip-installs them, and those
pins do not install on Ubuntu 24.04's Python 3.12 (no distutils for pip 18 or
PyYAML 5.2) at all.

Usage: bench/hook_cost.py [RUNS [PREVIOUS]]   (default 30, 49b6970; run as root, after `make build`)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import jubilant

from common import ROOT, redis_model

# The last revision whose every-hook health check made a no-op hook cost 10 hook-tool calls and
# import redis-py (f69dfd9 is the one before the relation-view savings: 11 calls).
PREVIOUS = "49b6970"
# The runs of each charm are split in this many rounds, taken in turn.
ROUNDS = 3

TIMER = r"""
import json, os, statistics, subprocess, sys, time
runs = int(sys.argv[1])
def seconds(command):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times
def median_seconds(command):
    return statistics.median(seconds(command))
def count_tool_calls():
    # Wrappers named like the hook tools, first on PATH, record each call.
    wrappers, record = "/tmp/hook-cost-tools", "/tmp/hook-cost-tools/calls"
    os.makedirs(wrappers, exist_ok=True)
    for tool in os.listdir(os.path.dirname(subprocess.check_output(["which", "is-leader"], text=True).strip())):
        real = subprocess.check_output(["which", tool], text=True).strip()
        with open(os.path.join(wrappers, tool), "w") as script:
            script.write(f"#!/bin/sh\necho {tool} >> {record}\nexec {real} \"$@\"\n")
        os.chmod(os.path.join(wrappers, tool), 0o755)
    open(record, "w").close()
    env = dict(os.environ, PATH=wrappers + ":" + os.environ["PATH"])
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run(["./hooks/pre-series-upgrade"], env=env, check=True, **quiet)
    with open(record) as calls:
        return calls.read().split()
venv_python = os.path.join(os.getcwd(), "..", ".venv", "bin", "python3")
# As the hook does: the charm lib/ (given as argv[1]) on sys.path, then the stand-ins.
shimmed = "import sys; sys.path.append(sys.argv[1]); from charms.layer import import_shims; import_shims.install(); "
hooks = seconds(["./hooks/pre-series-upgrade"])
baseline = median_seconds([venv_python, "-c", shimmed + "import charms.reactive", "lib"])
bare = median_seconds([venv_python, "-c", "import charms.reactive"])
tool = median_seconds(["is-leader", "--format=json"])
calls = count_tool_calls()
print(json.dumps({"hooks": hooks, "import": baseline, "bare": bare, "tool": tool, "calls": len(calls), "tools": calls}))
"""


@contextmanager
def previous_charm(revision: str) -> Iterator[Path]:
    """The charm as `revision` built it: its own layers, interfaces and pinned wheelhouse."""
    with tempfile.TemporaryDirectory() as tmp:
        source, out = Path(tmp) / "source", Path(tmp) / "out"
        source.mkdir()
        archive = subprocess.run(["git", "archive", revision], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
        env = dict(
            os.environ,
            CHARM_LAYERS_DIR=str(source / "layers"),
            CHARM_INTERFACES_DIR=str(source / "interfaces"),
            CHARM_HIDE_METRICS="1",
        )
        build = [str(ROOT / ".venv" / "bin" / "charm-build"), "--log-level", "ERROR", "-o", str(out), str(source)]
        subprocess.run(build, env=env, check=True, stdout=subprocess.DEVNULL)
        wheelhouse = [sys.executable, str(ROOT / "tools" / "build_wheelhouse.py")]
        wheelhouse += [str(source / "requirements" / "wheelhouse.txt"), str(out / "redis" / "wheelhouse")]
        subprocess.run([*wheelhouse, "--cache", str(ROOT / ".cache" / "wheels")], check=True)
        yield out / "redis"


def measure(juju: jubilant.Juju, unit: str, runs: int) -> dict:
    return json.loads(juju.exec(f"python3 -c '{TIMER}' {runs}", unit=unit).stdout)


def measure_both(juju: jubilant.Juju, runs: int) -> tuple[dict, dict]:
    """Both charms' figures, measured in alternating rounds so that a change in the machine's load hits both."""
    now: list[dict] = []
    before: list[dict] = []
    for _ in range(ROUNDS):
        now.append(measure(juju, "redis/0", max(1, runs // ROUNDS)))
        before.append(measure(juju, "redis-previous/0", max(1, runs // ROUNDS)))
    return combined(now), combined(before)


def combined(rounds: list[dict]) -> dict:
    """One figure per measure: the median of every hook run, the median of the rounds' other medians."""
    figures = dict(rounds[-1])
    figures["hook"] = statistics.median(time for each in rounds for time in each["hooks"])
    for name in ("import", "bare", "tool"):
        figures[name] = statistics.median(each[name] for each in rounds)
    return figures


def net(figures: dict) -> float:
    """The hook's median less its hook-tool calls, each counted at the median of one call."""
    return figures["hook"] - figures["calls"] * figures["tool"]


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    revision = sys.argv[2] if len(sys.argv) > 2 else PREVIOUS
    with previous_charm(revision) as previous, redis_model() as juju:
        juju.deploy(previous, "redis-previous")
        juju.wait(jubilant.all_active)
        figures, before = measure_both(juju, runs)
    print(f"runs per figure:                      {runs} (in {ROUNDS} alternating rounds)")
    print(f"{'':38}{'now':>8}{revision:>12}")
    print(f"no-op hook (pre-series-upgrade), ms:  {figures['hook'] * 1000:8.0f}{before['hook'] * 1000:12.0f}  (median)")
    print(f"hook-tool calls in the no-op hook:    {figures['calls']:8d}{before['calls']:12d}")
    print(f"one hook-tool call (is-leader), ms:   {figures['tool'] * 1000:8.0f}{before['tool'] * 1000:12.0f}  (median)")
    print(f"no-op hook net of its tool calls, ms: {net(figures) * 1000:8.0f}{net(before) * 1000:12.0f}")
    print(f"  now:      {' '.join(sorted(figures['tools']))}")
    print(f"  {revision}: {' '.join(sorted(before['tools']))}")
    print(f"import charms.reactive, hook's shims: {figures['import'] * 1000:.0f} ms (median)")
    print(f"import charms.reactive, no shims:     {figures['bare'] * 1000:.0f} ms (median; what the shims save)")
    print(f"ratio hook / import (like with like): {figures['hook'] / figures['import']:.2f}")
    print(f"ratio (hook - tool calls) / import:   {net(figures) / figures['import']:.2f}")
    print("upstream layer-basic/leadership:      not measured (cannot be built offline; see this file's docstring)")


if __name__ == "__main__":
    main()
