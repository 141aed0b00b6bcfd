"""The requires side of the `redis` interface, dispatched by charms.reactive in a client charm."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakejuju import CHARM_DIR_NAME, ROOT, FakeJuju, Unit, attach


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Unit:
    """A client charm with a `db` endpoint of interface redis, and no handlers of its own."""
    juju = FakeJuju(config={}, unit="webapp/0")
    attach(monkeypatch, juju, tmp_path / "unused")  # the hook tools answer from juju
    charm = tmp_path / CHARM_DIR_NAME
    (charm / "reactive").mkdir(parents=True)
    (charm / "hooks" / "relations").mkdir(parents=True)
    (charm / "hooks" / "relations" / "redis").symlink_to(ROOT / "interfaces" / "redis")
    (charm / "metadata.yaml").write_text("name: webapp\nrequires:\n  db:\n    interface: redis\n")
    (charm / "config.yaml").write_text("options: {}\n")
    return Unit(juju, charm, monkeypatch)


def test_available_once_a_redis_unit_published_host_and_port(client: Unit) -> None:
    rid = client.juju.relate("db", "redis/0", {"host": "10.0.0.1"})
    client.run_hook("db-relation-joined", rid, "redis/0")
    assert "endpoint.db.joined" in client.flags() and "endpoint.db.available" not in client.flags()
    client.juju.relations[rid].units["redis/0"]["port"] = "6379"
    client.run_hook("db-relation-changed", rid, "redis/0")
    assert "endpoint.db.available" in client.flags()
    del client.juju.relations[rid].units["redis/0"]["port"]
    client.run_hook("db-relation-changed", rid, "redis/0")
    assert "endpoint.db.available" not in client.flags()


def test_no_longer_available_when_redis_leaves(client: Unit) -> None:
    rid = client.juju.relate("db", "redis/0", {"host": "10.0.0.1", "port": "6379"})
    client.run_hook("db-relation-joined", rid, "redis/0")
    assert "endpoint.db.available" in client.flags()
    del client.juju.relations[rid].units["redis/0"]
    client.run_hook("db-relation-departed", rid, "redis/0")
    assert not {"endpoint.db.joined", "endpoint.db.available"} & client.flags()
