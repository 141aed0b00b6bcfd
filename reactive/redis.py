"""Handlers of the Redis charm: which flags lead to which step. The steps live in lib/charms/layer/redis.

Flags of this charm:
- `redis.pending`: the workload must be converged (config or the leader's
  password changed, install, upgrade, config-changed, or the last converge
  failed in a way the next hook may get past). Cleared by a converge that
  needs no retry.
- `redis.ready`: the last converge or check ended with an authenticated PING
  and the configuration in effect; relations and checks may be published.
- `redis.checks-registered`: the Nagios check is installed on this machine.
- `redis.stopped`: the stop hook stopped Redis (the unit is being removed: Juju
  runs stop on a machine only then). Never cleared: no converge runs after it,
  so a converge still pending cannot start Redis again.
- `redis.tls.requested`: this unit's certificate request is published on
  `certificates`. Cleared by config-changed (the unit's address may have
  changed: the request is made again only if it did) and when the relation
  is gone, which also turns TLS off.
- `redis.exporter-pending`: prometheus-redis-exporter must be given Redis's
  address, password and its port again (install, upgrade, config-changed, the
  leader's password changed, TLS turned on, renewed or off). Cleared once the exporter runs with them.
- `redis.metrics-publish`: the scrape targets must be published again on
  metrics-endpoint and prometheus (a unit joined, leadership came, the
  exporter's address or port changed). Cleared once published.

Leader settings (their secret's revisions that no unit tracks any more are removed in the
leader's `secret-remove` hook): `password-secret` and `password-secret-revision` name the
Juju secret (owned by the application) that holds the generated passwords (and,
after a rotation or a new `password` option, the old ones and when each expires:
the leader removes an expired one on its next hook), and the revision that
holds the current ones; `cluster-topology`; `cluster-tls` ("true" when the
cluster formed with TLS on its bus, "false" when it formed plain: see tls.bus_wanted). Earlier revisions
kept the generated password itself in `password`: an upgraded leader moves it
into the secret and deletes the setting.

Every other hook (update-status included) checks the running Redis instead:
it answers in bounded time, runs what the configuration asks for, and what
was changed outside the charm (settings, the default user, the replication
role, file modes) is put back and said.

In cluster mode (cluster-enabled, fixed at deploy), `cluster_step` runs after
the check on every hook but stop and remove: each unit tells its peers its node
id; the leader forms the cluster once enough units are ready, brings new units
in and balances the slots, and shares the topology (leader setting
`cluster-topology`); every unit reports the cluster's health. A unit being
removed hands its slots over in its own peer -departed (or stop) hook.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import replace
from pathlib import Path

from charmhelpers.core import hookenv, unitdata

from charms import leadership
from charms.layer.redis import (
    clustering,
    conf,
    credentials,
    ingress,
    metrics,
    monitoring,
    service,
    tls,
    tuning,
    unit_facts,
    users,
    workload,
)
from charms.layer.redis.cluster.executor import Endpoint
from charms.layer.redis.cluster.topology import Topology, TopologyError, encode
from charms.layer.redis.settings import Settings
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

KV_CLUSTER_ENABLED = unit_facts.KV_CLUSTER_ENABLED
KV_INSTALLED = unit_facts.KV_INSTALLED
KV_CLUSTER_PORT = unit_facts.KV_CLUSTER_PORT
TOPOLOGY = "cluster-topology"
# What the last change that did not take effect said: the status until it does.
KV_PROBLEM = "redis.problem"
# A hook checks Redis once: converge does when it runs.
checked_in_this_hook = False


def ingress_address() -> str:
    """The address this unit is reached at, for clients and peers (asked of Juju only when it can have changed)."""
    return ingress.ingress_address(hookenv.hook_name(), unitdata.kv(), ask_ingress_address)


def ask_ingress_address() -> str:
    try:
        return hookenv.network_get("redis")["ingress-addresses"][0]
    except (KeyError, IndexError, NotImplementedError, OSError, ValueError):
        return hookenv.unit_private_ip()


def gather_facts() -> workload.Facts:
    legacy = seen_leader_settings().get(credentials.LEGACY_PASSWORD)
    content = secret_content()
    return unit_facts.gather(hookenv.config(), unitdata.kv(), ingress_address(), content, legacy)


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


def open_only(ports: list[int], bus: int | None) -> None:
    """Open `ports` (and the cluster bus port `bus`, if any) and close whatever else was opened before."""
    wanted = set(ports) | ({bus} if bus else set())
    for opened in hookenv.opened_ports():
        number, _, protocol = opened.partition("/")
        if number.isdigit() and int(number) not in wanted and protocol.lower() == "tcp":
            hookenv.close_port(int(number))
    for number in sorted(wanted):
        hookenv.open_port(number)


@hook("install", "upgrade-charm", "config-changed")
def request_converge_on_lifecycle() -> None:
    # config-changed also comes when the unit's address changed, without any option changing.
    set_flag("redis.pending")


@when_any(
    "config.changed",
    "leadership.changed.password",
    "leadership.changed.password-secret",
    "leadership.changed.password-secret-revision",
)
def request_converge_on_change() -> None:
    set_flag("redis.pending")


@hook("install")
def tune_host() -> None:
    result = tuning.apply()
    if result.refused:
        hookenv.log(f"Host tuning not applied here (kept in files for boot): {', '.join(result.refused)}")


@when("leadership.is_leader")
@when_not("leadership.set.password-secret")
def generate_password() -> None:
    seen = seen_leader_settings()
    ref = credentials.create(seen, credentials.HookSecretTools(), password_cache())
    leadership.leader_set(credentials.leader_values(ref, seen))


@when("redis.pending")
@when_not("redis.stopped")
def converge() -> None:
    facts = gather_facts()
    outcome = workload.converge(facts, report_progress)
    kv = unitdata.kv()
    if outcome.desired is not None:
        kv.set(KV_CLUSTER_ENABLED, outcome.desired.settings.cluster_enabled)
    if outcome.installed:
        kv.set(KV_INSTALLED, outcome.installed)
    if outcome.ready:
        parsed = outcome.desired.settings
        bus = conf.bus_port(parsed, facts.tls) if parsed.cluster_enabled else None
        open_only(conf.served_ports(parsed, facts.tls), bus)
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
    # A unit being removed keeps the status its hand-over left (leaving_myself covers stop and remove).
    if checked_in_this_hook or hookenv.hook_name() == "install" or leaving_myself():
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
        port, offer = client_port(desired.settings)
        clients.publish(address, port, desired.password, desired.settings.cluster_enabled, offer)
        publish_client_credentials()
        topology = shared_topology()
        if desired.settings.cluster_enabled and topology is not None and hookenv.is_leader():
            clients.publish_cluster_nodes([f"{node.address}:{node.port}" for node in topology.nodes])
    nrpe = endpoint_from_name("nrpe-external-master")
    if nrpe.is_joined:
        config = hookenv.config()
        check = monitoring.make_check(config["nagios_context"], config["nagios_servicegroups"], hookenv.local_unit())
        port, offer = client_port(desired.settings)
        ca = offer.ca if offer and offer.required else ""
        login = desired.as_user(users.MONITORING_USER)
        target = (check, address, port, login, login.password, service.group_id("nagios"), ca)
        if data_changed("redis.nrpe-check", repr(target)) or not is_flag_set("redis.checks-registered"):
            nrpe.publish_checks(monitoring.install(check, address, port, login.password, ca, login.username))
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


def shared_topology() -> Topology | None:
    try:
        return clustering.read_topology(leadership.leader_get(TOPOLOGY))
    except TopologyError as error:
        hookenv.log(f"Ignoring the shared cluster topology: {error}", hookenv.WARNING)
        return None


def leaving_myself() -> bool:
    """Whether this unit is being removed: its own -departed hooks, stop, remove."""
    return hookenv.hook_name() in ("stop", "remove") or hookenv.departing_unit() == hookenv.local_unit()


def dying_units() -> frozenset[str]:
    try:
        units = hookenv.goal_state().get("units", {})
    except (NotImplementedError, ValueError):
        return frozenset()
    return frozenset(unit for unit, state in units.items() if state.get("status") == "dying")


def cluster_mode() -> tuple[workload.Facts, workload.Desired] | None:
    """The facts and settings of a unit in cluster mode; None outside it (or without valid settings)."""
    if not hookenv.config().get("cluster-enabled"):
        return None  # a standalone unit asks Juju nothing more
    facts = gather_facts()
    desired = workload.resolve(facts)
    if not isinstance(desired, workload.Desired) or not desired.settings.cluster_enabled:
        return None
    return facts, desired


def own_view(facts: workload.Facts, desired: workload.Desired) -> clustering.View:
    """This unit's view of the cluster without asking the peers who is ready."""
    bus_tls = facts.tls is not None and facts.tls.bus
    own = Endpoint(facts.ingress, desired.settings.tls_port if bus_tls else desired.settings.port)
    login = desired.as_user(users.ADMIN_USER)
    return clustering.View(
        hookenv.local_unit(), own, login.password, desired.settings.cluster_replicas, {hookenv.local_unit(): own},
        shared_topology(), dying_units(), login.username, str(facts.tls.ca) if bus_tls else None,
    )  # fmt: skip


