#!/usr/bin/env python3
"""ops-client: a Redis client charm written with ops, used to test the local model.

It reads the Redis units' `hostname`, `port` and `password` (the `redis` interface), writes
the key `ops-client:UNIT` with redis-py, reads it back and says so in its status.
"""

from __future__ import annotations

import logging

import ops
import redis

logger = logging.getLogger(__name__)


class OpsClientCharm(ops.CharmBase):
    """Checks, on every event that may change it, that Redis answers a SET and a GET."""

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        events = (
            self.on.install,
            self.on.start,
            self.on.config_changed,
            self.on.update_status,
            self.on.redis_relation_joined,
            self.on.redis_relation_changed,
            self.on.redis_relation_departed,
            self.on.redis_relation_broken,
        )
        for event in events:
            framework.observe(event, self._check)

    def _server(self, event: ops.EventBase) -> tuple[str, int, str | None] | None:
        """The first related Redis unit that published where it listens."""
        if isinstance(event, ops.RelationBrokenEvent):
            return None
        relation = self.model.get_relation("redis")
        if relation is None:
            return None
        for unit in sorted(relation.units, key=lambda u: u.name):
            data = relation.data[unit]
            if data.get("hostname") and data.get("port"):
                return data["hostname"], int(data["port"]), data.get("password") or None
        return None

    def _check(self, event: ops.EventBase) -> None:
        server = self._server(event)
        if server is None:
            self.unit.status = ops.BlockedStatus("waiting for a redis relation")
            return
        host, port, password = server
        key = f"ops-client:{self.unit.name}"
        try:
            client = redis.Redis(host=host, port=port, password=password, socket_timeout=5, decode_responses=True)
            client.set(key, self.unit.name)
            answer = client.get(key)
        except redis.RedisError as exc:
            logger.info("redis at %s:%s not ready: %s", host, port, type(exc).__name__)
            self.unit.status = ops.WaitingStatus(f"redis at {host}:{port} not ready")
            return
        if answer != self.unit.name:
            self.unit.status = ops.WaitingStatus(f"redis at {host}:{port} returned another value")
            return
        self.unit.status = ops.ActiveStatus(f"SET/GET round trip with redis at {host}:{port}")


if __name__ == "__main__":
    ops.main(OpsClientCharm)
