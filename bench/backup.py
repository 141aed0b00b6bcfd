#!/usr/bin/env python3
"""Benchmark: how long the backup and restore actions take, as an operator sees them through `juju run`.

One unit of the charm on the local model, filled with N keys of 100 random
bytes through pipelines. Timed from the `juju run` command to its result:
`backup`, `list-backups`, then `restore` after FLUSHALL, with appendonly off
and then on (the restore then also writes the append-only file). Each line:
the action, seconds, keys in the result, and the snapshot's size.

Usage: .venv/bin/python bench/backup.py [--keys 100000]   (as root, after `make build`)
"""

from __future__ import annotations

import argparse
import secrets
import time
from typing import Any

import jubilant
import redis

from common import redis_model, unit_address

UNIT = "redis/0"


def timed(juju: jubilant.Juju, action: str, params: dict[str, Any] | None = None) -> tuple[float, dict[str, Any]]:
    started = time.monotonic()
    task = juju.run(UNIT, action, params)
    return time.monotonic() - started, task.results


def fill(conn: redis.Redis, count: int) -> None:
    for start in range(0, count, 1000):
        pipe = conn.pipeline(transaction=False)
        for number in range(start, min(start + 1000, count)):
            pipe.set(f"bench:{number}", secrets.token_hex(50))
        pipe.execute()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    keys = parser.parse_args().keys
    with redis_model() as juju:
        secret = juju.exec("secret-get $(leader-get password-secret) password", unit=UNIT).stdout.strip()
        conn = redis.Redis(host=unit_address(juju), port=6379, password=secret, socket_timeout=30)
        fill(conn, keys)
        print(f"{keys} keys of 100 bytes, one unit")
        for appendonly in (False, True):
            if appendonly:
                juju.config("redis", {"appendonly": True})
                juju.wait(lambda status: jubilant.all_active(status) and jubilant.all_agents_idle(status))
            seconds, results = timed(juju, "backup")
            made = results["backup"]
            print(f"appendonly={str(appendonly).lower():<5}  backup        {seconds:6.1f} s  "
                  f"{made['keys']} keys  {int(made['size']) / 1e6:.1f} MB")  # fmt: skip
            seconds, results = timed(juju, "list-backups")
            print(
                f"appendonly={str(appendonly).lower():<5}  list-backups  {seconds:6.1f} s  {results['count']} backups"
            )
            conn.flushall()
            seconds, results = timed(juju, "restore", {"name": made["name"]})
            print(f"appendonly={str(appendonly).lower():<5}  restore       {seconds:6.1f} s  {results['keys']} keys")


if __name__ == "__main__":
    main()
