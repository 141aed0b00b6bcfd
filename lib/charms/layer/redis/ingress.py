"""The unit's ingress address, asked of Juju only in the hooks in which it can have changed.

Every hook needs the address (the health check compares the bind directive
with it) but it changes rarely, and Juju says when: it runs config-changed
when a unit's addresses change. The address is kept in the unit's kv store
under KV_INGRESS.

When it is asked again (network-get, or the private address without it):
- in the hooks of REFRESHING_HOOKS: config-changed (addresses changed, or
  options), install, upgrade-charm, start and post-series-upgrade (the machine
  may have come back with other addresses);
- when nothing is remembered.
In every other hook the remembered address is used: until Juju runs
config-changed, it is the address Juju itself last gave.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

KV_INGRESS = "redis.ingress-address"
REFRESHING_HOOKS = ("install", "upgrade-charm", "config-changed", "start", "post-series-upgrade")


class Store(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> Any: ...


def ingress_address(hook: str, kv: Store, ask: Callable[[], str]) -> str:
    """The remembered address, or `ask()`'s answer (then remembered) in a refreshing hook or when none is."""
    remembered = kv.get(KV_INGRESS)
    if remembered and hook not in REFRESHING_HOOKS:
        return remembered
    address = ask()
    kv.set(KV_INGRESS, address)
    return address
