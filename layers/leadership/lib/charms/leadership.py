"""Leader settings for reactive charms: `leader_set`, `leader_get` and the leadership.* flags.

Juju gives each application one bucket of string settings that only the leader
may write and every unit may read. This module keeps a copy of what this unit
saw at its previous hook in the unit's kv store, and from the difference sets:

- `leadership.is_leader`: this unit is the leader for this hook;
- `leadership.set.<key>`: the key has a value;
- `leadership.changed.<key>`: the key's value differs from this unit's previous
  hook (added, changed or deleted); `leadership.changed` if any key did.

On the leader, `leader_set` raises these flags at once, so handlers see the
leader's own writes in the same hook.

`leader_get` answers from the settings the hook's start step read (one
`leader-get` for all keys per hook) rather than asking Juju once per key. The
copy is made anew at the start of every hook and updated by this unit's own
`leader_set`; nothing else can change it within a hook, since Juju itself
reads the settings once per hook context and only the hook's own leader-set
changes what later leader-get calls return. Outside a hook's dispatch (an
action, a restricted hook), where the start step did not run, `leader_get`
asks Juju.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Mapping

from charmhelpers.core import hookenv, unitdata

from charms.reactive import clear_flag, get_flags, set_flag

KV_PREFIX = "leadership.settings."
# The leader settings as this hook sees them; None until the hook's start step read them.
_hook_settings: dict[str, str] | None = None


class LeaderSetError(subprocess.CalledProcessError, RuntimeError):
    """Juju refused the leader settings (e.g. leadership lapsed during the hook).

    A CalledProcessError, as upstream's leader_set raises, so callers written
    for upstream still catch it (and a RuntimeError, as this layer raised
    before); its command names the keys, never the values.
    """

    def __init__(self, message: str, keys: Iterable[str], returncode: int = 1) -> None:
        super().__init__(returncode, ["leader-set", *sorted(keys)])
        self.message = message
        self.args = (message,)  # not the constructor's arguments, whose keys may come with values

    def __str__(self) -> str:
        return self.message


class NotLeaderError(LeaderSetError):
    """leader_set was called on a unit that is not the leader (nothing was written)."""


def leader_get(attribute: str | None = None) -> dict[str, str] | str | None:
    """One leader setting, or all of them as a dict when `attribute` is None."""
    if _hook_settings is None:
        return hookenv.leader_get(attribute)
    return dict(_hook_settings) if attribute is None else _hook_settings.get(attribute)


def leader_set(settings: Mapping[str, str | None] | None = None, **kwargs: str | None) -> None:
    """Write leader settings; a value of None deletes the key.

    Values must be strings, as Juju stores them. Raises NotLeaderError on a unit
    that is not the leader, before anything is written.
    """
    changes = {**(settings or {}), **kwargs}
    for key, value in changes.items():
        if value is not None and not isinstance(value, str):
            raise TypeError(f"leader setting {key!r} must be a string or None, not {type(value).__name__}")
    if not hookenv.is_leader():
        message = f"leader_set({', '.join(sorted(changes))}) called on {hookenv.local_unit()}, which is not the leader"
        raise NotLeaderError(message, list(changes))
    try:
        hookenv.leader_set(changes)
    except subprocess.CalledProcessError as failure:
        # The error's text holds leader-set's arguments, values included: never let it reach a log.
        message = f"leader-set of {', '.join(sorted(changes))} failed on {hookenv.local_unit()}"
        raise LeaderSetError(message, list(changes), failure.returncode) from None
    previous = unitdata.kv().getrange(KV_PREFIX, strip=True)
    apply_flags(changed_flags(previous, changes), changes)
    remember(changes)
    if _hook_settings is not None:
        _hook_settings.update(changes)
        for key in [key for key, value in changes.items() if value is None]:
            del _hook_settings[key]


def changed_flags(previous: Mapping[str, str | None], current: Mapping[str, str | None]) -> set[str]:
    """The leadership.changed* flags for the keys of `current` whose value differs from `previous`."""
    flags = {f"leadership.changed.{key}" for key, value in current.items() if value != previous.get(key)}
    if flags:
        flags.add("leadership.changed")
    return flags


def apply_flags(changed: set[str], current: Mapping[str, str | None]) -> None:
    """Raise the changed flags and make leadership.set.<key> follow each key's presence."""
    for flag in sorted(changed):
        set_flag(flag)
    for key, value in current.items():
        if value is None:
            clear_flag(f"leadership.set.{key}")
        else:
            set_flag(f"leadership.set.{key}")


def settings_with_deletions(previous: Mapping[str, str | None], current: Mapping[str, str]) -> dict[str, str | None]:
    """`current`, plus None for every key that was seen before and is gone now."""
    merged: dict[str, str | None] = dict.fromkeys(previous)
    merged.update(current)
    return merged


def remember(settings: Mapping[str, str | None]) -> None:
    """Keep what this unit has seen in its kv store, for the next hook's comparison."""
    kv = unitdata.kv()
    for key, value in settings.items():
        if value is None:
            kv.unset(KV_PREFIX + key)
        else:
            kv.set(KV_PREFIX + key, value)


def initialize_leadership_state() -> None:
    """Compute this hook's leadership.* flags from leader-get (runs before any handler)."""
    global _hook_settings
    if hookenv.is_leader():
        set_flag("leadership.is_leader")
    else:
        clear_flag("leadership.is_leader")
    previous = unitdata.kv().getrange(KV_PREFIX, strip=True)
    _hook_settings = dict(hookenv.leader_get() or {})
    current = settings_with_deletions(previous, _hook_settings)
    for flag in get_flags():
        if flag == "leadership.changed" or flag.startswith("leadership.changed."):
            clear_flag(flag)
    apply_flags(changed_flags(previous, current), current)
    remember(current)
