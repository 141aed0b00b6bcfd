"""The interfaces' own logic: what each side publishes and how the requires side reads it."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
import yaml
from interface_helpers import endpoint, interface

ROOT = Path(__file__).resolve().parents[2]


def relation(*units: dict[str, str], name: str = "app") -> SimpleNamespace:
    joined = [SimpleNamespace(unit_name=f"{name}/{i}", received_raw=data) for i, data in enumerate(units)]
    return SimpleNamespace(joined_units=joined, to_publish_raw={})


@pytest.fixture(scope="module")
def requires() -> ModuleType:
    return interface("redis", "requires")


@pytest.mark.parametrize(
    ("published", "read"),
    [
        (None, None),
        ("plain", "plain"),
        ('"quoted"', "quoted"),
        ("1e10", "1e10"),
        ("true", "true"),
        ("null", "null"),
        ("6379", "6379"),
        ('"6379"', "6379"),
        ('{"a": 1}', '{"a": 1}'),
    ],
)
def test_only_json_strings_are_decoded(requires: ModuleType, published: str | None, read: str | None) -> None:
    assert requires.decode(published) == read


def test_redis_instances_reads_every_remote_unit_that_published_host_and_port(requires: ModuleType) -> None:
    ready = {"host": "10.0.0.1", "port": "6379", "password": "1e10"}
    hostname_only = {"hostname": '"10.0.0.2"', "port": '"6380"'}
    no_port = {"host": "10.0.0.3"}
    bad_port = {"host": "10.0.0.4", "port": "sixty"}
    redis = endpoint(requires.RedisRequires, relation(ready, hostname_only, no_port, bad_port))
    assert redis.redis_instances() == [
        requires.RedisInstance("app/0", "10.0.0.1", 6379, "1e10"),
        requires.RedisInstance("app/1", "10.0.0.2", 6380, ""),
    ]


def test_instances_are_values(requires: ModuleType) -> None:
    assert hash(requires.RedisInstance("a/0", "h", 1, "")) == hash(requires.RedisInstance("a/0", "h", 1, ""))
    assert requires.RedisInstance("a/0", "h", 1, "") != requires.RedisInstance("a/0", "h", 2, "")


def test_redis_instances_prefers_host_over_hostname(requires: ModuleType) -> None:
    redis = endpoint(requires.RedisRequires, relation({"host": "10.0.0.1", "hostname": "10.9.9.9", "port": "1"}))
    assert redis.redis_instances()[0].host == "10.0.0.1"


def test_the_provides_side_publishes_raw_strings_on_every_relation() -> None:
    provides = interface("redis", "provides")
    first, second = relation(), relation()
    endpoint(provides.RedisProvides, first, second).publish("10.0.0.1", 6379, "true")
    expected = {"host": "10.0.0.1", "hostname": "10.0.0.1", "port": "6379", "password": "true"}
    assert first.to_publish_raw == second.to_publish_raw == expected


def test_nrpe_monitors_document_and_publishing() -> None:
    nrpe = interface("nrpe-external-master", "provides")
    document = nrpe.monitors_document({"redis": "check_redis", "a": "check_a"})
    assert yaml.safe_load(document) == {"monitors": {"remote": {"nrpe": {"a": "check_a", "redis": "check_redis"}}}}
    assert document == "monitors:\n  remote:\n    nrpe:\n      a: check_a\n      redis: check_redis\n"
    first = relation()
    endpoint(nrpe.NrpeExternalMasterProvides, first).publish_checks({"redis": "check_redis"})
    assert first.to_publish_raw == {"monitors": nrpe.monitors_document({"redis": "check_redis"})}


def test_peers_publish_and_read_addresses() -> None:
    peers = interface("redis-peers", "peers")
    mine = relation({"address": "10.0.0.2"}, {}, {"address": ""}, name="redis")
    cluster = endpoint(peers.RedisPeers, mine)
    cluster.publish_address("10.0.0.1")
    assert mine.to_publish_raw == {"address": "10.0.0.1"}
    assert cluster.peer_addresses() == {"redis/0": "10.0.0.2"}
