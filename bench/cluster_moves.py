"""Slot moves of the cluster library's executor beside redis-cli's, on the same data.

Each side gets its own four redis-server processes on 127.0.0.1 (cluster mode,
requirepass and masterauth), three formed into a cluster by the library, then
100,000 keys of 100 bytes. Then, timed: 3 → 4 masters (rebalance onto the empty
fourth) and draining the fourth back to 3. The library runs its executor;
redis-cli runs `--cluster rebalance --cluster-use-empty-masters` and
`--cluster rebalance --cluster-weight <id>=0` with its default pipeline (10),
authenticated through REDISCLI_AUTH, never -a. Keys moved are counted on the
fourth node (DBSIZE), keys lost by reading every key back.

    .venv/bin/python bench/cluster_moves.py [--keys 100000] [--keys-per-migrate 1000] [--slots-per-round 64]
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "unit")]
# The project's import paths (lib/, the layers' lib/), set up as for the tests.
importlib.import_module("conftest")
from cluster_helpers import LocalCluster, local_cluster, missing_or_wrong, sample_data, write_all  # noqa: E402

from charms.layer.redis.cluster.executor import ClusterExecutor, Endpoint, Limits  # noqa: E402
from charms.layer.redis.cluster.plan import plan_formation  # noqa: E402


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float
    keys_moved: int
    keys_lost: int

    def line(self, tool: str) -> str:
        rate = self.keys_moved / self.seconds if self.seconds else 0.0
        return (
            f"{tool:<9} {self.name:<16} {self.seconds:7.2f} s  {self.keys_moved:7d} keys moved"
            f"  {rate:9.0f} keys/s  {self.keys_lost} keys lost"
        )


def dbsize(cluster: LocalCluster, endpoint: Endpoint) -> int:
    return int(cluster.connections.connect(endpoint).command("DBSIZE"))


def prepared(cluster: LocalCluster, executor: ClusterExecutor, keys: int) -> tuple[dict[str, bytes], Endpoint]:
    """Three masters formed and filled, a fourth empty node met; returns the data and the fourth's endpoint."""
    cluster.start(3)
    executor.form(plan_formation(list(cluster.endpoints), 0), cluster.endpoints)
    data = sample_data(keys)
    write_all(cluster.client(), data)
    fourth = cluster.start(1)[0].endpoint
    executor.add_node(cluster.nodes[0].endpoint, fourth)
    return data, fourth


def timed(
    name: str, cluster: LocalCluster, data: dict[str, bytes], run: Callable[[], None], count: Callable[[], int]
) -> Phase:
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    return Phase(name, seconds, count(), len(missing_or_wrong(cluster.client(), data)))


def with_library(base: Path, keys: int, limits: Limits) -> list[Phase]:
    with local_cluster(base) as cluster, cluster.executor(limits) as executor:
        data, fourth = prepared(cluster, executor, keys)
        seed = cluster.nodes[0].endpoint
        fourth_id = executor.node_id(fourth)
        grow = timed("3 -> 4 masters", cluster, data, lambda: executor.rebalance(seed), lambda: dbsize(cluster, fourth))
        on_fourth = dbsize(cluster, fourth)
        shrink = timed("drain 4 -> 3", cluster, data, lambda: executor.drain(seed, fourth_id), lambda: on_fourth)
        return [grow, shrink]


def with_redis_cli(base: Path, keys: int) -> list[Phase]:
    with local_cluster(base) as cluster, cluster.executor() as executor:
        data, fourth = prepared(cluster, executor, keys)
        seed = cluster.nodes[0].endpoint
        fourth_id = executor.node_id(fourth)
        grow = timed(
            "3 -> 4 masters",
            cluster,
            data,
            lambda: cluster.redis_cli("rebalance", str(seed), "--cluster-use-empty-masters", timeout=600),
            lambda: dbsize(cluster, fourth),
        )
        executor.wait_settled(seed)
        on_fourth = dbsize(cluster, fourth)
        shrink = timed(
            "drain 4 -> 3",
            cluster,
            data,
            lambda: cluster.redis_cli("rebalance", str(seed), "--cluster-weight", f"{fourth_id}=0", timeout=600),
            lambda: on_fourth,
        )
        return [grow, shrink]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--keys-per-migrate", type=int, default=Limits.keys_per_migrate)
    parser.add_argument("--slots-per-round", type=int, default=Limits.slots_per_round)
    options = parser.parse_args()
    limits = Limits(keys_per_migrate=options.keys_per_migrate, slots_per_round=options.slots_per_round)
    print(f"{options.keys} keys of 100 bytes, Redis on 127.0.0.1")
    print(f"library: {limits.keys_per_migrate} keys per MIGRATE, {limits.slots_per_round} slots per pipelined round")
    print("redis-cli: defaults (--cluster-pipeline 10, one slot at a time)")
    with tempfile.TemporaryDirectory(prefix="cluster-moves-") as base:
        for phase in with_library(Path(base, "library"), options.keys, limits):
            print(phase.line("library"), flush=True)
        for phase in with_redis_cli(Path(base, "redis-cli"), options.keys):
            print(phase.line("redis-cli"), flush=True)


if __name__ == "__main__":
    main()
