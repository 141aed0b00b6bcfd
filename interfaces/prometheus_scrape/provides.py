"""Provides side of `prometheus_scrape`: tell COS's Prometheus where to scrape this application.

The leader writes `scrape_jobs` and `scrape_metadata` (JSON) in the application
data bag; every unit writes `prometheus_scrape_unit_address` and
`prometheus_scrape_unit_name` in its own, and Prometheus puts each unit's
address in place of the `*` of a job's targets.

Not a charms.reactive Endpoint: those ask Juju for their relations in every
hook; this side needs them only when it publishes, which the charm does only
when something changed, so a hook where nothing changed costs no hook-tool call.
"""

from __future__ import annotations

from collections.abc import Mapping

from charmhelpers.core import hookenv

from charms.reactive.relations import RelationFactory


class PrometheusScrapeProvides(RelationFactory):
    """The charm's `prometheus_scrape` endpoint."""

    def __init__(self, endpoint_name: str) -> None:
        self.endpoint_name = endpoint_name

    @classmethod
    def from_name(cls, relation_name: str) -> PrometheusScrapeProvides:
        return cls(relation_name)

    @classmethod
    def from_flag(cls, flag: str) -> None:
        return None  # it sets no flags

    def publish(self, app_data: Mapping[str, str], unit_data: Mapping[str, str]) -> None:
        """Write the unit's data on every relation, and the application's when this unit leads."""
        relations = hookenv.relation_ids(self.endpoint_name)
        if relations and hookenv.is_leader():
            for relation in relations:
                hookenv.relation_set(relation, dict(app_data), app=True)
        for relation in relations:
            hookenv.relation_set(relation, dict(unit_data))