@hook("cluster-relation-departed")
def leave_cluster(*_endpoint: object) -> None:
    """The departing unit hands its node over; a staying unit waits until it has, before its status."""
    # @hook passes the relation's endpoint; what matters is which unit departs.
    mode = cluster_mode()
    if mode is None:
        return
    if hookenv.departing_unit() == hookenv.local_unit():
        retire_node()
    else:
        clustering.await_departure(own_view(*mode), hookenv.departing_unit(), report_progress)


def retire_node() -> None:
    """Hand this unit's slots over and leave the cluster (a no-op once done, or outside cluster mode)."""
    mode = cluster_mode()
    if mode is None:
        return
    step = clustering.retire(own_view(*mode), report_progress)
    hookenv.log(f"Cluster: {step.message}", hookenv.WARNING if step.status == "blocked" else hookenv.INFO)
    hookenv.status_set(step.status, step.message)
    if step.retry:
        raise SystemExit(1)  # the hook fails, and Juju runs it again before the unit goes


def cluster_view(facts: workload.Facts, desired: workload.Desired) -> clustering.View | None:
    """This unit's view of the cluster, its node id published to the peers; None if Redis does not answer."""
    view = own_view(facts, desired)
    try:
        node_id = clustering.node_id(view.own, view.password, view.username, view.ca_file)
    except clustering.EXPECTED_ERRORS as error:
        hookenv.log(f"Cluster node not answering: {error}", hookenv.WARNING)
        return None
    peers = endpoint_from_name("cluster")
    bus_tls = view.ca_file is not None
    peers.publish_node(view.own.host, view.own.port, node_id, bus_tls)
    # A node whose bus speaks TLS and one whose bus is plain cannot meet: each waits for its own kind.
    ready = {
        peer.unit: Endpoint(peer.address, peer.port)
        for peer in peers.peer_units()
        if peer.node_id and peer.port and peer.tls == bus_tls
    }
    return replace(view, ready={**ready, view.unit: view.own})


