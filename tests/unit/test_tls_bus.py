"""TLS in cluster mode: when the bus speaks TLS, what redis.conf says then, and the cluster steps over TLS.

The decisions are pure; the last tests form a real cluster of redis-server
processes rendered by the charm with a TLS bus, driven by the charm's own
executor over TLS (verifying each node against the CA).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from ca_helpers import UnitCa
from interface_helpers import endpoint, interface

from charms.layer.redis import admin, clustering, conf, service, settings, tls, workload
from charms.layer.redis.cluster.executor import ClusterExecutor, Endpoint, MigrateAuth, Unreachable
from charms.layer.redis.cluster.plan import plan_formation
from charms.layer.redis.cluster.redis_client import RedisConnections

from conftest import free_port
from fakejuju import config_defaults

PASSWORD = "unit-test-password-1"
CLUSTER = settings.parse({**config_defaults(), "password": PASSWORD, "cluster-enabled": True}, True)
PLAIN_FILES = tls.Files(
    Path("/etc/redis/tls/cert-a.pem"), Path("/etc/redis/tls/redis.key"), Path("/etc/redis/tls/ca-b.pem")
)
BUS_FILES = replace(PLAIN_FILES, bus=True)


def render(parsed: settings.Settings = CLUSTER, files: tls.Files | None = BUS_FILES) -> dict[str, str]:
    return conf.directives(conf.render(parsed, PASSWORD, "127.1.2.3", service.APT_LAYOUT, files))


@pytest.mark.parametrize(
    ("certified", "shared", "formed", "bus"),
    [
        (True, None, False, True),  # certificates before the cluster forms: a TLS bus
        (False, None, False, False),
        (True, None, True, False),  # formed by a revision that did not record cluster-tls: plain
        (True, "true", True, True),
        (False, "true", True, False),
        (True, "false", True, False),  # formed plain, certificate afterwards: the bus stays plain
        (True, "false", False, False),
    ],
)
def test_the_bus_speaks_tls_only_in_a_cluster_that_formed_with_it(
    certified: bool, shared: str | None, formed: bool, bus: bool
) -> None:
    assert tls.bus_wanted(certified, shared, formed) is bus


@pytest.mark.parametrize(
    ("related", "certified", "shared", "formed", "waits"),
    [
        (True, False, None, False, True),  # a CA is related: the cluster forms only with certificates
        (True, True, None, False, False),
        (False, False, None, False, False),  # no CA: a plain cluster, as before
        (True, False, "true", True, True),  # joining a TLS cluster needs a certificate
        (True, False, "false", True, False),  # a plain cluster takes a plain node
        (True, False, None, True, False),
    ],
)
def test_a_unit_offers_its_node_once_it_speaks_what_the_cluster_speaks(
    related: bool, certified: bool, shared: str | None, formed: bool, waits: bool
) -> None:
    assert tls.waits_for_certificate(related, certified, shared, formed) is waits


def test_the_leader_records_how_the_cluster_formed() -> None:
    assert (tls.shared_value(True), tls.shared_value(False)) == ("true", "false")
    assert tls.bus_wanted(True, tls.shared_value(True), formed=True)
    assert not tls.bus_wanted(True, tls.shared_value(False), formed=True)


def test_a_tls_bus_renders_tls_cluster_replication_and_no_plain_port() -> None:
    found = render()
    assert (found["tls-cluster"], found["tls-replication"]) == ("yes", "yes")
    assert (found["port"], found["tls-port"]) == ("0", "6380")
    assert (found["cluster-announce-port"], found["cluster-announce-tls-port"]) == ("0", "6380")
    assert conf.served_ports(CLUSTER, BUS_FILES) == [6380]
    assert conf.bus_port(CLUSTER, BUS_FILES) == 16380


def test_the_plain_port_can_be_kept_beside_a_tls_bus() -> None:
    kept = replace(CLUSTER, tls_keep_plain_port=True)
    found = render(kept)
    assert (found["port"], found["tls-cluster"]) == ("6379", "yes")
    assert conf.served_ports(kept, BUS_FILES) == [6379, 6380]
    assert conf.bus_port(kept, BUS_FILES) == 16380
    # Plain clients are told the plain port, TLS clients the TLS port; switching is live.
    assert (found["cluster-announce-port"], found["cluster-announce-tls-port"]) == ("6379", "6380")
    closed = conf.render(CLUSTER, PASSWORD, "127.1.2.3", service.APT_LAYOUT, BUS_FILES)
    opened = conf.render(kept, PASSWORD, "127.1.2.3", service.APT_LAYOUT, BUS_FILES)
    assert conf.plan(closed, opened, (7, 0, 15)) == conf.Plan(live={"cluster-announce-port": "6379", "port": "6379"})


def test_a_cluster_formed_plain_keeps_its_plain_bus_and_port() -> None:
    found = render(files=PLAIN_FILES)
    assert "tls-cluster" not in found and "tls-replication" not in found
    assert not any(name.startswith("cluster-announce-") and name != "cluster-announce-ip" for name in found)
    assert (found["port"], found["tls-port"]) == ("6379", "6380")
    assert conf.bus_port(CLUSTER, PLAIN_FILES) == conf.bus_port(CLUSTER, None) == 16379
    assert tls.cluster_problem(PLAIN_FILES) == tls.FORMED_PLAIN
    assert "deploy a new application" in tls.FORMED_PLAIN and "relate it to the CA before it forms" in tls.FORMED_PLAIN
    assert tls.cluster_problem(BUS_FILES) is None and tls.cluster_problem(None) is None


def test_a_standalone_unit_never_renders_tls_cluster() -> None:
    standalone = settings.parse({**config_defaults(), "password": PASSWORD})
    found = render(standalone)
    assert "tls-cluster" not in found and found["port"] == "0"


def test_switching_the_bus_to_tls_restarts_and_a_renewal_on_it_is_live() -> None:
    layout = service.APT_LAYOUT
    plain = conf.render(CLUSTER, PASSWORD, "127.1.2.3", layout)
    bus = conf.render(CLUSTER, PASSWORD, "127.1.2.3", layout, BUS_FILES)
    # The bus listener keeps the kind Redis started with: CONFIG SET tls-cluster would cut the node off.
    assert conf.plan(plain, bus, (7, 0, 15)).restart
    renewed = conf.render(CLUSTER, PASSWORD, "127.1.2.3", layout, replace(BUS_FILES, cert=Path("/x/cert-c.pem")))
    assert conf.plan(bus, renewed, (7, 0, 15)) == conf.Plan(live={"tls-cert-file": "/x/cert-c.pem"})


def test_the_bus_flag_comes_back_with_the_stored_files(tmp_path: Path) -> None:
    files = tls.Files(tmp_path / "cert.pem", tmp_path / "redis.key", tmp_path / "ca.pem")
    for path in (files.cert, files.key, files.ca):
        path.write_text("PEM")
    stored = tls.encode_files(files)
    assert tls.decode_files(stored) == files
    assert tls.decode_files(stored, bus=True) == replace(files, bus=True)


def test_peers_say_whether_their_node_speaks_tls() -> None:
    peers = interface("redis-peers", "peers")
    theirs = [
        SimpleUnit("redis/1", {"address": "127.0.0.2", "port": "6380", "node-id": "b" * 40, "tls": "true"}),
        SimpleUnit("redis/2", {"address": "127.0.0.3", "port": "6379", "node-id": "c" * 40}),
    ]
    mine = SimpleRelation(theirs)
    cluster = endpoint(peers.RedisPeers, mine)
    cluster.publish_node("127.0.0.1", 6379, "a" * 40)
    assert "tls" not in mine.to_publish_raw  # a plain cluster's data stays as it was
    cluster.publish_node("127.0.0.1", 6380, "a" * 40, tls=True)
    assert mine.to_publish_raw == {"address": "127.0.0.1", "port": "6380", "node-id": "a" * 40, "tls": "true"}
    cluster.publish_node("127.0.0.1", 6379, "a" * 40)
    assert mine.to_publish_raw["tls"] == "false"
    assert [(peer.unit, peer.tls) for peer in cluster.peer_units()] == [("redis/1", True), ("redis/2", False)]


class CreatedRelation:
    """A relation just created: no provider unit joined, so the provider's data cannot be read yet."""

    relation_id = "certificates:1"

    def __init__(self) -> None:
        self.units: list[str] = []
        self.to_publish_raw: dict[str, str] = {}

    @property
    def received_app_raw(self) -> dict[str, str]:
        raise AssertionError("a non-leader reading its own application's data fails the hook")


