#!/usr/bin/env python3
"""Benchmark: what prometheus-redis-exporter costs on a unit, and how fast a scrape answers.

Deploys the built charm (one unit) on the local model, then prints: the
exporter's resident memory, the median and 95th percentile time of a
`/metrics` scrape from the host over RUNS scrapes, the page's size and sample
count, and the time from `juju config redis password=...` until a scrape shows
`redis_up 1` with the new password in effect (the charm rewrote the
exporter's environment file and restarted it).

Usage: bench/metrics_exporter.py [RUNS]   (default 50; run as root, after `make build`)
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import urllib.request

import jubilant

from common import median, redis_model, unit_address


def scrape(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()
    except OSError:
        return ""


def exporter_rss_kib(juju: jubilant.Juju, unit: str = "redis/0") -> int:
    found = juju.exec("grep VmRSS /proc/$(pgrep -xo prometheus-redi)/status", unit=unit).stdout
    return int(found.split()[1])


def uses_password(juju: jubilant.Juju, password: str) -> bool:
    """Whether the exporter's password file holds `password`."""
    found = juju.exec("cat /etc/prometheus-redis-exporter/redis-charm-password.json", unit="redis/0").stdout
    return password in json.loads(found or "{}").values()


def main(runs: int) -> None:
    with redis_model() as juju:
        url = f"http://{unit_address(juju)}:9121/metrics"
        deadline = time.monotonic() + 60
        while "redis_up 1" not in scrape(url) and time.monotonic() < deadline:
            time.sleep(0.2)
        times, page = [], ""
        for _ in range(runs):
            start = time.perf_counter()
            page = scrape(url)
            times.append(time.perf_counter() - start)
        samples = sum(1 for line in page.splitlines() if line and not line.startswith("#"))
        print(f"scrapes:                         {runs}")
        print(f"exporter resident memory:        {exporter_rss_kib(juju) / 1024:.1f} MiB")
        print(f"scrape time, median:             {median(times) * 1000:.1f} ms")
        print(f"scrape time, 95th percentile:    {statistics.quantiles(times, n=20)[-1] * 1000:.1f} ms")
        print(f"page:                            {len(page) / 1024:.1f} KiB, {samples} samples")
        start = time.monotonic()
        juju.config("redis", {"password": "bench-rotated-password"})
        while not (uses_password(juju, "bench-rotated-password") and "redis_up 1" in scrape(url)):
            time.sleep(0.1)
        print(f"password change to redis_up 1:   {time.monotonic() - start:.1f} s (config, hook, exporter restart)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