@when("redis.ready")
@when_not("redis.pending")
def cluster_step() -> None:
    mode = cluster_mode()
    if mode is None or leaving_myself():
        return
    facts, desired = mode
    if awaiting_certificate(facts):
        hookenv.status_set("waiting", "waiting for this unit's certificate before it joins the cluster")
        return
    view = cluster_view(facts, desired)
    if view is None:
        hookenv.status_set("waiting", "waiting for this unit's cluster node to answer")
        return
    step = clustering.lead(view, report_progress) if hookenv.is_leader() else None
    if step is not None and step.topology is not None:
        # Leadership may have moved during a long step: only the leader may share the topology.
        if encode(step.topology) != leadership.leader_get(TOPOLOGY) and hookenv.is_leader():
            leadership.leader_set({TOPOLOGY: encode(step.topology), **formed_with(view)})
            publish(desired, facts.ingress)
        view = replace(view, topology=step.topology)
    if step is None or step.status == "active":
        step = clustering.member_status(view)
    problem = tls.cluster_problem(facts.tls) if step.status == "active" else None
    if problem is not None:
        step = clustering.Step("blocked", problem)
    if view.topology is not None and view.unit in view.topology.by_unit:
        unitdata.kv().set(KV_CLUSTER_PORT, view.own.port)
    if step.status != "active":
        hookenv.log(f"Cluster: {step.message}", hookenv.WARNING if step.status == "blocked" else hookenv.INFO)
    hookenv.status_set(step.status, step.message)


