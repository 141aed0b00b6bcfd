#!/usr/bin/env python3
"""Benchmark: acknowledged writes lost across what operators and bad luck do to a unit.

One unit of the charm on the local model. A writer keeps writing new keys over
one connection and remembers every write Redis acknowledged. Meanwhile each
scenario runs: a restart the charm makes (databases), live changes, AOF on and
off, a Redis killed with SIGKILL and started again, a Redis stopped with
SIGSTOP while a hook runs, and last a restart asked for while the disk is full.
After each, every acknowledged key is looked up.

Prints per scenario: the persistence in effect, writes acknowledged, how many of
them are lost (the goal is 0 wherever persistence covers the fault), errors the
writer saw, and the longest a hook took (from the unit's log). A SIGKILL loses
what was not yet on disk: with snapshots only that is everything since the last
snapshot; with appendfsync always it is nothing.

Usage: bench/durability.py   (run as root, after `make build`)
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import jubilant
import redis

from common import ROOT, redis_model, unit_address

UNIT = "redis/0"


@dataclass
class Writer:
    """Writes keys one by one from a thread; keeps the ones Redis acknowledged."""

    connect: Callable[[], redis.Redis]
    prefix: str
    acknowledged: list[str] = field(default_factory=list)
    errors: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        conn, number = self.connect(), 0
        while not self.stop.is_set():
            key = f"{self.prefix}:{number}"
            number += 1
            try:
                if conn.set(key, "v"):
                    self.acknowledged.append(key)
            except redis.RedisError:
                self.errors += 1
                time.sleep(0.05)
                conn = self.connect()


def lost_keys(conn: redis.Redis, keys: list[str]) -> int:
    pipe = conn.pipeline(transaction=False)
    for key in keys:
        pipe.exists(key)
    return sum(1 for found in pipe.execute() if not found)


def settle(juju: jubilant.Juju) -> None:
    juju.wait(lambda status: jubilant.all_agents_idle(status) and jubilant.all_active(status), timeout=300)


def hook_durations(juju: jubilant.Juju) -> list[tuple[float, str]]:
    """(seconds, hook) for each hook the model ran on the unit, from the unit log's start and end lines."""
    assert juju.model is not None
    log = ROOT / ".localjuju" / "models" / juju.model / "logs" / f"unit-{UNIT.replace('/', '-')}.log"
    stamp = re.compile(r"^unit-\S+ (\d\d:\d\d:\d\d) ")
    durations, started = [], None
    for line in log.read_text().splitlines():
        found = stamp.match(line)
        if not found:
            continue
        moment = datetime.strptime(found.group(1), "%H:%M:%S")
        if "Reactive main running for hook" in line:
            started = moment
        elif ' ran "' in line and started is not None:
            durations.append(((moment - started).total_seconds(), line.split(' ran "')[1].split('"')[0]))
            started = None
    return durations


def full_disk(juju: jubilant.Juju, connect: Callable[[], redis.Redis], exec_in_unit: Callable[[str], None]) -> None:
    """A restart asked for while Redis cannot save (a 1 MB data directory): refused, then done once there is room.

    Runs last: Redis restarts into the tmpfs, which stays mounted.
    """
    exec_in_unit(
        "mount -t tmpfs -o size=1m,mode=750 tmpfs /var/lib/redis && chown redis:redis /var/lib/redis"
        " && systemctl restart redis-server"
    )
    conn = connect()
    keys = [f"full:{number}" for number in range(3000)]
    pipe = conn.pipeline(transaction=False)
    for key in keys:
        pipe.set(key, secrets.token_hex(512))
    acknowledged = [key for key, ok in zip(keys, pipe.execute(), strict=True) if ok is True]
    conn.bgsave()
    while conn.info("persistence")["rdb_bgsave_in_progress"]:
        time.sleep(0.1)
    juju.config("redis", {"databases": 32})
    juju.wait(lambda status: jubilant.all_agents_idle(status) and jubilant.all_blocked(status, "redis"), timeout=300)
    message = juju.status().apps["redis"].units[UNIT].workload_status.message
    refused = lost_keys(connect(), acknowledged)
    exec_in_unit("mount -o remount,size=64m /var/lib/redis")
    exec_in_unit("hooks/update-status")
    settle(juju)
    after = lost_keys(connect(), acknowledged)
    print(f"{'full disk: databases=32 refused':38} {'snapshots (failing)':18} {len(acknowledged):7d} {refused:6d}")
    print(f"  status: {message}")
    print(f"{'  room again: restarted once':38} {'snapshots':18} {len(acknowledged):7d} {after:6d}")


def main() -> None:
    with redis_model() as juju:
        secret = juju.exec("secret-get $(leader-get password-secret) password", unit=UNIT).stdout.strip()

        def connect() -> redis.Redis:
            return redis.Redis(host=unit_address(juju), port=6379, password=secret, socket_timeout=5)

        def exec_in_unit(command: str) -> None:
            juju.exec(command, unit=UNIT)

        def kill_and_start() -> None:
            exec_in_unit("kill -KILL $(cat /run/redis/redis-server.pid)")
            exec_in_unit("systemctl start redis-server")

        stopped_hook: list[float] = []

        def stop_during_hook() -> None:
            exec_in_unit("kill -STOP $(cat /run/redis/redis-server.pid)")
            try:
                started = time.monotonic()
                exec_in_unit("hooks/update-status")
                stopped_hook.append(time.monotonic() - started)
            finally:
                exec_in_unit("kill -CONT $(cat /run/redis/redis-server.pid)")
            exec_in_unit("hooks/update-status")

        def configure(options: dict[str, object]) -> Callable[[], None]:
            return lambda: juju.config("redis", options)

        scenarios: list[tuple[str, str, Callable[[], None]]] = [
            ("restart for databases=32", "snapshots", configure({"databases": 32})),
            (
                "live: log-level, timeout, maxmemory",
                "snapshots",
                configure({"log-level": "debug", "timeout": 60, "maxmemory": "256mb"}),
            ),
            ("AOF on (live)", "snapshots -> AOF", configure({"appendonly": True})),
            ("restart for databases=16 with AOF", "AOF everysec", configure({"databases": 16})),
            ("appendfsync always (live)", "AOF always", configure({"appendfsync": "always"})),
            ("SIGKILL, then start", "AOF always", kill_and_start),
            ("SIGSTOP during update-status", "AOF always", stop_during_hook),
            ("AOF off (live)", "AOF -> snapshots", configure({"appendonly": False, "appendfsync": "everysec"})),
            ("SIGKILL, then start", "snapshots only", kill_and_start),
        ]
        print(f"{'scenario':38} {'persistence':18} {'acked':>7} {'lost':>6} {'errors':>6}")
        for number, (name, persistence, action) in enumerate(scenarios):
            writer = Writer(connect, f"bench{number}")
            thread = threading.Thread(target=writer.run)
            thread.start()
            time.sleep(1.0)  # writes before the fault, so that it has something to lose
            action()
            settle(juju)
            time.sleep(0.5)
            writer.stop.set()
            thread.join()
            lost = lost_keys(connect(), writer.acknowledged)
            print(f"{name:38} {persistence:18} {len(writer.acknowledged):7d} {lost:6d} {writer.errors:6d}")
        full_disk(juju, connect, exec_in_unit)
        durations = hook_durations(juju)
        longest, hook = max(durations)
        print(f"hooks run by the model: {len(durations)}, longest: {hook}, {longest:.0f} s (log resolution 1 s)")
        print(f"update-status with Redis stopped (SIGSTOP), juju exec wall clock: {stopped_hook[0]:.1f} s")


if __name__ == "__main__":
    main()