def test_a_created_certificates_relation_is_not_read_before_a_provider_joins() -> None:
    requires = interface("tls-certificates", "requires")
    certificates = endpoint(requires.TlsCertificatesRequires, CreatedRelation())
    certificates.manage_flags()
    assert certificates.issued("REQUEST") is None


def test_a_provider_related_after_a_relation_nobody_joined_yet_is_read(reactive) -> None:
    requires = interface("tls-certificates", "requires")
    entries = [{"certificate": "C", "certificate_signing_request": "REQUEST", "ca": "CA", "chain": []}]
    joined = type("Relation", (), {"relation_id": "certificates:2", "units": ["ca/0"], "to_publish_raw": {},
                                   "received_app_raw": {tls.CERTIFICATES_FIELD: json.dumps(entries)}})  # fmt: skip
    certificates = endpoint(requires.TlsCertificatesRequires, CreatedRelation(), joined, name="certificates")
    certificates.manage_flags()
    assert reactive.is_flag_set("endpoint.certificates.changed.certificates")
    assert certificates.issued("REQUEST") == tls.Issued("C", "CA")


@dataclass
class SimpleUnit:
    unit_name: str
    received_raw: dict[str, str]


@dataclass
class SimpleRelation:
    joined_units: list[SimpleUnit]

    def __post_init__(self) -> None:
        self.to_publish_raw: dict[str, str] = {}


