#!/usr/bin/env python3
"""Benchmark: how long a 3-unit Redis deploy takes to settle on the local model.

Times `juju deploy ./build/redis -n 3` until every unit is active and every agent idle (the
hooks that follow the deploy have all run), as a test waiting with jubilant sees it: `deploy`
returns once the change is recorded and the model's controller runs the hooks in the
background. Prints the median of RUNS deploys, each in a fresh model, against the figure of the
previous revision of the local model (10.9 s on an idle machine, when `deploy` itself ran every
hook). The machine's load changes the figure: LOCALJUJU_BIN=PATH measures another `juju` (such as
the previous local model) under the same conditions.

Usage: [LOCALJUJU_BIN=PATH] bench/settle.py [RUNS]   (default 3; run as root, after `make build`)
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time

import jubilant

from common import CHARM, LOCALJUJU, ROOT, median

PREVIOUS_SECONDS = 10.9
UNITS = 3


def settle_seconds() -> tuple[float, float]:
    """Deploy in a fresh model; return (seconds until deploy returned, seconds until settled)."""
    juju = jubilant.Juju(cli_binary=os.environ.get("LOCALJUJU_BIN") or LOCALJUJU, wait_timeout=300)
    name = f"bench-settle-{secrets.token_hex(4)}"
    juju.add_model(name)
    try:
        start = time.monotonic()
        juju.deploy(CHARM, "redis", num_units=UNITS)
        returned = time.monotonic() - start
        # Polled every 0.5 s: status calls cost CPU the hooks need; the figure is within 0.5 s.
        juju.wait(lambda s: jubilant.all_active(s) and jubilant.all_agents_idle(s), delay=0.5, successes=1)
        return returned, time.monotonic() - start
    finally:
        juju.destroy_model(name, destroy_storage=True, force=True)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    if not (CHARM / "metadata.yaml").exists():
        subprocess.run(["make", "build"], cwd=ROOT, check=True)
    results = [settle_seconds() for _ in range(runs)]
    returned = median([r[0] for r in results])
    settled = median([r[1] for r in results])
    print(f"deploy of {UNITS} redis units, median of {runs}:")
    print(f"  `juju deploy` returned after   {returned:6.2f} s")
    print(f"  settled (active, agents idle)  {settled:6.2f} s   (previous model: {PREVIOUS_SECONDS} s, "
          f"{settled / PREVIOUS_SECONDS:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
