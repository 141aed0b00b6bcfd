"""Requirer side of the `tls-certificates` interface, as certificate providers speak it (v3 and v4).

Each unit publishes its certificate signing request in its own unit data; the
provider's leader answers in the provider's application data. charms.reactive's
Endpoint watches unit data only, so this class also sets
`endpoint.<name>.changed.certificates` when the provider's application data
changes (only in this relation's hooks: other hooks ask Juju nothing more).
"""

from __future__ import annotations

from charms.layer.redis import tls
from charms.reactive import Endpoint, set_flag
from charms.reactive.helpers import data_changed


class TlsCertificatesRequires(Endpoint):
    """The `certificates` endpoint of the Redis charm."""

    def manage_flags(self) -> None:
        for relation in self.relations:
            if not relation.units:
                # Created, nobody joined yet: the provider's name is not known, and reading the
                # data of "no application" would read this application's own (leader only).
                continue
            published = relation.received_app_raw.get(tls.CERTIFICATES_FIELD, "")
            if data_changed(f"endpoint.{self.endpoint_name}.{relation.relation_id}.app.certificates", published):
                set_flag(self.expand_name("changed.certificates"))

    def request(self, request: str) -> None:
        """Ask every related provider to sign `request` (a PEM certificate signing request)."""
        for relation in self.relations:
            relation.to_publish_raw.update(tls.request_data(request))

    def issued(self, request: str) -> tls.Issued | None:
        """The certificate a provider issued for `request`, if any has."""
        for relation in self.relations:
            if not relation.units:
                continue
            found = tls.find_issued(relation.received_app_raw, request)
            if found is not None:
                return found
        return None
