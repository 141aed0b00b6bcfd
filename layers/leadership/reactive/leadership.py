"""Registers the leadership layer's start-of-hook step with charmhelpers."""

from charmhelpers.core import hookenv

from charms.leadership import initialize_leadership_state

hookenv.atstart(initialize_leadership_state)
