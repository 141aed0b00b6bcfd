"""The charm's Redis Cluster growing 3 → 6 and shrinking 6 → 3 units, beside redis-cli on a plain cluster.

Charm: a local model with `cluster-enabled=true`, 3 units, 100,000 keys of 100
bytes written through RedisCluster, then a client writing and reading
throughout; timed from `juju add-unit -n 3` (and from `juju remove-unit` of
three units, the leader among them) until every unit is idle and reports a
healthy cluster. Keys moved: what the new units hold after growing, what the
removed units held before shrinking.

redis-cli: three redis-server processes on 127.0.0.1 in cluster mode with the
same data; three empty nodes met (the library's add-node, which waits until
every node agrees), then timed `--cluster rebalance --cluster-use-empty-masters`,
then `--cluster reshard` of each added node's slots onto one of the first three
(rebalance with several nodes weighted 0 fails half-way, redis/redis #11104),
all with redis-cli's defaults,
authenticated through REDISCLI_AUTH (never -a).

Each line: seconds, keys moved, keys moved per second, client errors, keys lost.

    .venv/bin/python bench/cluster.py [--keys 100000]   (as root, after `make build`)
"""

from __future__ import annotations

import argparse
import importlib
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import jubilant

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "unit"), str(ROOT / "tests" / "integration")]
importlib.import_module("conftest")  # the project's import paths, as for the tests
from cluster_client import Traffic, cluster_settled, missing_keys, write_keys  # noqa: E402
from cluster_helpers import LocalCluster, local_cluster  # noqa: E402
from redis.cluster import ClusterNode, RedisCluster  # noqa: E402

from charms.layer.redis.cluster.plan import plan_formation  # noqa: E402

CHARM = ROOT / "build" / "redis"
LOCALJUJU = ROOT / "tests" / "localjuju" / "juju"
APP = "redis"
SIZE = 100


def line(who: str, what: str, seconds: float, moved: int, errors: int, lost: int) -> str:
    rate = moved / seconds if seconds else 0.0
    return (
        f"{who:<9} {what:<8} {seconds:8.1f} s  {moved:7d} keys moved  {rate:8.0f} keys/s"
        f"  {errors} client errors  {lost} keys lost"
    )


def cluster_client(juju: jubilant.Juju, password: str) -> RedisCluster:
    starts = [ClusterNode(unit.public_address, 6379) for unit in juju.status().apps[APP].units.values()]
    return RedisCluster(startup_nodes=starts, password=password, decode_responses=True, socket_timeout=30)


def dbsize_of(juju: jubilant.Juju, password: str, unit_names: list[str]) -> int:
    import redis

    units = juju.status().apps[APP].units
    return sum(
        int(redis.Redis(host=units[name].public_address, port=6379, password=password).dbsize()) for name in unit_names
    )


def lost_keys(client: RedisCluster, data: list[str], written: list[str]) -> int:
    """The bulk keys (padded values) and the writer's keys (unpadded) not readable as written."""
    return len(missing_keys(client, data, SIZE)) + len(missing_keys(client, written))


def settle(juju: jubilant.Juju, count: int) -> None:
    juju.wait(lambda status: len(status.apps[APP].units) == count and cluster_settled(status), delay=0.5)


