"""The facts a hook or an action converges with, read from the unit's store and the passwords' secret."""

from __future__ import annotations

from pathlib import Path

from charms.layer.redis import tls, unit_facts


class Store(dict):
    """The unit's kv store: get and set."""

    def set(self, key: str, value: object) -> None:
        self[key] = value


def test_facts_read_the_store_under_the_keys_earlier_revisions_wrote(tmp_path: Path) -> None:
    """The keys are kept across upgrades: a renamed key would make an upgraded unit forget its cluster."""
    files = tls.Files(tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem")
    for path in (files.cert, files.key, files.ca):
        path.write_text("pem")
    written_by_an_earlier_revision = Store(
        {
            "redis.deployed-cluster-enabled": True,
            "redis.installed": "apt",
            "redis.cluster-port": 16379,
            "redis.tls-files": tls.encode_files(files),
        }
    )
    facts = unit_facts.gather({"port": 6379}, written_by_an_earlier_revision, "127.0.0.7", {}, None)
    assert facts.deployed_cluster_enabled is True
    assert facts.installed == "apt"
    assert facts.cluster_port == 16379
    assert facts.tls == files
    assert facts.ingress == "127.0.0.7" and facts.config == {"port": 6379}


def test_the_generated_password_comes_from_the_secret_and_else_from_the_legacy_leader_setting() -> None:
    secret = {"password": "from-the-secret"}
    assert unit_facts.gather({}, Store(), "127.0.0.1", secret, "legacy").leader_password == "from-the-secret"
    assert unit_facts.gather({}, Store(), "127.0.0.1", None, "legacy").leader_password == "legacy"
    assert unit_facts.gather({}, Store(), "127.0.0.1", {}, None).leader_password is None