@hook("stop")
def stop_redis() -> None:
    retire_node()
    layout = workload.layout_of(unitdata.kv().get(KV_INSTALLED))
    try:
        if service.is_active(layout.service):
            service.systemctl("stop", layout.service)
    except service.ServiceError as error:
        hookenv.log(f"Stopping Redis failed: {error}", level=hookenv.WARNING)
    clear_flag("redis.ready")
    set_flag("redis.stopped")


# ---------------------------------------------------------------------------
# TLS: the `certificates` relation (tls-certificates interface, requirer side).
# This unit asks the related CA to sign a request for its key; the certificate
# that comes back is written beside the key and redis.conf is converged with
# it (TLS on tls-port, the plain port off unless tls-keep-plain-port). A
# renewed certificate is a new file, loaded live.

KV_TLS_REQUEST = "redis.tls-request"
KV_TLS_FILES = unit_facts.KV_TLS_FILES
KV_TLS_BUS = unit_facts.KV_TLS_BUS


def tls_dir() -> Path:
    return workload.layout_of(unitdata.kv().get(KV_INSTALLED)).conf.parent / "tls"


def tls_files() -> tls.Files | None:
    return tls.decode_files(unitdata.kv().get(KV_TLS_FILES), bool(unitdata.kv().get(KV_TLS_BUS)))


def client_port(settings: Settings) -> tuple[int, tls.Offer | None]:
    """The port clients and the Nagios check connect to, and what they are told about TLS (None: no TLS)."""
    files = tls_files()
    port = conf.served_ports(settings, files)[0]
    if files is None:
        return port, None
    return port, tls.Offer(settings.tls_port, files.ca.read_text().strip(), port == settings.tls_port)


@hook("config-changed")
def recheck_certificate_request() -> None:
    # config-changed also comes when the unit's address changed: the request must name the new one.
    clear_flag("redis.tls.requested")


@when("endpoint.certificates.joined")
@when_not("redis.tls.requested")
def request_certificate() -> None:
    kv = unitdata.kv()
    if kv.get(KV_INSTALLED) is None:
        return  # the key belongs to the redis user, which the installation makes
    identity = tls.Identity(ingress_address(), socket.gethostname())
    # A key lost on the machine is made again, and so is the request.
    key = tls.ensure_key(tls_dir(), workload.layout_of(kv.get(KV_INSTALLED)).group)
    wanted = [identity.address, identity.hostname, tls.fingerprint(key)]
    stored = kv.get(KV_TLS_REQUEST) or {}
    request = stored.get("request")
    if request is None or stored.get("identity") != wanted:
        request = tls.make_request(key, tls.common_name(hookenv.local_unit()), identity)
        kv.set(KV_TLS_REQUEST, {"request": request, "identity": wanted})
        hookenv.log(f"Requesting a certificate for {identity.address} and {identity.hostname}")
    endpoint_from_name("certificates").request(request)
    set_flag("redis.tls.requested")


@when("endpoint.certificates.changed.certificates")
def receive_certificate() -> None:
    clear_flag("endpoint.certificates.changed.certificates")
    stored = unitdata.kv().get(KV_TLS_REQUEST) or {}
    issued = endpoint_from_name("certificates").issued(stored.get("request", "")) if stored else None
    if issued is None:
        return
    files = tls.install(tls_dir(), issued)
    if tls.encode_files(files) != unitdata.kv().get(KV_TLS_FILES):
        hookenv.log(f"Certificate received ({files.cert.name}); Redis serves TLS with it")
        unitdata.kv().set(KV_TLS_FILES, tls.encode_files(files))
        set_flag("redis.pending")
        set_flag("redis.exporter-pending")
    decide_tls_bus()


