#!/usr/bin/env python3
"""Benchmark (a): the cost of a no-op hook of the built charm against `import charms.reactive`.

Both are timed inside a unit of the local model, on the unit's own Python and
environment: the hook is `pre-series-upgrade` (no handler of the charm reacts to
it, so it is the fixed cost every hook pays: interpreter, imports, kv store,
leadership and config flags, hook tools), run through `juju exec` from the
charm directory as an operator would; the baseline is
`python3 -c 'import charms.reactive'` in the unit's venv. Prints the medians
of RUNS runs each and their ratio, and the same net of the hook tool calls the
hook makes (counted with wrappers), since the local model's tools (~30 ms
each, Python) cost more than Juju's.

Usage: bench/hook_cost.py [RUNS]   (default 30; run as root, after `make build`)
"""

from __future__ import annotations

import json
import sys

from common import redis_model

TIMER = r"""
import json, os, statistics, subprocess, sys, time
runs = int(sys.argv[1])
def median_seconds(command):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)
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
        return len(calls.read().split())
venv_python = os.path.join(os.getcwd(), "..", ".venv", "bin", "python3")
hook = median_seconds(["./hooks/pre-series-upgrade"])
baseline = median_seconds([venv_python, "-c", "import charms.reactive"])
tool = median_seconds(["is-leader", "--format=json"])
print(json.dumps({"hook": hook, "import": baseline, "tool": tool, "calls": count_tool_calls()}))
"""


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    with redis_model() as juju:
        task = juju.exec(f"python3 -c '{TIMER}' {runs}", unit="redis/0")
    figures = json.loads(task.stdout)
    print(f"runs per figure:                      {runs}")
    print(f"no-op hook (pre-series-upgrade):      {figures['hook'] * 1000:.0f} ms (median)")
    print(f"python3 -c 'import charms.reactive':  {figures['import'] * 1000:.0f} ms (median)")
    print(f"ratio hook / import:                  {figures['hook'] / figures['import']:.2f}")
    tools = figures["calls"] * figures["tool"]
    per_call = figures["tool"] * 1000
    print(f"hook tool calls in the hook:          {figures['calls']} x {per_call:.0f} ms (is-leader, median)")
    print(f"hook without its tool calls:          {(figures['hook'] - tools) * 1000:.0f} ms")
    print(f"ratio (hook - tool calls) / import:   {(figures['hook'] - tools) / figures['import']:.2f}")


if __name__ == "__main__":
    main()
