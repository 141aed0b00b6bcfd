"""Handlers of the Redis charm: flag logic only; the work is done in lib/charms/layer/redis."""

from charmhelpers.core import hookenv
from charms.reactive import when_not


@when_not("redis.configured")
def report_not_configured() -> None:
    hookenv.status_set("maintenance", "Redis is not managed by this charm revision yet")
