#!/usr/bin/env python3
"""Benchmark: password rotation under load, on the local model.

A two-unit Redis and the raw-reading client charm (tests/charms/redis-client) as application
`web`. A client reads the credentials the relation holds for `web` as fast as `juju show-unit`
answers, and connects to every unit with them: a new connection every 100 ms, full-speed SETs on
it in between. Meanwhile the leader rotates web's password ROTATIONS times (`rotate-password
application=web`), then the `password` option (the default user's password) changes while a
second client keeps reconnecting with the old one, then each of the charm's own users rotates
(`rotate-password user=admin|replication|monitoring`), and finally `forget-old-passwords` runs.

Prints the requests made, the authentication failures (goal 0), and for each rotation the time
from `juju run` until every unit published the new password and the client had connected with
it; the time from `juju config password=...` until every unit accepts the new password (the
old-password client's failures counted too); then the time forget-old-passwords took until the
first application password is refused everywhere.

Usage: bench/rotation.py [ROTATIONS]   (default 3; run as root, after `make build`)
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field

import jubilant
import redis

from common import ROOT, median, redis_model

CLIENT_CHARM = ROOT / "tests" / "charms" / "redis-client"
RECONNECT_EVERY = 0.1


@dataclass
class Load:
    """Connections to every unit with the credentials the relation holds at the moment of connecting."""

    juju: jubilant.Juju
    credentials: dict[str, tuple[str, str]]
    addresses: dict[str, str]
    port: int
    requests: int = 0
    auth_failures: int = 0
    used: set[str] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)

    def follow_relation(self) -> None:
        while not self.stop.is_set():
            self.credentials = published(self.juju)

    def run(self) -> None:
        while not self.stop.is_set():
            for unit, (username, password) in list(self.credentials.items()):
                self.session(self.addresses[unit], username, password)

    def keep_password(self, password: str) -> None:
        while not self.stop.is_set():
            for host in self.addresses.values():
                self.session(host, "default", password)

    def session(self, host: str, username: str, password: str) -> None:
        connection = redis.Redis(host=host, port=self.port, username=username, password=password, socket_timeout=5)
        until = time.monotonic() + RECONNECT_EVERY
        try:
            while time.monotonic() < until:
                connection.set("bench:rotation", "1")
                self.requests += 1
            self.used.add(password)
        except redis.AuthenticationError:
            self.auth_failures += 1
        finally:
            connection.close()


def published(juju: jubilant.Juju) -> dict[str, tuple[str, str]]:
    relation = next(r for r in juju.show_unit("web/0").relation_info if r.endpoint == "redis")
    return {unit: (data.data["username"], data.data["password"]) for unit, data in relation.related_units.items()}


def leader(juju: jubilant.Juju) -> str:
    return next(name for name, unit in juju.status().apps["redis"].units.items() if unit.leader)


def wait_until(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the rotation did not complete within the time allowed")
        time.sleep(0.05)


def rotate(juju: jubilant.Juju, load: Load) -> float:
    """Seconds from `juju run rotate-password` until every unit publishes a new password the client used."""
    before = {password for _, password in published(juju).values()}
    start = time.monotonic()
    juju.run(leader(juju), "rotate-password", {"application": "web"})

    def done() -> bool:
        now = {password for _, password in published(juju).values()}
        return len(now) == 1 and not now & before and now <= load.used

    wait_until(done)
    return time.monotonic() - start


def change_default(juju: jubilant.Juju, load: Load, new: str) -> float:
    """Seconds from `juju config password=new` until every unit accepts it (a client of `load` keeps the old one)."""
    start = time.monotonic()
    juju.config("redis", {"password": new})
    wait_until(lambda: not any(refused(host, load.port, "default", new) for host in load.addresses.values()))
    return time.monotonic() - start


def rotate_charm_user(juju: jubilant.Juju, load: Load, user: str) -> float:
    """Seconds from `rotate-password user=USER` until every unit accepts that charm user's new password."""
    start = time.monotonic()
    juju.run(leader(juju), "rotate-password", {"user": user})
    content = juju.exec("secret-get $(leader-get password-secret) --format json", unit=leader(juju)).stdout
    name, new = f"charm-{user}", json.loads(content)[f"charm-{user}"]
    wait_until(lambda: not any(refused(host, load.port, name, new) for host in load.addresses.values()))
    return time.monotonic() - start


def refused(host: str, port: int, username: str, password: str) -> bool:
    try:
        redis.Redis(host=host, port=port, username=username, password=password, socket_timeout=5).ping()
    except redis.AuthenticationError:
        return True
    return False


def forget(juju: jubilant.Juju, load: Load, username: str, old: str) -> float:
    start = time.monotonic()
    juju.run(leader(juju), "forget-old-passwords")
    wait_until(lambda: all(refused(host, load.port, username, old) for host in load.addresses.values()))
    return time.monotonic() - start


def main() -> None:
    rotations = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    old_default, new_default = "bench-operator-password-1", "bench-operator-password-2"
    with redis_model({"password": old_default}, units=2) as juju:
        juju.deploy(CLIENT_CHARM, "web")
        juju.integrate("redis", "web")
        juju.wait(lambda s: jubilant.all_active(s) and jubilant.all_agents_idle(s))
        units = juju.status().apps["redis"].units
        addresses = {name: unit.public_address for name, unit in units.items()}
        port = int(next(iter(units.values())).open_ports[0].split("/")[0])
        load = Load(juju, published(juju), addresses, port)
        username, first = next(iter(load.credentials.values()))
        threads = [
            threading.Thread(target=load.follow_relation),
            threading.Thread(target=load.run),
            threading.Thread(target=load.keep_password, args=(old_default,)),
        ]
        for thread in threads:
            thread.start()
        try:
            times = [rotate(juju, load) for _ in range(rotations)]
            juju.wait(jubilant.all_agents_idle)
            default_seconds = change_default(juju, load, new_default)
            juju.wait(jubilant.all_agents_idle)
            charm_users = {user: rotate_charm_user(juju, load, user) for user in ("admin", "replication", "monitoring")}
            juju.wait(jubilant.all_agents_idle)
        finally:
            load.stop.set()
            for thread in threads:
                thread.join()
        forgotten = forget(juju, load, username, first)
    print(f"requests: {load.requests}")
    print(f"authentication failures: {load.auth_failures} (goal 0)")
    for number, seconds in enumerate(times, 1):
        print(f"rotation {number}: {seconds:.2f} s until every unit published the new password and it was used")
    print(f"rotation median: {median(times):.2f} s")
    print(f"password option changed: {default_seconds:.2f} s until every unit accepted the new password")
    for user, seconds in charm_users.items():
        print(f"rotate-password user={user}: {seconds:.2f} s until every unit accepted the new password")
    print(f"forget-old-passwords: {forgotten:.2f} s until the first password was refused on every unit")


if __name__ == "__main__":
    main()
