"""The typed shape of a local model's state document (state.json).

The state stays one JSON document that the CLI, the controller and the hook tools share, so its
parts are TypedDicts: plain dicts on disk and at run time, with every key and its type declared
here, so that code reads `unit["queue"]` against a known shape rather than a free-form dict.
"""

from __future__ import annotations

import sys
from typing import Any, Literal, TypedDict

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # Ubuntu 22.04's host Python: annotations stay strings here, so the name is all they need.
    NotRequired = Any

Life = Literal["alive", "dying"]
Bag = dict[str, str]


class Status(TypedDict):
    """A workload or agent status as `juju status` shows it."""

    current: str
    message: str
    since: str


class Event(TypedDict):
    """A hook (or task) queued on a unit."""

    hook: str
    rid: int | None
    remote: str
    remote_app: str
    departing: NotRequired[str]
    swap: NotRequired[int]
    task: NotRequired[str]
    secret_id: NotRequired[str]  # secret-* hooks: JUJU_SECRET_ID, _LABEL, _REVISION
    secret_label: NotRequired[str]
    secret_revision: NotRequired[int | None]


class EndpointRecord(TypedDict):
    """One endpoint of a charm as deploy records it."""

    interface: str
    role: str
    scope: str


class RelationEnd(TypedDict):
    """One side of a relation."""

    app: str
    endpoint: str
    interface: str
    role: str
    scope: NotRequired[str]


class Relation(TypedDict):
    """A relation, its data bags and which units are in its scope."""

    id: int
    ends: list[RelationEnd]
    units: dict[str, Bag]
    apps: dict[str, Bag]
    scope: list[str]
    life: Life
    container: bool


class Application(TypedDict):
    """A deployed application."""

    name: str
    charm_name: str
    charm_dir: str
    revision: int
    config: dict[str, Any]
    leader: str | None
    leader_settings: Bag
    status: Status | None
    next_unit: int
    version: str
    endpoints: dict[str, EndpointRecord]
    options: dict[str, dict[str, Any]]
    actions: dict[str, Any]
    subordinate: bool
    exposed: NotRequired[bool]
    life: NotRequired[Life]


class Unit(TypedDict):
    """A unit, its hook queue and what its agent reports."""

    name: str
    app: str
    principal: str | None
    charm_source: str
    machine: str
    address: str
    hostname: str
    revision: int
    queue: list[Event]
    current: Event | None
    error: Event | None
    life: Life
    installed: NotRequired[bool]  # its install hook ran: it is in its relations' scopes
    started: bool
    workload: Status
    agent: Status
    status_set: bool
    ports: list[str]
    rel: dict[str, list[str]]  # relation id -> remote units this unit has joined
    version: str
    pid: int | None
    start: str | None
    saved_workload: NotRequired[Status]
    pending_swap: NotRequired[dict[str, str]]
    placement_failed: NotRequired[str]
    removed: NotRequired[bool]
    charm_state: NotRequired[Bag]
    tasks: NotRequired[list[str]]  # ids of pending tasks, run before the next hook
    retry_at: NotRequired[float]  # when a failed hook is retried (time.time())
    retry_delay: NotRequired[float]


class ModelState(TypedDict):
    """The whole model."""

    name: str
    uuid: str
    created: str
    config: dict[str, str]
    next_machine: int
    next_relation: int
    next_task: int
    apps: dict[str, Application]
    units: dict[str, Unit]
    relations: dict[str, Relation]
    shuffle: NotRequired[str]  # LOCALJUJU_SHUFFLE of the command that created the model


class HookContext(TypedDict):
    """What a running hook has asked for and not yet committed (its context file)."""

    unit: str
    kind: str
    relation_sets: dict[str, dict[str, dict[str, str | None]]]
    ports: dict[str, list[str]]
    hook: NotRequired[str]
    action: NotRequired[dict[str, Any]]
    leader_lost: NotRequired[bool]
