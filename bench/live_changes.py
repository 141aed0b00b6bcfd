#!/usr/bin/env python3
"""Benchmark (b): Redis under load while log-level, timeout and password change.

One unit of the charm on the local model serves redis-benchmark (SET/GET, 20
clients, looping; it exits at its first error reply) while a prober with one persistent connection sends a
request every millisecond. Meanwhile `juju config` changes log-level, timeout
and password. Prints: requests the prober sent and how many failed, error
replies redis-benchmark saw, and whether Redis restarted (its run_id) across
each change.

Usage: bench/live_changes.py   (run as root, after `make build`)
"""

from __future__ import annotations

import os
import subprocess
import threading
import time

import redis

from common import redis_model, unit_address

# A throw-away password of this benchmark: redis-benchmark only takes it in argv.
FIRST, SECOND = "bench-password-one", "bench-password-two"
CHANGES = [
    {"log-level": "debug"},
    {"timeout": 300},
    {"password": SECOND},
    {"log-level": "notice", "timeout": 0},
]


class Prober(threading.Thread):
    """One persistent connection, one request per millisecond, failures counted."""

    def __init__(self, host: str) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis(host=host, port=6379, password=FIRST, socket_timeout=2)
        self.sent = self.failed = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.sent += 1
            try:
                self.client.set("probe", self.sent)
            except redis.RedisError:
                self.failed += 1
            time.sleep(0.001)


def main() -> None:
    with redis_model({"password": FIRST}) as juju:
        host = unit_address(juju)
        run_id = redis.Redis(host=host, port=6379, password=FIRST).info("server")["run_id"]
        load = subprocess.Popen(
            [
                "redis-benchmark",
                "-h",
                host,
                "-p",
                "6379",
                "-a",
                FIRST,
                "-c",
                "20",
                "-n",
                "100000000",
                "-t",
                "set,get",
                "-q",
                "-l",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ),
        )
        prober = Prober(host)
        prober.start()
        restarts = 0
        password = FIRST
        try:
            time.sleep(2)
            for change in CHANGES:
                started = time.monotonic()
                juju.config("redis", change)
                juju.wait(lambda status: status.apps["redis"].units["redis/0"].workload_status.current == "active")
                password = str(change.get("password", password))
                now = redis.Redis(host=host, port=6379, password=password).info("server")["run_id"]
                restarted = now != run_id
                restarts += restarted
                run_id = now
                print(f"juju config {change}: applied in {time.monotonic() - started:.1f} s, restarted: {restarted}")
            time.sleep(2)
        finally:
            prober.stop.set()
            prober.join()
            # redis-benchmark exits at its first error reply: still running means none.
            exit_code = load.poll()
            load.terminate()
            output, _ = load.communicate(timeout=10)
        errors = [line for line in output.splitlines() if "ERR" in line or "NOAUTH" in line or "rror" in line]
        state = "yes" if exit_code is None else f"no, it exited with {exit_code}"
        print(f"redis-benchmark ran through all changes: {state}")
        print(f"prober requests sent:           {prober.sent}")
        print(f"prober requests failed:         {prober.failed}")
        print(f"redis-benchmark error replies:  {len(errors)}")
        for line in sorted(set(errors))[:3]:
            print(f"  e.g. {line.strip()[:150]}")
        print(f"Redis restarts during changes:  {restarts}")


if __name__ == "__main__":
    main()
