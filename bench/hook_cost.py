#!/usr/bin/env python3
"""Benchmark (a): the cost of a no-op hook of the built charm against `import charms.reactive`.

Both are timed inside a unit of the local model, on the unit's own Python and
environment: the hook is `pre-series-upgrade` (no handler of the charm reacts to
it, so it is the fixed cost every hook pays: interpreter, imports, kv store,
leadership and config flags, hook tools), run through `juju exec` from the
charm directory as an operator would; the baseline is
`python3 -c 'import charms.reactive'` in the unit's venv. Prints the medians
of RUNS runs each and their ratio.

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
venv_python = os.path.join(os.getcwd(), "..", ".venv", "bin", "python3")
hook = median_seconds(["./hooks/pre-series-upgrade"])
baseline = median_seconds([venv_python, "-c", "import charms.reactive"])
print(json.dumps({"hook": hook, "import": baseline}))
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


if __name__ == "__main__":
    main()
