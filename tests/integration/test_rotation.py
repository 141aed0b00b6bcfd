"""Rotating a related application's password without a single refused connection.

A two-unit Redis and the raw-reading client charm (tests/charms/redis-client).
While the application's password is rotated, a client reconnects over and over
to every unit with whatever credentials the relation holds at that moment: not
one connection is refused. The old password keeps working during the grace
period, and is refused on every unit once `forget-old-passwords` ran.
"""

from __future__ import annotations

import calendar
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import jubilant
import pytest
import redis
from helpers import (
    ADMIN_USER,
    APP,
    as_user,
    ensure_built,
    eventually,
    in_unit,
    leader,
    refused,
    relation_data,
    run_hook,
    units,
    wait_idle,
)

from conftest import CHARMS, throwaway_model

pytestmark = pytest.mark.integration

WEB = "web"


@pytest.fixture(scope="module")
def juju() -> Iterator[jubilant.Juju]:
    ensure_built()
    from helpers import CHARM

    with throwaway_model("rotation", wait_timeout=240) as juju:
        juju.deploy(CHARM, APP, num_units=2)
        juju.deploy(CHARMS / "redis-client", WEB)
        juju.integrate(APP, WEB)
        wait_idle(juju, lambda status: jubilant.all_active(status))
        yield juju


def published(juju: jubilant.Juju) -> dict[str, tuple[str, str]]:
    """Each Redis unit's (username, password) as the web application's relation holds it now."""
    return {unit: (data["username"], data["password"]) for unit, data in relation_data(juju, f"{WEB}/0").items()}


@dataclass
class ReconnectingClient:
    """Connects again and again to every unit with the credentials the relation holds at that moment."""

    juju: jubilant.Juju
    credentials: dict[str, tuple[str, str]]
    connections: int = 0
    refusals: list[str] = field(default_factory=list)
    passwords_used: set[str] = field(default_factory=set)
    done: threading.Event = field(default_factory=threading.Event)

    def follow_relation(self) -> None:
        while not self.done.is_set():
            self.credentials = published(self.juju)

    def reconnect(self) -> None:
        addresses = {name: unit.public_address for name, unit in units(self.juju).items()}
        port = int(next(iter(units(self.juju).values())).open_ports[0].split("/")[0])
        while not self.done.is_set():
            for unit, (username, password) in list(self.credentials.items()):
                for user in (None, username):  # password alone, as existing consumers, and with the username
                    self.connect(addresses[unit], port, user, password)

    def keep_connecting(self, addresses: list[str], port: int, password: str) -> None:
        """A client that keeps the password it was given (one the operator has not changed yet)."""
        while not self.done.is_set():
            for address in addresses:
                self.connect(address, port, None, password)

    def connect(self, host: str, port: int, username: str | None, password: str) -> None:
        connection = redis.Redis(host=host, port=port, username=username, password=password, socket_timeout=5)
        try:
            connection.ping()
            self.connections += 1
            self.passwords_used.add(password)
        except redis.AuthenticationError as error:
            self.refusals.append(f"{host} as {username or 'default'}: {error}")
        finally:
            connection.close()


def test_rotation_refuses_no_connection_and_the_old_password_lasts_until_forgotten(juju: jubilant.Juju) -> None:
    before = published(juju)
    old_username, old_password = next(iter(before.values()))
    client = ReconnectingClient(juju, before)
    threads = [threading.Thread(target=client.follow_relation), threading.Thread(target=client.reconnect)]
    for thread in threads:
        thread.start()
    try:
        task = juju.run(leader(juju), "rotate-password", {"application": WEB})
        assert task.results["rotated"] == f"app-{WEB}"

        def every_unit_published_a_new_password_and_the_client_used_it() -> bool:
            now = set(published(juju).values())
            return (
                len(now) == 1
                and old_password not in {p for _, p in now}
                and bool(client.passwords_used - {old_password})
            )

        eventually(every_unit_published_a_new_password_and_the_client_used_it, timeout=60)
        wait_idle(juju)
    finally:
        client.done.set()
        for thread in threads:
            thread.join()
    assert client.refusals == []
    assert client.connections > 0

    ((username, new_password),) = set(published(juju).values())
    assert username == old_username
    for unit in units(juju):
        assert not refused(as_user(juju, unit, old_password, username)), (
            "the old password ended before its grace period"
        )
        assert not refused(as_user(juju, unit, old_password))
        assert not refused(as_user(juju, unit, new_password, username))

    in_unit(juju, leader(juju), "systemctl restart redis-server")  # the action wrote the users to redis.conf too
    eventually(lambda: not refused(as_user(juju, leader(juju), new_password, username)), timeout=30)
    assert not refused(as_user(juju, leader(juju), old_password, username))

    juju.run(leader(juju), "forget-old-passwords")

    def old_password_refused_everywhere() -> bool:
        return all(refused(as_user(juju, unit, old_password, username)) for unit in units(juju)) and all(
            refused(as_user(juju, unit, old_password)) for unit in units(juju)
        )

    eventually(old_password_refused_everywhere, timeout=60)
    for unit in units(juju):
        assert not refused(as_user(juju, unit, new_password, username))
        assert not refused(as_user(juju, unit, new_password))


