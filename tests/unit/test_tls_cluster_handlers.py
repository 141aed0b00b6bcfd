"""The TLS handlers in cluster mode, dispatched as in a hook against a fake Juju.

Redis and the cluster nodes are faked (`FakeCluster`): what matters here is what
the handlers decide from Juju's side: when a unit offers its node to the
cluster, on which port and whether over TLS, what the leader records, which
ports open and what clients are told.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ca_helpers import UnitCa
from charmhelpers.core import hookenv

from charms.layer.redis import clustering, metrics, service, tls, tuning, workload
from charms.layer.redis.cluster.executor import Endpoint
from charms.layer.redis.cluster.topology import Node, Role, Topology

from fakejuju import FakeJuju, Relation, Unit, attach, config_defaults

NODE_ID = "a" * 40


@dataclass
class FakeCluster:
    """Redis and its cluster node as the handlers see them: converged facts, the views the cluster steps got."""

    converged: list[workload.Facts] = field(default_factory=list)
    asked: list[tuple[Endpoint, str | None]] = field(default_factory=list)
    led: list[clustering.View] = field(default_factory=list)
    exporters: list[metrics.Exporter] = field(default_factory=list)

    def converge(self, facts: workload.Facts, progress: Callable[[str], None]) -> workload.Outcome:
        self.converged.append(facts)
        desired = workload.resolve(facts)
        if isinstance(desired, workload.Outcome):
            return desired
        return workload.Outcome("active", "Ready", desired, "7.0.15", workload.installation_key(desired.settings))

    def report(self, facts: workload.Facts, problem: str | None, timeout: float = 2.0) -> workload.Outcome:
        desired = workload.resolve(facts)
        return desired if isinstance(desired, workload.Outcome) else workload.Outcome("active", "Ready", desired)

    def node_id(self, endpoint: Endpoint, password: str, username: str = "default", ca_file: str | None = None) -> str:
        self.asked.append((endpoint, ca_file))
        return NODE_ID

    def lead(self, view: clustering.View, say: Callable[[str], None]) -> clustering.Step:
        """Forms a cluster of every ready unit once there are two (the real step waits for three)."""
        self.led.append(view)
        if len(view.ready) < 2:
            return clustering.Step("waiting", "1 of 2 units ready")
        nodes = tuple(
            Node(unit, f"{number:040d}", endpoint.host, endpoint.port, Role.MASTER, "")
            for number, (unit, endpoint) in enumerate(sorted(view.ready.items()))
        )
        return clustering.Step("active", "cluster ok", Topology(nodes))

    def member_status(self, view: clustering.View) -> clustering.Step:
        return clustering.Step("active", "cluster ok: 3 masters")

    def attach(self, monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
        monkeypatch.setattr(workload, "converge", self.converge)
        monkeypatch.setattr(workload, "report", self.report)
        # goal-state: no unit of the application is dying.
        monkeypatch.setattr(hookenv, "goal_state", lambda: {"units": {}})
        monkeypatch.setattr(clustering, "node_id", self.node_id)
        monkeypatch.setattr(clustering, "lead", self.lead)
        monkeypatch.setattr(clustering, "member_status", self.member_status)
        monkeypatch.setattr(tuning, "apply", lambda: tuning.TuningResult(()))
        monkeypatch.setattr(service, "is_active", lambda name: True)
        monkeypatch.setattr(service, "systemctl", lambda *args: None)
        monkeypatch.setattr(metrics, "configure", lambda exporter: self.exporters.append(exporter) or True)
        monkeypatch.setattr(metrics, "serving", lambda exporter: True)
        real_key, real_install = tls.ensure_key, tls.install
        monkeypatch.setattr(tls, "ensure_key", lambda _directory, _owner: real_key(directory, getpass.getuser()))
        monkeypatch.setattr(tls, "install", lambda _directory, issued: real_install(directory, issued))


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeCluster:
    fake = FakeCluster()
    fake.attach(monkeypatch, tmp_path / "tls")
    return fake


@pytest.fixture
def unit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cluster: FakeCluster) -> Unit:
    config = {**config_defaults(), "cluster-enabled": True, "password": "cluster-password-1"}
    return attach(monkeypatch, FakeJuju(config=config), tmp_path)


@pytest.fixture(scope="module")
def ca() -> UnitCa:
    return UnitCa()


def deploy(unit: Unit) -> None:
    for hook in ("install", "leader-elected", "config-changed", "start"):
        unit.run_hook(hook)


def created_ca_relation(unit: Unit) -> str:
    """The certificates relation as relation-created sees it: no CA unit joined yet."""
    rid = "certificates:9"
    unit.juju.relations[rid] = Relation("certificates", "ca")
    unit.run_hook("certificates-relation-created", rid)
    return rid


def sign(unit: Unit, rid: str, ca: UnitCa) -> None:
    """The CA joins and answers the unit's request in its application data."""
    unit.juju.relations[rid].units["ca/0"] = {}
    unit.run_hook("certificates-relation-joined", rid, "ca/0")
    pem = json.loads(unit.juju.relations[rid].local["certificate_signing_requests"])[0]["certificate_signing_request"]
    entry = {"certificate": ca.sign(pem), "certificate_signing_request": pem, "ca": ca.pem, "chain": []}
    unit.juju.relations[rid].app["certificates"] = json.dumps([entry])
    unit.run_hook("certificates-relation-changed", rid, "ca/0")