# A real cluster with a TLS bus, rendered by the charm.


@dataclass(frozen=True)
class Node:
    endpoint: Endpoint
    layout: conf.Layout
    process: subprocess.Popen[bytes]


def bus_ready_port() -> int:
    """A free TLS port whose bus port (+10000) is free and valid too."""
    while True:
        port = free_port()
        if port + 10000 <= 65535:
            return port


# What the nodes' certificates name: the address they listen on.
LISTENING = tls.Identity("127.0.0.1", "localhost")


def start_node(root: Path, ca: UnitCa, key: str, identity: tls.Identity = LISTENING) -> Node:
    """A redis-server rendered by the charm on 127.0.0.1 with a TLS bus, its certificate naming `identity`."""
    root.mkdir()
    (root / "tls").mkdir()
    (root / "tls" / "redis.key").write_text(key)
    request = tls.make_request(key, "redis/0", identity)
    files = replace(tls.install(root / "tls", tls.Issued(ca.sign(request), ca.pem)), bus=True)
    (root / "data").mkdir()
    layout = conf.Layout("redis-server", "redis-server", root / "redis.conf", root / "data", root / "redis.log",
                         root / "r.sock", root / "redis.pid")  # fmt: skip
    parsed = replace(CLUSTER, tls_port=bus_ready_port())
    layout.conf.write_text(conf.render(parsed, PASSWORD, "127.0.0.1", layout, files))
    process = subprocess.Popen(["redis-server", str(layout.conf), "--supervised", "no"])
    return Node(Endpoint("127.0.0.1", parsed.tls_port), layout, process)


@pytest.fixture(scope="module")
def ca_and_key() -> tuple[UnitCa, str]:
    return UnitCa(), tls.make_key()


