#!/usr/bin/env python3
"""Benchmark: the cost of one hook-tool call in a unit of the local model.

Deploys the hook-logger test charm (one unit, no service) and, inside the unit through
`juju exec` (so in a hook context, as a charm calls them), times each of a few tools RUNS
times two ways:

- "installed": the tool on the hook's PATH, as hooks call it (the compiled client that
  forwards to the model's tool server, when the model has one);
- "python": the Python implementation run as its own process for every call, as every
  call was made before the tool server (kept as the fallback when no server runs).

Prints median, min and max milliseconds per call for each, and the cost of the 11 calls a
no-op Redis hook makes.

Usage: bench/hook_tools.py [RUNS]   (default 50; run as root)
"""

from __future__ import annotations

import json
import secrets
import sys

import jubilant

from common import LOCALJUJU, ROOT

HOOK_LOGGER = ROOT / "tests" / "charms" / "hook-logger"
PYTHON_TOOL = ROOT / "tests" / "localjuju" / "hooktool"
CALLS_IN_NOOP_HOOK = 11
TOOLS = [
    ["is-leader", "--format=json"],
    ["config-get", "--all", "--format=json"],
    ["relation-ids", "cluster", "--format=json"],
    ["status-get", "--format=json", "--include-data"],
]

TIMER = r"""
import json, os, statistics, subprocess, sys, time
runs, python_tool = int(sys.argv[1]), sys.argv[2]
tools = json.loads(sys.argv[3])
shim = "/tmp/hook-tools-bench"
os.makedirs(shim, exist_ok=True)
def timed(argv):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times.append((time.perf_counter() - start) * 1000)
    return {"median": statistics.median(times), "min": min(times), "max": max(times)}
figures = {}
for argv in tools:
    name = argv[0]
    link = os.path.join(shim, name)
    if not os.path.lexists(link):
        os.symlink(python_tool, link)
    figures[" ".join(argv)] = {"installed": timed(argv), "python": timed([link, *argv[1:]])}
print(json.dumps(figures))
"""


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    juju = jubilant.Juju(cli_binary=LOCALJUJU, wait_timeout=180)
    name = f"bench-tools-{secrets.token_hex(4)}"
    juju.add_model(name)
    try:
        juju.deploy(HOOK_LOGGER, config={"service": False})
        juju.wait(jubilant.all_agents_idle)
        script = f"python3 -c '{TIMER}' {runs} {PYTHON_TOOL} '{json.dumps(TOOLS)}'"
        figures = json.loads(juju.exec(script, unit="hook-logger/0").stdout)
    finally:
        juju.destroy_model(name, destroy_storage=True, force=True)
    print(f"runs per figure: {runs}; milliseconds per call (median / min / max)")
    for tool, ways in figures.items():
        for way, f in ways.items():
            print(f"  {tool:45s} {way:9s} {f['median']:6.1f} / {f['min']:6.1f} / {f['max']:6.1f}")
    for way in ("installed", "python"):
        per_call = sorted(ways[way]["median"] for ways in figures.values())[len(figures) // 2]
        print(f"{CALLS_IN_NOOP_HOOK} calls of a no-op hook, {way}: {CALLS_IN_NOOP_HOOK * per_call:.0f} ms")


if __name__ == "__main__":
    main()
