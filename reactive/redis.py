"""Handlers of the Redis charm: which flags lead to which step. The steps live in lib/charms/layer/redis.

Flags of this charm:
- `redis.pending`: the workload must be converged (config or the leader's
  password changed, install, upgrade, config-changed, or the last converge
  failed in a way the next hook may get past). Cleared by a converge that
  needs no retry.
- `redis.ready`: the last converge or check ended with an authenticated PING
  and the configuration in effect; relations and checks may be published.
- `redis.checks-registered`: the Nagios check is installed on this machine.

Every other hook (update-status included) checks the running Redis instead:
it answers in bounded time, runs what the configuration asks for, and what
was changed outside the charm (settings, the default user, the replication
role, file modes) is put back and said.
"""

from __future__ import annotations

import secrets

from charmhelpers.core import hookenv, unitdata

from charms import leadership
from charms.layer.redis import monitoring, service, tuning, workload
from charms.reactive import (
    clear_flag,
    data_changed,
    endpoint_from_name,
    hook,
    is_flag_set,
    set_flag,
    when,
    when_any,
    when_not,
)

KV_CLUSTER_ENABLED = "redis.deployed-cluster-enabled"
KV_INSTALLED = "redis.installed"
# What the last change that did not take effect said: the status until it does.
KV_PROBLEM = "redis.problem"
# A hook checks Redis once: converge does when it runs.
checked_in_this_hook = False


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
        installed=kv.get(KV_INSTALLED),
        machine_memory=service.machine_memory(),
    )


def report(outcome: workload.Outcome) -> None:
    """Set the status; log what was repaired; remember a problem until the configuration is in effect."""
    global checked_in_this_hook
    checked_in_this_hook = True
    if outcome.repaired:
        hookenv.log(f"Repaired what was changed outside the charm: {', '.join(outcome.repaired)}", hookenv.WARNING)
    if not outcome.ready:
        hookenv.log(f"Redis: {outcome.message}", hookenv.WARNING)
    unitdata.kv().set(KV_PROBLEM, None if outcome.ready else outcome.message)
    hookenv.status_set(outcome.status, outcome.message)


def report_progress(message: str) -> None:
    hookenv.status_set("maintenance", message)


def open_only(port: int) -> None:
    """Open `port` and close whatever other port an earlier configuration opened."""
    for opened in hookenv.opened_ports():
        number, _, protocol = opened.partition("/")
        if number != str(port) and protocol.lower() == "tcp":
            hookenv.close_port(int(number))
    hookenv.open_port(port)


@hook("install", "upgrade-charm", "config-changed")
def request_converge_on_lifecycle() -> None:
    # config-changed also comes when the unit's address changed, without any option changing.
    set_flag("redis.pending")


@when_any("config.changed", "leadership.changed.password")
def request_converge_on_change() -> None:
    set_flag("redis.pending")


@hook("install")
def tune_host() -> None:
    result = tuning.apply()
    if result.refused:
        hookenv.log(f"Host tuning not applied here (kept in files for boot): {', '.join(result.refused)}")


@when("leadership.is_leader")
@when_not("leadership.set.password")
def generate_password() -> None:
    leadership.leader_set(password=secrets.token_urlsafe(32))


@when("redis.pending")
def converge() -> None:
    facts = gather_facts()
    outcome = workload.converge(facts, report_progress)
    kv = unitdata.kv()
    if outcome.desired is not None:
        kv.set(KV_CLUSTER_ENABLED, outcome.desired.settings.cluster_enabled)
    if outcome.installed:
        kv.set(KV_INSTALLED, outcome.installed)
    if outcome.ready:
        open_only(outcome.desired.settings.port)
        hookenv.application_version_set(outcome.version)
        publish(outcome.desired, facts.ingress)
        set_flag("redis.ready")
    else:
        clear_flag("redis.ready")
    report(outcome)
    if not outcome.retry:
        clear_flag("redis.pending")


@when_not("redis.pending")
def check_health() -> None:
    if checked_in_this_hook or hookenv.hook_name() in ("install", "stop", "remove"):
        return
    facts = gather_facts()
    if facts.installed is None:
        return
    outcome = workload.report(facts, unitdata.kv().get(KV_PROBLEM), timeout=2.0)
    (set_flag if outcome.ready else clear_flag)("redis.ready")
    report(outcome)


def publish(desired: workload.Desired, address: str) -> None:
    """Tell related applications and the nrpe charm how to reach this unit's Redis at `address`."""
    clients = endpoint_from_name("redis")
    if clients.is_joined:
        # Endpoint only writes relation data that changed.
        clients.publish(address, desired.settings.port, desired.password)
    nrpe = endpoint_from_name("nrpe-external-master")
    if nrpe.is_joined:
        config = hookenv.config()
        check = monitoring.make_check(config["nagios_context"], config["nagios_servicegroups"], hookenv.local_unit())
        target = (check, address, desired.settings.port, desired.password, service.group_id("nagios"))
        if data_changed("redis.nrpe-check", repr(target)) or not is_flag_set("redis.checks-registered"):
            nrpe.publish_checks(monitoring.install(check, address, desired.settings.port, desired.password))
            set_flag("redis.checks-registered")


@when("redis.ready")
@when_any("endpoint.redis.joined", "endpoint.nrpe-external-master.joined")
def publish_to_related() -> None:
    facts = gather_facts()
    desired = workload.resolve(facts)
    if isinstance(desired, workload.Desired):
        publish(desired, facts.ingress)


@when_not("endpoint.nrpe-external-master.joined")
@when("redis.checks-registered")
def unregister_checks() -> None:
    monitoring.remove()
    clear_flag("redis.checks-registered")


@hook("stop")
def stop_redis() -> None:
    layout = workload.layout_of(unitdata.kv().get(KV_INSTALLED))
    try:
        if service.is_active(layout.service):
            service.systemctl("stop", layout.service)
    except service.ServiceError as error:
        hookenv.log(f"Stopping Redis failed: {error}", level=hookenv.WARNING)
    clear_flag("redis.ready")
