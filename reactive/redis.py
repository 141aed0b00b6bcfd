"""Handlers of the Redis charm: which flags lead to which step. The steps live in lib/charms/layer/redis.

Flags of this charm:
- `redis.ready`: the last converge ended with an authenticated PING; relations
  and checks may be published.
- `redis.converge`: something outside config and leadership asks for a converge
  (install, upgrade-charm, a hook that failed half-way).
"""

from __future__ import annotations

import secrets

from charmhelpers.core import hookenv, unitdata

from charms import leadership
from charms.layer.redis import monitoring, service, tuning, workload
from charms.reactive import clear_flag, endpoint_from_name, hook, set_flag, when, when_any, when_not

KV_CLUSTER_ENABLED = "redis.deployed-cluster-enabled"
KV_INSTALLED_SOURCE = "redis.installed-source"


def ingress_address() -> str:
    """The address this unit is reached at, for clients and peers."""
    try:
        return hookenv.network_get("redis")["ingress-addresses"][0]
    except (KeyError, IndexError, NotImplementedError, OSError, ValueError):
        return hookenv.unit_private_ip()


def gather_facts() -> workload.Facts:
    kv = unitdata.kv()
    return workload.Facts(
        config=dict(hookenv.config()),
        leader_password=leadership.leader_get("password"),
        ingress=ingress_address(),
        deployed_cluster_enabled=kv.get(KV_CLUSTER_ENABLED),
        installed_source=kv.get(KV_INSTALLED_SOURCE),
    )


def report_progress(message: str) -> None:
    hookenv.status_set("maintenance", message)


def open_only(port: int) -> None:
    """Open `port` and close whatever other port an earlier configuration opened."""
    for opened in hookenv.opened_ports():
        number, _, protocol = opened.partition("/")
        if number != str(port) and protocol.lower() == "tcp":
            hookenv.close_port(int(number))
    hookenv.open_port(port)


@hook("install", "upgrade-charm")
def request_converge() -> None:
    set_flag("redis.converge")


@hook("install")
def tune_host() -> None:
    result = tuning.apply()
    if result.refused:
        hookenv.log(f"Host tuning not applied here (kept in files for boot): {', '.join(result.refused)}")


@when("leadership.is_leader")
@when_not("leadership.set.password")
def generate_password() -> None:
    leadership.leader_set(password=secrets.token_urlsafe(32))


@when_any("config.changed", "leadership.changed.password", "redis.converge")
def converge() -> None:
    facts = gather_facts()
    outcome = workload.converge(facts, report_progress)
    kv = unitdata.kv()
    if outcome.desired is not None:
        kv.set(KV_CLUSTER_ENABLED, outcome.desired.settings.cluster_enabled)
    if outcome.installed_source:
        kv.set(KV_INSTALLED_SOURCE, outcome.installed_source)
    if outcome.ready:
        open_only(outcome.desired.settings.port)
        hookenv.application_version_set(outcome.version)
        publish(outcome.desired)
        set_flag("redis.ready")
    else:
        clear_flag("redis.ready")
    hookenv.status_set(outcome.status, outcome.message)
    clear_flag("redis.converge")


@hook("update-status")
def check_health() -> None:
    desired = workload.resolve(gather_facts())
    if isinstance(desired, workload.Outcome):
        hookenv.status_set(desired.status, desired.message)
        return
    outcome = workload.check(desired, workload.layout_for(desired.settings), None, timeout=2.0)
    hookenv.status_set(outcome.status, outcome.message)


def publish(desired: workload.Desired) -> None:
    """Tell related applications and the nrpe charm how to reach this unit's Redis."""
    address = ingress_address()
    clients = endpoint_from_name("redis")
    if clients.is_joined:
        clients.publish(address, desired.settings.port, desired.password)
    nrpe = endpoint_from_name("nrpe-external-master")
    if nrpe.is_joined:
        config = hookenv.config()
        check = monitoring.make_check(config["nagios_context"], config["nagios_servicegroups"], hookenv.local_unit())
        nrpe.publish_checks(monitoring.install(check, address, desired.settings.port, desired.password))
        set_flag("redis.checks-registered")


@when("redis.ready")
@when_any("endpoint.redis.joined", "endpoint.nrpe-external-master.joined")
def publish_to_new_relations() -> None:
    desired = workload.resolve(gather_facts())
    if isinstance(desired, workload.Desired):
        publish(desired)


@when_not("endpoint.nrpe-external-master.joined")
@when("redis.checks-registered")
def unregister_checks() -> None:
    monitoring.remove()
    clear_flag("redis.checks-registered")


@hook("stop")
def stop_redis() -> None:
    desired = workload.resolve(gather_facts())
    layout = workload.layout_for(desired.settings) if isinstance(desired, workload.Desired) else service.APT_LAYOUT
    if service.is_active(layout.service):
        service.systemctl("stop", layout.service)
    clear_flag("redis.ready")