def peers(unit: Unit, *data: dict[str, str]) -> str:
    rid = unit.juju.relate("cluster", "redis/1", data[0])
    for number, more in enumerate(data[1:], 2):
        unit.juju.relations[rid].units[f"redis/{number}"] = more
    unit.run_hook("cluster-relation-changed", rid, "redis/1")
    return rid


# What the operator reads: the unit's status for a cluster formed plain, the log when the CA leaves a TLS one.
FORMED_PLAIN = (
    "certificates: this cluster formed without TLS, so its bus, replication and redirections stay plain "
    "(TLS only on tls-port); for TLS throughout, deploy a new application, relate it to the CA before "
    "it forms, and move the data"
)
BUS_KEPT = (
    "certificates: the relation is gone, but this cluster formed with TLS and its nodes reach each other only "
    "over TLS: Redis keeps its last certificate (relate a CA again before it expires)"
)
TLS_PEER = {"address": "127.1.2.4", "port": "6380", "node-id": "b" * 40, "tls": "true"}
PLAIN_PEER = {"address": "127.1.2.5", "port": "6379", "node-id": "c" * 40}


def test_with_a_ca_related_a_unit_offers_its_node_only_once_it_has_its_certificate(
    unit: Unit, cluster: FakeCluster, ca: UnitCa
) -> None:
    deploy(unit)
    rid = created_ca_relation(unit)
    cluster.led.clear()
    peers(unit, TLS_PEER)
    assert unit.juju.status == ("waiting", "waiting for this unit's certificate before it joins the cluster")
    assert not cluster.led
    sign(unit, rid, ca)
    files = cluster.converged[-1].tls
    assert files is not None and files.bus
    assert unit.juju.ports == {"6380/tcp", "16380/tcp"}
    # The node is asked over TLS, verified against the CA, on tls-port; the peers are told so.
    assert cluster.asked[-1] == (Endpoint("127.1.2.3", 6380), str(files.ca))
    published = next(r for r in unit.juju.relations.values() if r.endpoint == "cluster").local
    assert (published["port"], published["tls"]) == ("6380", "true")


def test_the_leader_forms_with_tls_nodes_only_and_records_it(unit: Unit, cluster: FakeCluster, ca: UnitCa) -> None:
    deploy(unit)
    sign(unit, created_ca_relation(unit), ca)
    peers(unit, TLS_PEER, PLAIN_PEER)
    view = cluster.led[-1]
    assert view.ready == {"redis/0": Endpoint("127.1.2.3", 6380), "redis/1": Endpoint("127.1.2.4", 6380)}
    assert view.ca_file is not None
    assert unit.juju.leader_settings["cluster-tls"] == "true"
    assert unit.kv("redis.cluster-port") == 6380


def test_without_a_ca_the_cluster_forms_plain_and_a_later_certificate_blocks_naming_the_way_out(
    unit: Unit, cluster: FakeCluster, ca: UnitCa
) -> None:
    deploy(unit)
    peers(unit, TLS_PEER, PLAIN_PEER)
    assert cluster.led[-1].ready == {"redis/0": Endpoint("127.1.2.3", 6379), "redis/2": Endpoint("127.1.2.5", 6379)}
    assert unit.juju.leader_settings["cluster-tls"] == "false"
    sign(unit, created_ca_relation(unit), ca)
    files = cluster.converged[-1].tls
    assert files is not None and not files.bus
    assert unit.juju.ports == {"6379/tcp", "6380/tcp", "16379/tcp"}
    assert unit.juju.status == ("blocked", FORMED_PLAIN)