def with_charm(keys: int) -> None:
    juju = jubilant.Juju(cli_binary=LOCALJUJU, wait_timeout=1800)
    name = f"bench-cluster-{secrets.token_hex(4)}"
    juju.add_model(name)
    try:
        juju.deploy(CHARM, APP, num_units=3, config={"cluster-enabled": True})
        settle(juju, 3)
        leader = next(unit for unit, status in juju.status().apps[APP].units.items() if status.leader)
        password = juju.exec("secret-get $(leader-get password-secret) password", unit=leader).stdout.strip()
        data = write_keys(cluster_client(juju, password), "bench", keys, SIZE)
        with Traffic(cluster_client(juju, password), "grow") as traffic:
            before = set(juju.status().apps[APP].units)
            start = time.monotonic()
            juju.add_unit(APP, num_units=3)
            settle(juju, 6)
            seconds = time.monotonic() - start
        added = sorted(set(juju.status().apps[APP].units) - before)
        moved = dbsize_of(juju, password, added)
        written = list(traffic.written)  # the writer stores each key under its own name, unpadded
        lost = lost_keys(cluster_client(juju, password), data, written)
        print(line("charm", "3 -> 6", seconds, moved, len(traffic.errors), lost), flush=True)
        print(f"  ASKs redis-py failed to follow, retried: {traffic.unfollowed_asks}; writes: {len(traffic.written)}")
        leaving = [leader, *[unit for unit in sorted(juju.status().apps[APP].units) if unit != leader][:2]]
        moved = dbsize_of(juju, password, leaving)
        with Traffic(cluster_client(juju, password), "shrink") as traffic:
            start = time.monotonic()
            juju.remove_unit(*leaving)
            settle(juju, 3)
            seconds = time.monotonic() - start
        lost = lost_keys(cluster_client(juju, password), data, written + traffic.written)
        print(line("charm", "6 -> 3", seconds, moved, len(traffic.errors), lost), flush=True)
        print(f"  ASKs redis-py failed to follow, retried: {traffic.unfollowed_asks}; writes: {len(traffic.written)}")
        for error in traffic.errors[:5]:
            print(f"  client error: {error}")
    finally:
        juju.destroy_model(name, destroy_storage=True, force=True)


def timed(run: Callable[[], None]) -> float:
    start = time.monotonic()
    run()
    return time.monotonic() - start


def with_redis_cli(base: Path, keys: int) -> None:
    with local_cluster(base) as cluster, cluster.executor() as executor:
        cluster.start(3)
        executor.form(plan_formation(list(cluster.endpoints), 0), cluster.endpoints)
        seed = cluster.nodes[0].endpoint
        client = cluster.client(decode_responses=True)
        data = write_keys(client, "bench", keys, SIZE)
        added = [node.endpoint for node in cluster.start(3)]
        for endpoint in added:
            executor.add_node(seed, endpoint)  # redis-cli add-node refuses while the last one is agreed on
        executor.wait_settled(seed)
        ids = [executor.node_id(endpoint) for endpoint in added]

        def held() -> int:
            return sum(int(cluster.connections.connect(endpoint).command("DBSIZE")) for endpoint in added)

        seconds = timed(lambda: cluster.redis_cli("rebalance", str(seed), "--cluster-use-empty-masters"))
        moved = held()
        print(line("redis-cli", "3 -> 6", seconds, moved, 0, len(missing_keys(client, data, SIZE))), flush=True)
        executor.wait_settled(seed)
        # Not `rebalance --cluster-weight <id>=0` for the three: with several weight-0 nodes it fails
        # half-way (an emptied master turns replica, redis/redis #11104); reshard is the tool for this.
        before = held()
        seconds = timed(lambda: reshard_away(cluster, executor, seed, ids))
        moved = before  # all of it: emptied nodes turn replicas here, so their DBSIZE says nothing now
        print(line("redis-cli", "6 -> 3", seconds, moved, 0, len(missing_keys(client, data, SIZE))), flush=True)


def reshard_away(cluster: LocalCluster, executor, seed, ids: list[str]) -> None:
    """`--cluster reshard` each added node's slots onto one of the first three, in turn."""
    originals = [executor.node_id(node.endpoint) for node in cluster.nodes[:3]]
    for node_id, target in zip(ids, originals, strict=True):
        count = len(executor.ownership(seed).get(node_id, ()))  # an emptied master may have turned replica
        if count:
            cluster.redis_cli(
                "reshard", str(seed), "--cluster-from", node_id, "--cluster-to", target, "--cluster-slots", str(count)
            )
        executor.wait_settled(seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--skip-charm", action="store_true", help="only the redis-cli figures")
    options = parser.parse_args()
    if not (CHARM / "metadata.yaml").exists():
        subprocess.run(["make", "build"], cwd=ROOT, check=True)
    print(f"{options.keys} keys of {SIZE} bytes; charm on the local model, redis-cli on 127.0.0.1")
    if not options.skip_charm:
        with_charm(options.keys)
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as base:
        with_redis_cli(Path(base), options.keys)


if __name__ == "__main__":
    main()
