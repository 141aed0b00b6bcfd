"""A Redis Cluster client's side of the integration tests and the cluster benchmark.

A background writer and reader through RedisCluster that counts its errors,
bulk writes and reads of keys, and the status condition of a settled cluster.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import jubilant
from redis.cluster import RedisCluster
from redis.exceptions import AskError, AuthenticationError, MovedError, TryAgainError

APP = "redis"


def cluster_settled(status: jubilant.Status, app: str = APP) -> bool:
    """Every unit idle, active and reporting a healthy cluster."""
    return jubilant.all_agents_idle(status) and all(
        unit.workload_status.current == "active" and "cluster ok" in unit.workload_status.message
        for unit in status.apps[app].units.values()
    )


class Traffic:
    """A client writing and reading keys through RedisCluster in the background; counts its errors.

    Redirections are retried, as a cluster client does. redis-py (8.1) fails to
    follow an ASK to a node it has not met yet (AttributeError on the missing
    node): that is retried too, after the client reloads the slot map, and
    counted apart in `unfollowed_asks`. A refused AUTH (the password changed) is
    retried with a new client from `reconnect`, when given, and counted in
    `reconnects`. Anything else is an error.
    """

    def __init__(self, client: RedisCluster, prefix: str, reconnect: Callable[[], RedisCluster] | None = None) -> None:
        """`reconnect`: a new client with the password the charm now publishes, for when AUTH fails."""
        self.client, self.prefix, self.reconnect = client, prefix, reconnect
        self.written: list[str] = []
        self.errors: list[str] = []
        self.unfollowed_asks = 0
        self.reconnects = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        number = 0
        while not self._stop.is_set():
            key = f"{self.prefix}:{number}"
            try:
                self.client.set(key, key)
                if self.client.get(key) != key:
                    self.errors.append(f"{key} read back wrong")
                self.written.append(key)
            except (MovedError, AskError, TryAgainError):
                continue  # redirections RedisCluster retries itself; only their exhaustion reaches here
            except AuthenticationError as error:
                if self.reconnect is None:
                    self.errors.append(f"{key}: {type(error).__name__}: {error}")
                else:
                    self.reconnects += 1
                    self.client = self.reconnect()
                    continue  # the same write again, with the new password
            except AttributeError as error:
                if "redis_connection" not in str(error):
                    self.errors.append(f"{key}: {type(error).__name__}: {error}")
                else:
                    self.unfollowed_asks += 1
                    self._reload_slot_map()
                    continue
            except Exception as error:  # the writer must outlive any failure, to count it
                self.errors.append(f"{key}: {type(error).__name__}: {error}")
            number += 1
            self._stop.wait(0.01)

    def _reload_slot_map(self) -> None:
        try:
            self.client.nodes_manager.initialize()
        except Exception as error:
            self.errors.append(f"reloading the slot map: {type(error).__name__}: {error}")


def value_of(key: str, size: int) -> str:
    """The value stored under `key`: the key itself, padded to `size` characters."""
    return key.ljust(size, ".")


def write_keys(client: RedisCluster, prefix: str, count: int, size: int = 0) -> list[str]:
    keys = [f"{prefix}:{number}" for number in range(count)]
    for start in range(0, count, 500):
        client.mset_nonatomic({key: value_of(key, size) for key in keys[start : start + 500]})
    return keys


def missing_keys(client: RedisCluster, keys: list[str], size: int = 0) -> list[str]:
    """The keys not readable with the value written."""
    missing = []
    for start in range(0, len(keys), 500):
        batch = keys[start : start + 500]
        values = client.mget_nonatomic(batch)
        missing += [key for key, value in zip(batch, values, strict=True) if value != value_of(key, size)]
    return missing
