#!/usr/bin/env python3
"""Benchmark (b): Redis under load while log-level, timeout and password change.

One unit of the charm on the local model serves redis-benchmark (SET/GET, 20
clients, looping; it exits at its first error reply) while a prober with one
persistent connection sends a request every millisecond. Meanwhile `juju
config` changes log-level, timeout and password. Prints: requests the prober
sent, how many failed, how often it had to connect again, error replies
redis-benchmark saw, and whether Redis restarted (its run_id) across each change.

The prober does not retry: redis-py retries a dropped connection by default
(three times, with back-off), which makes a restart look like zero failures.
Here every failed attempt counts and every new connection is counted.
`--force-restart` adds a change that needs a restart (databases), to show the
figures move when Redis does restart.

Usage: bench/live_changes.py [--force-restart]   (run as root, after `make build`)
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import threading
import time
from collections.abc import Mapping

import jubilant
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from common import redis_model, unit_address

# A throw-away password of this benchmark: redis-benchmark only takes it in argv.
FIRST, SECOND = "bench-password-one", "bench-password-two"
CHANGES: list[dict[str, object]] = [
    {"log-level": "debug"},
    {"timeout": 300},
    {"password": SECOND},
    {"log-level": "notice", "timeout": 0},
]
RESTARTING_CHANGE: dict[str, object] = {"databases": 32}
APPLY_TIMEOUT = 120.0


class CountingConnection(redis.Connection):
    """A connection that counts every socket it opens."""

    connects = 0

    def _connect(self) -> socket.socket:
        sock = super()._connect()
        type(self).connects += 1
        return sock


def client(host: str, password: str, port: int = 6379) -> redis.Redis:
    """A client that tries each request once: no retry, no hidden reconnect. It connects at its first request."""
    pool = redis.ConnectionPool(
        connection_class=CountingConnection,
        host=host,
        port=port,
        password=password,
        socket_timeout=2,
        socket_connect_timeout=2,
        retry=Retry(NoBackoff(), 0),
    )
    return redis.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))


class Prober(threading.Thread):
    """One persistent connection, one request per millisecond, every failed attempt counted."""

    def __init__(self, host: str, password: str, port: int = 6379) -> None:
        super().__init__(daemon=True)
        self.host, self.port = host, port
        self.password = password
        self.client = client(host, password, port)
        self.sent = self.failed = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.sent += 1
            try:
                self.client.set("probe", self.sent)
            except redis.RedisError:
                self.failed += 1
                # The next request connects again, with the password in force now.
                self.client.close()
                self.client = client(self.host, self.password, self.port)
            time.sleep(0.001)

    @property
    def reconnects(self) -> int:
        return max(CountingConnection.connects - 1, 0)


def applied(host: str, password: str, change: Mapping[str, object]) -> bool:
    """Whether Redis itself runs with `change` (the model's status may still show the previous one)."""
    names = {"log-level": "loglevel", "timeout": "timeout", "databases": "databases"}
    try:
        admin = redis.Redis(host=host, port=6379, password=password, socket_timeout=2)
        try:
            for option, value in change.items():
                if option in names and admin.config_get(names[option])[names[option]] != str(value):
                    return False
            return True
        finally:
            admin.close()
    except redis.RedisError:
        return False


def wait_applied(juju: jubilant.Juju, host: str, password: str, change: Mapping[str, object]) -> None:
    deadline = time.monotonic() + APPLY_TIMEOUT
    while not applied(host, password, change):
        if time.monotonic() > deadline:
            raise TimeoutError(f"juju config {change} was not applied within {APPLY_TIMEOUT:.0f} s")
        time.sleep(0.1)
    juju.wait(jubilant.all_active, timeout=APPLY_TIMEOUT)


def run_id(host: str, password: str) -> str:
    admin = redis.Redis(host=host, port=6379, password=password, socket_timeout=2)
    try:
        return str(admin.info("server")["run_id"])
    finally:
        admin.close()


def start_load(host: str) -> subprocess.Popen[str]:
    command = ["redis-benchmark", "-h", host, "-p", "6379", "-a", FIRST, "-c", "20", "-n", "100000000"]
    return subprocess.Popen(
        [*command, "-t", "set,get", "-q", "-l"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force-restart", action="store_true", help="also change databases, which needs a restart")
    args = parser.parse_args()
    changes = [*CHANGES, RESTARTING_CHANGE] if args.force_restart else CHANGES
    with redis_model({"password": FIRST}) as juju:
        host = unit_address(juju)
        current = run_id(host, FIRST)
        load = start_load(host)
        prober = Prober(host, FIRST)
        prober.start()
        restarts = 0
        password = FIRST
        try:
            time.sleep(2)  # load and prober running before the first change
            for change in changes:
                started = time.monotonic()
                juju.config("redis", change)
                password = str(change.get("password", password))
                prober.password = password
                wait_applied(juju, host, password, change)
                now = run_id(host, password)
                restarted = now != current
                restarts += restarted
                current = now
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
        print(f"prober requests failed:         {prober.failed} (each tried once, no retries)")
        print(f"prober reconnects:              {prober.reconnects}")
        print(f"redis-benchmark error replies:  {len(errors)}")
        for line in sorted(set(errors))[:3]:
            print(f"  e.g. {line.strip()[:150]}")
        print(f"Redis restarts during changes:  {restarts}")


if __name__ == "__main__":
    main()