@contextmanager
def running_nodes(root: Path, ca: UnitCa, key: str, identities: Sequence[tls.Identity]) -> Iterator[list[Node]]:
    """A node per identity (see start_node), each answering, all killed on the way out."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server not installed")
    nodes: list[Node] = []
    try:
        for number, identity in enumerate(identities):
            nodes.append(start_node(root / f"n{number}", ca, key, identity))
        for node in nodes:
            assert service.wait_until(lambda n=node: admin.health(n.layout.unixsocket, PASSWORD, 1.0).ok, timeout=10)
        yield nodes
    finally:
        for node in nodes:
            node.process.kill()
            node.process.wait()


@pytest.fixture
def tls_nodes(tmp_path: Path, ca_and_key: tuple[UnitCa, str]) -> Iterator[list[Node]]:
    """Four redis-servers in cluster mode with a TLS bus and no plain port, not met yet."""
    with running_nodes(tmp_path, *ca_and_key, [LISTENING] * 4) as nodes:
        yield nodes


def ca_path(nodes: list[Node]) -> str:
    return str(next((nodes[0].layout.conf.parent / "tls").glob("ca-*.pem")))


def test_the_cluster_steps_form_grow_and_move_keys_over_tls(tls_nodes: list[Node]) -> None:
    import redis
    from redis.cluster import ClusterNode, RedisCluster

    ca = ca_path(tls_nodes)
    endpoints = {f"redis/{number}": node.endpoint for number, node in enumerate(tls_nodes)}
    first_three = {unit: endpoints[unit] for unit in ("redis/0", "redis/1", "redis/2")}
    connections = RedisConnections(PASSWORD, ca_file=ca, connect_timeout=2.0, command_timeout=10.0)
    with ClusterExecutor(connections, MigrateAuth("default", PASSWORD)) as cluster:
        topology = cluster.form(plan_formation(list(first_three), 0), first_three)
        assert sorted(node.port for node in topology.nodes) == sorted(e.port for e in first_three.values())
        client = RedisCluster(
            startup_nodes=[ClusterNode(e.host, e.port) for e in first_three.values()],
            password=PASSWORD, ssl=True, ssl_ca_certs=ca, ssl_cert_reqs="required", decode_responses=True,
        )  # fmt: skip
        for number in range(300):
            client.set(f"key:{number}", number)
        # The new node is met over TLS and the rebalance MIGRATEs keys to it over TLS.
        cluster.add_node(endpoints["redis/0"], endpoints["redis/3"])
        moves = cluster.rebalance(endpoints["redis/0"])
        assert moves
        cluster.wait_settled(endpoints["redis/0"])
    newcomer = redis.Redis("127.0.0.1", endpoints["redis/3"].port, password=PASSWORD, ssl=True, ssl_ca_certs=ca)
    assert newcomer.dbsize() > 0
    client = RedisCluster(
        startup_nodes=[ClusterNode(e.host, e.port) for e in endpoints.values()],
        password=PASSWORD, ssl=True, ssl_ca_certs=ca, ssl_cert_reqs="required", decode_responses=True,
    )  # fmt: skip
    assert [client.get(f"key:{number}") for number in range(300)] == [str(number) for number in range(300)]
    assert {node.port for node in client.get_nodes()} == {e.port for e in endpoints.values()}


def test_the_cluster_steps_refuse_a_node_the_ca_did_not_sign(tls_nodes: list[Node]) -> None:
    other = Path(ca_path(tls_nodes)).with_name("other-ca.pem")
    other.write_text(UnitCa("another CA").pem + "\n")
    own = tls_nodes[0].endpoint
    with pytest.raises(Unreachable):
        clustering.node_id(own, PASSWORD, ca_file=str(other))
    assert len(clustering.node_id(own, PASSWORD, ca_file=ca_path(tls_nodes))) == 40


def test_the_cluster_steps_refuse_a_node_whose_certificate_names_another_address(
    tmp_path: Path, ca_and_key: tuple[UnitCa, str]
) -> None:
    import redis

    with running_nodes(tmp_path, *ca_and_key, [tls.Identity("127.0.0.9", "elsewhere")]) as nodes:
        with pytest.raises(Unreachable):
            clustering.node_id(nodes[0].endpoint, PASSWORD, ca_file=ca_path(nodes))
        # The CA signed it: only the name is wrong.
        unchecked = redis.Redis("127.0.0.1", nodes[0].endpoint.port, password=PASSWORD, ssl=True,
                                ssl_ca_certs=ca_path(nodes), ssl_check_hostname=False)  # fmt: skip
        assert unchecked.ping()


def facts(files: tls.Files | None, cluster_port: int, **options: object) -> workload.Facts:
    config = {**config_defaults(), "password": PASSWORD, "cluster-enabled": True, **options}
    return workload.Facts(config, None, "127.0.0.1", True, "apt", None, cluster_port, files)


def test_a_tls_cluster_node_keeps_its_tls_port_and_may_change_its_closed_plain_port() -> None:
    moved = workload.resolve(facts(BUS_FILES, 6380, **{"tls-port": 6390}))
    assert isinstance(moved, workload.Outcome) and moved.status == "blocked"
    assert moved.message.startswith("invalid tls-port:") and "is fixed at 6380" in moved.message
    assert isinstance(workload.resolve(facts(BUS_FILES, 6380, port=6400)), workload.Desired)
    # A node of a plain cluster keeps its plain port, and may move its tls-port.
    plain = workload.resolve(facts(PLAIN_FILES, 6379, port=6400))
    assert isinstance(plain, workload.Outcome) and plain.message.startswith("invalid port:")
    assert isinstance(workload.resolve(facts(PLAIN_FILES, 6379, **{"tls-port": 6390})), workload.Desired)


def test_a_replica_syncs_from_its_master_over_tls(tls_nodes: list[Node]) -> None:
    import redis

    ca = ca_path(tls_nodes)
    endpoints = {f"redis/{number}": node.endpoint for number, node in enumerate(tls_nodes)}
    masters = {unit: endpoints[unit] for unit in ("redis/0", "redis/1", "redis/2")}
    connections = RedisConnections(PASSWORD, ca_file=ca, connect_timeout=2.0, command_timeout=10.0)
    with ClusterExecutor(connections, MigrateAuth("default", PASSWORD)) as cluster:
        topology = cluster.form(plan_formation(list(masters), 0), masters)
        cluster.add_node(endpoints["redis/0"], endpoints["redis/3"])
        master = topology.by_unit["redis/0"]
        # Returns once the replica's link to its master is up (tls-replication: the only way in).
        cluster.replicate(endpoints["redis/3"], master.node_id)
    replica = redis.Redis("127.0.0.1", endpoints["redis/3"].port, password=PASSWORD, ssl=True, ssl_ca_certs=ca)
    assert replica.info("replication")["master_port"] == master.port
    assert replica.config_get("port")["port"] == "0"
