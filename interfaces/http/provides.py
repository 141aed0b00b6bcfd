"""Provides side of `http`: a unit's `hostname` and `port`, as reactive Prometheus charms read targets.

Not a charms.reactive Endpoint, for the same reason as the charm's
prometheus_scrape side: relations are looked up only when publishing.
"""

from __future__ import annotations

from charmhelpers.core import hookenv

from charms.reactive.relations import RelationFactory


class HttpProvides(RelationFactory):
    """The charm's `http` endpoint."""

    def __init__(self, endpoint_name: str) -> None:
        self.endpoint_name = endpoint_name

    @classmethod
    def from_name(cls, relation_name: str) -> HttpProvides:
        return cls(relation_name)

    @classmethod
    def from_flag(cls, flag: str) -> None:
        return None  # it sets no flags

    def publish(self, hostname: str, port: int) -> None:
        for relation in hookenv.relation_ids(self.endpoint_name):
            hookenv.relation_set(relation, {"hostname": hostname, "port": str(port)})
