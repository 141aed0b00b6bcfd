"""Provides side of the `redis` interface: tell related applications where Redis is.

Each unit publishes, in its own unit data bag on every relation, the raw
strings `host` and `hostname` (the address to connect to), `port` and
`password`. Raw means unquoted: ops charms read them as they are, and reactive
consumers that JSON-decode first fall back to the raw string.

In cluster mode each unit adds `cluster: "true"`, and the leader writes in the
application bag `cluster: "true"` and `nodes`, a comma-separated list of every
node's host:port, for a cluster client to start from.

Once the unit serves TLS (a certificate provider is related), it adds `tls`
("true" when `port` speaks TLS, "false" when the plain port is kept and `port`
is that one), `tls-port`, and the CA that signed the server's certificate, PEM,
under both `tls-ca` (the name data-platform clients read) and `ca`. Without
TLS these keys are removed.
"""

from __future__ import annotations

from charms.layer.redis.tls import CLIENT_KEYS, Offer
from charms.reactive import Endpoint


class RedisProvides(Endpoint):
    """The `redis` endpoint of the Redis charm."""

    def publish(self, host: str, port: int, password: str, cluster: bool = False, tls: Offer | None = None) -> None:
        """Publish the connection details on every relation of this endpoint."""
        for relation in self.relations:
            relation.to_publish_raw.update({"host": host, "hostname": host, "port": str(port), "password": password})
            if cluster:
                relation.to_publish_raw["cluster"] = "true"
            if tls is not None:
                relation.to_publish_raw.update(tls.data())
            else:
                # An empty value removes the key (relation-set): clients are no longer told about TLS.
                stale = [key for key in CLIENT_KEYS if relation.to_publish_raw.get(key)]
                relation.to_publish_raw.update(dict.fromkeys(stale, ""))

    def publish_cluster_nodes(self, nodes: list[str]) -> None:
        """The leader's part in cluster mode: every node's host:port in the application bag."""
        for relation in self.relations:
            relation.to_publish_app_raw.update({"cluster": "true", "nodes": ",".join(nodes)})