def test_rotation_on_a_non_leader_is_refused_in_one_line(juju: jubilant.Juju) -> None:
    other = next(unit for unit in units(juju) if unit != leader(juju))
    with pytest.raises(jubilant.TaskError) as failure:
        juju.run(other, "rotate-password")
    assert (
        failure.value.task.message
        == f"rotate-password runs on the leader only: run it as `juju run {APP}/leader rotate-password`"
    )


def test_a_new_password_option_keeps_the_old_one_working_until_forgotten(juju: jubilant.Juju) -> None:
    old, new = "operator-password-1", "operator-password-2"
    juju.config(APP, {"password": old, "password-grace-period": 3600})
    wait_idle(juju)
    addresses = [unit.public_address for unit in units(juju).values()]
    port = int(next(iter(units(juju).values())).open_ports[0].split("/")[0])
    client = ReconnectingClient(juju, {})
    reconnecting = threading.Thread(target=client.keep_connecting, args=(addresses, port, old))
    reconnecting.start()
    try:
        juju.config(APP, {"password": new})
        wait_idle(juju)
        eventually(lambda: all(not refused(as_user(juju, unit, new)) for unit in units(juju)), timeout=60)
    finally:
        client.done.set()
        reconnecting.join()
    assert client.refusals == [] and client.connections > 0

    juju.run(leader(juju), "forget-old-passwords")
    eventually(lambda: all(refused(as_user(juju, unit, old)) for unit in units(juju)), timeout=60)
    assert all(not refused(as_user(juju, unit, new)) for unit in units(juju))


def test_an_expired_old_password_is_refused_after_the_leaders_next_hook_on_every_unit_at_once(
    juju: jubilant.Juju,
) -> None:
    juju.config(APP, {"password-grace-period": 2})
    wait_idle(juju)
    ((username, old_password),) = set(published(juju).values())
    task = juju.run(leader(juju), "rotate-password", {"application": WEB})
    until = task.results["old-passwords"].removeprefix("accepted until ")
    expires = calendar.timegm(time.strptime(until, "%Y-%m-%dT%H:%M:%SZ")) + 1  # printed to the second
    eventually(lambda: time.time() > expires, timeout=30)

    # A follower's hook changes nothing alone: every unit drops the password with the leader's revision.
    follower = next(unit for unit in units(juju) if unit != leader(juju))
    run_hook(juju, follower)
    wait_idle(juju, lambda status: jubilant.all_active(status, APP))
    assert not refused(as_user(juju, follower, old_password, username))

    run_hook(juju, leader(juju))
    eventually(lambda: all(refused(as_user(juju, unit, old_password)) for unit in units(juju)), timeout=60)
    wait_idle(juju, lambda status: jubilant.all_active(status, APP))
    ((_, new_password),) = set(published(juju).values())
    assert all(not refused(as_user(juju, unit, new_password, username)) for unit in units(juju))


def secret_revisions(juju: jubilant.Juju) -> list[int]:
    """The revisions Juju keeps of the passwords' secret."""
    ident = juju.exec("leader-get password-secret", unit=leader(juju)).stdout.strip()
    shown = json.loads(juju.cli("show-secret", ident, "--revisions", "--format", "json"))
    return [revision["revision"] for revision in next(iter(shown.values()))["revisions"]]


def admin_password(juju: jubilant.Juju) -> str:
    return juju.run(leader(juju), "get-admin-password").stdout.strip()


def test_the_admin_user_rotates_the_charm_keeps_working_and_earlier_revisions_are_removed(
    juju: jubilant.Juju,
) -> None:
    juju.config(APP, {"password-grace-period": 3600})
    wait_idle(juju)
    old = admin_password(juju)
    task = juju.run(leader(juju), "rotate-password", {"user": "admin"})
    assert task.results["rotated"] == ADMIN_USER
    new = admin_password(juju)
    assert new != old
    for unit in units(juju):
        run_hook(juju, unit)  # the leader hears of its own new revision in its next hook too
        eventually(lambda unit=unit: as_user(juju, unit, new, ADMIN_USER).ping())
        assert as_user(juju, unit, old, ADMIN_USER).ping()  # during the grace period
    juju.run(leader(juju), "forget-old-passwords")
    for unit in units(juju):
        eventually(lambda unit=unit: refused(as_user(juju, unit, old, ADMIN_USER)))
        run_hook(juju, unit)
    wait_idle(juju, lambda status: jubilant.all_active(status, APP))
    latest = int(juju.exec("leader-get password-secret-revision", unit=leader(juju)).stdout.strip())
    eventually(lambda: secret_revisions(juju) == [latest])
