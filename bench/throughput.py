#!/usr/bin/env python3
"""Benchmark (c): redis-benchmark throughput of the charm's configuration against Redis's stock one.

In one run, on this machine: a unit of the charm on the local model (its
rendered redis.conf, AUTH, snapshots) and a redis-server started here with no
configuration file at all (Redis's built-in defaults), each benchmarked with
the same redis-benchmark command. Prints requests per second of both and the
ratio charm / stock for each command.

Usage: bench/throughput.py [REQUESTS]   (default 200000; run as root, after `make build`)
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import tempfile
import time

from common import free_port, redis_model, unit_address

PASSWORD = "bench-throughput-password"
TESTS = "set,get,incr,lpush,lpop"


def benchmark(host: str, port: int, requests: int, password: str | None) -> dict[str, float]:
    command = ["redis-benchmark", "-h", host, "-p", str(port), "-n", str(requests), "-c", "50", "-t", TESTS, "--csv"]
    if password:
        command[1:1] = ["-a", password]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rows = list(csv.reader(io.StringIO(output)))
    return {row[0]: float(row[1]) for row in rows[1:]}


def stock(requests: int) -> dict[str, float]:
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        server = subprocess.Popen(["redis-server", "--port", str(port), "--dir", data], stdout=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            return benchmark("127.0.0.1", port, requests, None)
        finally:
            server.terminate()
            server.wait(timeout=30)


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    with redis_model({"password": PASSWORD}) as juju:
        charm = benchmark(unit_address(juju), 6379, requests, PASSWORD)
    base = stock(requests)
    print(f"redis-benchmark -n {requests} -c 50 -t {TESTS}")
    print(f"{'test':10} {'charm rps':>12} {'stock rps':>12} {'ratio':>7}")
    for test, rps in charm.items():
        print(f"{test:10} {rps:12.0f} {base[test]:12.0f} {rps / base[test]:7.2f}")


if __name__ == "__main__":
    main()
