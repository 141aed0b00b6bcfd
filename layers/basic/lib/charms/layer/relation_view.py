"""Answer a hook's relation-ids and relation-list from the previous hook when Juju's goal state has not moved.

charms.reactive's Endpoint startup asks `relation-ids` for every endpoint and
`relation-list` for every relation, in every hook: four hook-tool calls for this
charm even when nothing about its relations changed. `goal-state` is one call
that lists, per endpoint, the related applications and units Juju is heading
for. This module keeps what the previous hook was told (its relation ids and
members, and the goal state it saw) in the unit's kv store, and answers from it
only when all of these hold:

- the hook is not a relation hook, nor install or upgrade-charm (those are the
  hooks in which the unit's view of its relations changes);
- the recorded view had converged: per recorded endpoint, one relation per
  related application and exactly the units goal-state lists as members (for
  a peer endpoint, which goal-state's `relations` leaves out, one relation and
  the application's other units from goal-state's `units`);
- goal-state now reports exactly what it reported then (statuses and times
  included).

A unit's view of its relations changes only through relation hooks, and any
change Juju is about to make shows in goal-state first, so under these
conditions Juju would give the same answers. In every other case the real hook
tools are asked, and what they say is recorded for the next hook.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

KV_KEY = "layer.basic.relation-view"
REFRESHING_HOOKS = ("install", "upgrade-charm")


@dataclass
class RelationView:
    """What one hook learnt about its relations, and the goal state it saw."""

    goal: dict[str, Any]
    ids: dict[str, list[str]] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)

    def converged(self, peers: Collection[str], unit: str) -> bool:
        """True when every recorded endpoint matches goal-state: its applications and its member units."""
        for endpoint, relation_ids in self.ids.items():
            applications, units = self.expected(endpoint, peers, unit)
            if len(relation_ids) != applications or any(rid not in self.members for rid in relation_ids):
                return False
            if {member for rid in relation_ids for member in self.members[rid]} != units:
                return False
        return True

    def expected(self, endpoint: str, peers: Collection[str], unit: str) -> tuple[int, set[str]]:
        """How many relations goal-state says `endpoint` has, and the remote units they hold."""
        if endpoint in peers:
            return 1, set(self.goal.get("units") or []) - {unit}
        wanted = (self.goal.get("relations") or {}).get(endpoint) or {}
        return len([name for name in wanted if "/" not in name]), {name for name in wanted if "/" in name}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RelationView:
        return cls(dict(data.get("goal") or {}), dict(data.get("ids") or {}), dict(data.get("members") or {}))

    def as_dict(self) -> dict[str, Any]:
        return {"goal": self.goal, "ids": self.ids, "members": self.members}


def read_goal_state(run: Callable[[list[str]], str] | None = None) -> dict[str, Any] | None:
    """What of `goal-state` can change this unit's relations, or None when the tool is missing or fails.

    The application's units and each endpoint's remote units by name only (a
    unit enters or leaves this unit's view only in a relation hook, so its
    workload status and the time it changed do not matter), and each related
    application with its relation's status and since when (a relation removed
    and made again with the same application differs there).
    """
    run = run or _tool_output
    try:
        answer = json.loads(run(["goal-state", "--format=json"]))
        relations = {
            endpoint: {name: None if "/" in name else state for name, state in (entries or {}).items()}
            for endpoint, entries in (answer.get("relations") or {}).items()
        }
        return {"units": sorted(answer.get("units") or {}), "relations": relations}
    except (OSError, ValueError, AttributeError, subprocess.CalledProcessError):
        return None


def _tool_output(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def reusable(
    recorded: Mapping[str, Any] | None,
    goal: Mapping[str, Any] | None,
    environ: Mapping[str, str],
    peers: Collection[str] = (),
) -> bool:
    """Whether the recorded view answers this hook's questions as Juju would."""
    if recorded is None or goal is None:
        return False
    if environ.get("JUJU_RELATION_ID") or environ.get("JUJU_HOOK_NAME") in REFRESHING_HOOKS:
        return False
    view = RelationView.from_dict(recorded)
    return view.goal == goal and view.converged(peers, environ.get("JUJU_UNIT_NAME", ""))


class RecordingTools:
    """relation_ids and related_units that answer from a recorded view or from Juju, and record what they say."""

    def __init__(
        self,
        real_ids: Callable[..., Any],
        real_members: Callable[..., Any],
        goal: dict[str, Any],
        reused: Mapping[str, Any] | None,
    ) -> None:
        """`reused` is the recorded view to answer from, or None to ask Juju every question."""
        self.real_ids = real_ids
        self.real_members = real_members
        self.known = RelationView.from_dict(reused or {})
        self.reuse = reused is not None
        self.seen = RelationView(goal)

    def relation_ids(self, reltype: str | None = None) -> list[str]:
        return self._answer(self.known.ids, self.seen.ids, self.real_ids, reltype)

    def related_units(self, relid: str | None = None) -> list[str]:
        return self._answer(self.known.members, self.seen.members, self.real_members, relid)

    def _answer(
        self, known: dict[str, list[str]], seen: dict[str, list[str]], real: Callable[..., Any], key: str | None
    ) -> list[str]:
        """The recorded answer for `key` when reusing, else Juju's; either way remembered for the next hook.

        Without a key the tools answer for the hook's own relation, which is not recorded.
        """
        if key is None:
            return real(key)
        answer = list(known[key]) if self.reuse and key in known else list(real(key) or [])
        seen[key] = answer
        return list(answer)


def install(environ: Mapping[str, str] | None = None) -> RecordingTools | None:
    """Put the recording relation tools in charmhelpers' hookenv for this hook; save the view at hook end.

    Without goal-state (an older Juju, or a tool that fails) nothing changes:
    every question goes to relation-ids and relation-list as before.
    """
    from charmhelpers.core import hookenv, unitdata

    goal = read_goal_state()
    if goal is None:
        return None
    recorded = unitdata.kv().get(KV_KEY)
    peers = list((hookenv.metadata() or {}).get("peers") or {})
    environ = environ if environ is not None else os.environ
    tools = RecordingTools(
        hookenv.relation_ids,
        hookenv.related_units,
        goal,
        recorded if reusable(recorded, goal, environ, peers) else None,
    )
    hookenv.relation_ids = tools.relation_ids
    hookenv.related_units = tools.related_units
    hookenv.atexit(lambda: unitdata.kv().set(KV_KEY, tools.seen.as_dict()))
    return tools