def test_a_tls_cluster_keeps_its_certificate_when_the_ca_leaves(unit: Unit, cluster: FakeCluster, ca: UnitCa) -> None:
    deploy(unit)
    rid = created_ca_relation(unit)
    sign(unit, rid, ca)
    peers(unit, TLS_PEER)
    del unit.juju.relations[rid]
    unit.run_hook("certificates-relation-broken", rid)
    files = cluster.converged[-1].tls
    assert files is not None and files.bus
    assert unit.juju.ports == {"6380/tcp", "16380/tcp"}
    assert BUS_KEPT in unit.juju.logs


def test_a_follower_moves_its_bus_to_tls_and_back_as_the_leader_records_it(
    unit: Unit, cluster: FakeCluster, ca: UnitCa
) -> None:
    unit.juju.leader = False
    unit.juju.leader_settings["cluster-tls"] = "false"
    for hook in ("install", "leader-settings-changed", "config-changed", "start"):
        unit.run_hook(hook)
    sign(unit, created_ca_relation(unit), ca)
    assert not cluster.converged[-1].tls.bus  # type: ignore[union-attr]

    def leader_records(recorded: str) -> list[str]:
        """The leader's new cluster-tls reaches this unit: what it logged in that hook."""
        converged, exporters, logs = len(cluster.converged), len(cluster.exporters), len(unit.juju.logs)
        unit.juju.leader_settings["cluster-tls"] = recorded
        unit.run_hook("leader-settings-changed")
        assert len(cluster.converged) > converged and len(cluster.exporters) > exporters  # Redis and the exporter
        return unit.juju.logs[logs:]

    logged = leader_records("true")
    assert cluster.converged[-1].tls.bus  # type: ignore[union-attr]
    assert "Cluster bus and replication over TLS: yes" in logged
    assert unit.juju.status == ("active", "cluster ok: 3 masters")
    quiet = len(unit.juju.logs)
    unit.run_hook("update-status")
    assert unit.juju.status == ("active", "cluster ok: 3 masters")
    assert not [line for line in unit.juju.logs[quiet:] if line.startswith("Cluster: ")]  # healthy: nothing logged
    logged = leader_records("false")
    assert not cluster.converged[-1].tls.bus  # type: ignore[union-attr]
    assert "Cluster bus and replication over TLS: no" in logged
    assert unit.juju.status == ("blocked", FORMED_PLAIN)


def test_no_cluster_step_while_the_units_redis_is_not_converged(unit: Unit, cluster: FakeCluster) -> None:
    deploy(unit)
    led = len(cluster.led)

    def not_applied(facts: workload.Facts, progress: Callable[[str], None]) -> workload.Outcome:
        desired = workload.resolve(facts)
        assert isinstance(desired, workload.Desired)
        key = workload.installation_key(desired.settings)
        return workload.Outcome("blocked", "maxmemory not applied: disk full", desired, "", key, retry=True)

    unit.monkeypatch.setattr(workload, "converge", not_applied)
    unit.juju.config["loglevel"] = "verbose"
    unit.run_hook("config-changed")
    peers(unit, PLAIN_PEER)
    assert len(cluster.led) == led  # the peer's node waits until this unit runs its wanted settings
    unit.monkeypatch.setattr(workload, "converge", cluster.converge)
    unit.run_hook("update-status")
    assert cluster.led[-1].ready.keys() == {"redis/0", "redis/1"}


def test_no_cluster_step_while_the_units_redis_does_not_answer(unit: Unit, cluster: FakeCluster) -> None:
    deploy(unit)
    led = len(cluster.led)

    def not_answering(facts: workload.Facts, problem: str | None, timeout: float = 2.0) -> workload.Outcome:
        return workload.Outcome("blocked", "Redis does not answer on 127.1.2.3:6379", None)

    unit.monkeypatch.setattr(workload, "report", not_answering)
    peers(unit, PLAIN_PEER)
    assert len(cluster.led) == led and unit.juju.status[0] == "blocked"