@when_not("endpoint.certificates.joined")
@when("redis.tls.requested")
def stop_tls() -> None:
    """The CA is gone: serve without TLS again (on the plain port) and forget the request.

    A node of a cluster formed with TLS keeps its last certificate: its peers reach it only over TLS.
    """
    clear_flag("redis.tls.requested")
    unitdata.kv().unset(KV_TLS_REQUEST)
    if unitdata.kv().get(KV_TLS_BUS):
        hookenv.log(tls.BUS_KEPT, hookenv.WARNING)
    elif unitdata.kv().get(KV_TLS_FILES) is not None:
        unitdata.kv().unset(KV_TLS_FILES)
        set_flag("redis.pending")
        set_flag("redis.exporter-pending")


@when("leadership.changed.cluster-tls")
def follow_cluster_tls() -> None:
    decide_tls_bus()


def decide_tls_bus() -> None:
    """Record whether this unit's cluster bus speaks TLS (tls.bus_wanted); converge again when that changes."""
    seen = seen_leader_settings()
    certified = tls_files() is not None and bool(hookenv.config().get("cluster-enabled"))
    bus = tls.bus_wanted(certified, seen.get(tls.CLUSTER_TLS), seen.get(TOPOLOGY) is not None)
    if bus != bool(unitdata.kv().get(KV_TLS_BUS)):
        hookenv.log(f"Cluster bus and replication over TLS: {'yes' if bus else 'no'}")
        unitdata.kv().set(KV_TLS_BUS, bus)
        set_flag("redis.pending")
        set_flag("redis.exporter-pending")


def awaiting_certificate(facts: workload.Facts) -> bool:
    """Whether this unit must have its certificate before its node is offered to the cluster."""
    seen = seen_leader_settings()
    # From relation-created on: a CA's units join later, maybe after the cluster would have formed.
    related = bool(endpoint_from_name("certificates").relations)
    return tls.waits_for_certificate(related, facts.tls is not None, seen.get(tls.CLUSTER_TLS), TOPOLOGY in seen)


def formed_with(view: clustering.View) -> dict[str, str]:
    """The leader setting recording whether the cluster formed with TLS, when not recorded yet."""
    if tls.CLUSTER_TLS in seen_leader_settings():
        return {}
    return {tls.CLUSTER_TLS: tls.shared_value(view.ca_file is not None)}


# Metrics: prometheus-redis-exporter on every unit, and where to scrape it. Only
# flags set by the hooks that change something lead here, so a hook where
# nothing changed makes no hook-tool call for metrics.
KV_EXPORTER = "redis.exporter"


@hook("install", "upgrade-charm", "config-changed")
def request_exporter_on_lifecycle() -> None:
    set_flag("redis.exporter-pending")


@when_any(
    "config.changed",
    "leadership.changed.password",
    "leadership.changed.password-secret",
    "leadership.changed.password-secret-revision",
)
def request_exporter_on_change() -> None:
    set_flag("redis.exporter-pending")


@when("redis.ready", "redis.exporter-pending")
@when_not("redis.pending")
def configure_exporter() -> None:
    facts = gather_facts()
    desired = workload.resolve(facts)
    if not isinstance(desired, workload.Desired):
        return
    port, offer = client_port(desired.settings)
    ca = offer.ca if offer is not None and offer.required else ""  # the exporter follows Redis to TLS
    login = desired.as_user(users.MONITORING_USER)
    exporter = metrics.Exporter(facts.ingress, port, login.password, desired.settings.metrics_port, ca, login.username)
    try:
        metrics.configure(exporter)
    except metrics.NotServing as error:
        hookenv.log(str(error), hookenv.WARNING)  # trying again would not free the port; a new metrics-port will
    except service.ServiceError as error:
        hookenv.log(f"prometheus-redis-exporter not configured, tried again next hook: {error}", hookenv.WARNING)
        return
    target = {"address": exporter.address, "port": exporter.port}
    if unitdata.kv().get(KV_EXPORTER) != target:
        unitdata.kv().set(KV_EXPORTER, target)
        set_flag("redis.metrics-publish")
    clear_flag("redis.exporter-pending")


