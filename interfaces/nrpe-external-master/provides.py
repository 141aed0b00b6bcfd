"""Provides side of `nrpe-external-master`: offer Nagios checks to a subordinate nrpe charm.

The principal writes each check as an NRPE command under /etc/nagios/nrpe.d
(and an export file for the nagios charm); the nrpe charm learns which checks
exist from the `monitors` key on the relation, a YAML document of the form
`{monitors: {remote: {nrpe: {<shortname>: <nrpe command name>}}}}`.
`endpoint.<name>.available` is set while the subordinate is related.
"""

from __future__ import annotations

from collections.abc import Mapping

import yaml

from charms.reactive import Endpoint, clear_flag, set_flag, when, when_not


def monitors_document(checks: Mapping[str, str]) -> str:
    """The `monitors` value for checks given as {shortname: nrpe command name}."""
    return yaml.safe_dump({"monitors": {"remote": {"nrpe": dict(sorted(checks.items()))}}}, default_flow_style=False)


class NrpeExternalMasterProvides(Endpoint):
    """The `nrpe-external-master` endpoint of the Redis charm."""

    @when("endpoint.{endpoint_name}.joined")
    def _available(self) -> None:
        set_flag(self.expand_name("endpoint.{endpoint_name}.available"))

    @when_not("endpoint.{endpoint_name}.joined")
    @when("endpoint.{endpoint_name}.available")
    def _unavailable(self) -> None:
        clear_flag(self.expand_name("endpoint.{endpoint_name}.available"))

    def publish_checks(self, checks: Mapping[str, str]) -> None:
        """Tell the nrpe charm which checks this unit registered."""
        document = monitors_document(checks)
        for relation in self.relations:
            relation.to_publish_raw["monitors"] = document
