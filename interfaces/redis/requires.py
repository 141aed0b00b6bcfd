"""Requires side of the `redis` interface: find the Redis servers of related applications.

`endpoint.<name>.available` is set while at least one remote unit has published
a host and a port; `redis_instances()` returns them all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from charms.reactive import Endpoint, clear_flag, set_flag, when, when_not


@dataclass(frozen=True)
class RedisInstance:
    """One remote Redis unit as it described itself."""

    unit: str
    host: str
    port: int
    password: str


def decode(value: str | None) -> str | None:
    """A published value: the string a JSON-quoted value holds, else the raw string.

    Only JSON strings are decoded: a raw password such as `1e5` or `true` must
    not become `100000.0` or `True`.
    """
    if value is None:
        return None
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, str) else value


class RedisRequires(Endpoint):
    """The `redis` endpoint of a Redis client."""

    @when("endpoint.{endpoint_name}.joined")
    def _update_available(self) -> None:
        flag = self.expand_name("endpoint.{endpoint_name}.available")
        if self.redis_instances():
            set_flag(flag)
        else:
            clear_flag(flag)

    @when_not("endpoint.{endpoint_name}.joined")
    @when("endpoint.{endpoint_name}.available")
    def _no_relation(self) -> None:
        clear_flag(self.expand_name("endpoint.{endpoint_name}.available"))

    def redis_instances(self) -> list[RedisInstance]:
        """Every remote unit that has published at least a host and a port."""
        instances = []
        for relation in self.relations:
            for unit in relation.joined_units:
                data = unit.received_raw
                host = decode(data.get("host") or data.get("hostname"))
                port = decode(data.get("port"))
                if host and port and port.isdigit():
                    password = decode(data.get("password")) or ""
                    instances.append(RedisInstance(unit.unit_name, host, int(port), password))
        return instances