@hook("metrics-endpoint-relation-joined", "prometheus-relation-joined", "leader-elected")
def request_metrics_publish(*_relation: object) -> None:
    set_flag("redis.metrics-publish")


@when("redis.metrics-publish")
@when_not("redis.exporter-pending")
def publish_scrape_targets() -> None:
    target = unitdata.kv().get(KV_EXPORTER)
    if target is None:
        return  # configure_exporter asks again once the exporter runs
    unit = hookenv.local_unit()
    metadata = metrics.ScrapeMetadata(
        hookenv.model_name(), hookenv.model_uuid(), hookenv.application_name(), unit, hookenv.charm_name()
    )
    endpoint_from_name("metrics-endpoint").publish(
        metrics.scrape_app_data(target["port"], metadata), metrics.scrape_unit_data(target["address"], unit)
    )
    endpoint_from_name("prometheus").publish(target["address"], target["port"])
    clear_flag("redis.metrics-publish")


@hook("stop")
def stop_exporter() -> None:
    try:
        metrics.stop()
    except service.ServiceError as error:
        hookenv.log(f"Stopping prometheus-redis-exporter failed: {error}", level=hookenv.WARNING)


# --- Generated passwords, kept in a Juju secret ---


def password_cache() -> credentials.Cache:
    return credentials.Cache(Path(hookenv.charm_dir()) / credentials.CACHE_NAME)


def seen_leader_settings() -> dict[str, str]:
    """The leader settings as this hook saw them (the leadership layer's copy: no hook tool call)."""
    return unitdata.kv().getrange(leadership.KV_PREFIX, strip=True)


def secret_content() -> dict[str, str] | None:
    """The passwords' secret, read from Juju only when its id or revision is new (None: not readable yet)."""
    ref = credentials.ref_from(seen_leader_settings())
    if ref is None:
        return None
    try:
        return credentials.read(ref, credentials.HookSecretTools(), password_cache())
    except credentials.SecretError as error:
        hookenv.log(f"The generated passwords cannot be read: {error}", hookenv.WARNING)
        return None


# --- A user and password per related application ---


def related_applications() -> set[str]:
    """The applications related over `redis` (with units), but not one whose relation is being broken."""
    broken = hookenv.relation_id() if hookenv.hook_name() == "redis-relation-broken" else None
    clients = endpoint_from_name("redis")
    return {
        relation.application_name for relation in clients.relations if relation.units and relation.relation_id != broken
    }


@when("leadership.is_leader", "leadership.set.password-secret")
def share_client_credentials() -> None:
    """A password per related application, none for one no longer related, no expired one, the default's in effect."""
    ref, content = credentials.ref_from(seen_leader_settings()), secret_content()
    if ref is None or content is None:
        return
    wanted = credentials.leader_content(content, related_applications(), hookenv.config(), time.time())
    if wanted != content:
        ref = credentials.update(ref, wanted, credentials.HookSecretTools(), password_cache())
        leadership.leader_set(credentials.leader_values(ref, {}))


def publish_client_credentials() -> None:
    """On each relation, its application's own username and password, once the leader made them."""
    passwords = dict(credentials.client_passwords(secret_content() or {}))
    for relation in endpoint_from_name("redis").relations:
        username = users.client_username(relation.application_name) if relation.units else ""
        if username in passwords:
            relation.to_publish_raw.update({"username": username, "password": passwords[username]})


@hook("secret-remove")
def remove_obsolete_secret_revision() -> None:
    """Juju tells the leader that no unit tracks a revision any more: remove it (it holds only retired passwords)."""
    ref = credentials.ref_from(seen_leader_settings())
    revision = credentials.obsolete_revision(
        ref, os.environ.get("JUJU_SECRET_ID", ""), os.environ.get("JUJU_SECRET_REVISION", "")
    )
    if ref is None or revision is None or not hookenv.is_leader():
        return
    try:
        credentials.HookSecretTools().remove_revision(ref.id, revision)
    except credentials.SecretError as error:
        hookenv.log(f"Revision {revision} of the passwords' secret not removed: {error}", hookenv.WARNING)
