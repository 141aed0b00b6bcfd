"""A local stand-in for a Juju 3.6 controller that runs machine charms' real hooks.

See tests/localjuju/README.md for how it works and what differs from real Juju.
"""

JUJU_VERSION = "3.6.8"
