"""Juju secrets in the local model: storage, the changes hooks make, and the hooks they cause.

All secrets of a model live in MODEL/secrets.json (mode 0600; content never goes to state.json,
logs or process arguments). A hook's secret tools do not write it: they record operations in
the hook's context (also 0600), read the secrets as those operations would leave them, and the
operations are applied when the hook succeeds (or a `juju exec` command ends), as Juju commits
secret changes with the hook's other changes. Applying them queues the hooks Juju's secrets
watchers would run:

- secret-changed on each consumer unit tracking an older revision, when a new revision exists;
- secret-remove on the owner (the leader, for an application's secret) for each revision that
  is no longer the latest and no consumer tracks;
- secret-expired and secret-rotate on the owner when a revision's expiry or the rotation time
  is reached (queue_due, run by whatever drives the model's clock).

Each of them gets JUJU_SECRET_ID, JUJU_SECRET_LABEL and, for remove and expired,
JUJU_SECRET_REVISION (hook_env).
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import re
import secrets as random
from pathlib import Path
from typing import Any

Doc = dict[str, Any]
Op = dict[str, Any]
ID_ALPHABET = "0123456789abcdefghijklmnopqrstuv"  # Juju's secret ids are 20-character xids
KEY_RULE = re.compile(r"^([a-z](?:-?[a-z0-9]){2,})$")
ROTATE_POLICIES = {
    "never": None,
    "hourly": 3600,
    "daily": 86400,
    "weekly": 7 * 86400,
    "monthly": 30 * 86400,
    "quarterly": 91 * 86400,
    "yearly": 365 * 86400,
}
SECRET_HOOKS = ("secret-changed", "secret-rotate", "secret-expired", "secret-remove")


class SecretError(Exception):
    """A secret operation is not allowed or names no secret."""


# --- storage ---------------------------------------------------------------------------------------


def path(root: Path | str) -> Path:
    return Path(root) / "secrets.json"


def load(root: Path | str) -> Doc:
    """All secrets of the model at root (readers need no lock: writers replace the file)."""
    try:
        with open(path(root), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {"secrets": {}}


def save(root: Path | str, doc: Doc) -> None:
    """Replace the secrets file atomically, readable by root only. Callers hold the state lock."""
    target = path(root)
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    os.replace(partial, target)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def iso(moment: datetime.datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def parse_iso(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- identities ------------------------------------------------------------------------------------


def new_id() -> str:
    return "".join(random.choice(ID_ALPHABET) for _ in range(20))


def parse_uri(text: str) -> str:
    """The secret id in `secret:ID`, `secret://MODEL/ID` or a bare id."""
    ident = text.rsplit("/", 1)[-1] if text.startswith("secret://") else text.removeprefix("secret:")
    if not re.fullmatch(r"[0-9a-v]{20}", ident):
        raise SecretError(f'secret URI "{text}" not valid')
    return ident


def uri(ident: str) -> str:
    return f"secret:{ident}"


def check_content(content: dict[str, str]) -> None:
    if not content:
        raise SecretError("empty secret value not valid")
    for key in content:
        if not KEY_RULE.match(key):
            raise SecretError(f'key "{key}" not valid')


# --- applying operations ---------------------------------------------------------------------------


def apply(doc: Doc, op: Op) -> None:
    """Apply one recorded operation to a secrets document (the hook's view, or the commit)."""
    kind, ident = op["op"], op["id"]
    if kind == "add":
        doc["secrets"][ident] = {
            "owner": op["owner"],
            "label": op.get("label"),
            "description": op.get("description"),
            "rotate": None,
            "next_rotate": None,
            "created": op["at"],
            "updated": op["at"],
            "latest": 0,
            "revisions": {},
            "grants": [],
            "consumers": {},
        }
        _update(doc["secrets"][ident], op)
        return
    secret = doc["secrets"].get(ident)
    if secret is None:
        return
    if kind == "set":
        _update(secret, op)
    elif kind == "grant":
        grant = {"app": op.get("app"), "unit": op.get("unit"), "rid": op.get("rid")}
        if grant not in secret["grants"]:
            secret["grants"].append(grant)
    elif kind == "revoke":
        secret["grants"] = [g for g in secret["grants"] if not _revoked(g, op)]
    elif kind == "remove":
        _remove(doc, ident, op.get("revision"))
    elif kind == "track":
        consumer = secret["consumers"].setdefault(op["unit"], {"revision": None, "label": None})
        if op.get("revision") is not None:
            consumer["revision"] = op["revision"]
        if op.get("label") is not None:
            consumer["label"] = op["label"]


def _update(secret: Doc, op: Op) -> None:
    """A new revision when content is given; metadata (label, description, expiry, rotation)."""
    for key in ("label", "description"):
        if op.get(key) is not None:
            secret[key] = op[key]
    if op.get("content"):
        secret["latest"] += 1
        secret["revisions"][str(secret["latest"])] = {"content": op["content"], "created": op["at"], "expire": None}
        secret["updated"] = op["at"]
    if op.get("expire") is not None and secret["latest"]:
        secret["revisions"][str(secret["latest"])]["expire"] = op["expire"]
    if op.get("rotate") is not None:
        secret["rotate"] = None if op["rotate"] == "never" else op["rotate"]
        interval = ROTATE_POLICIES[op["rotate"]]
        secret["next_rotate"] = iso(parse_iso(op["at"]) + datetime.timedelta(seconds=interval)) if interval else None


def _revoked(grant: Doc, op: Op) -> bool:
    if op.get("rid") is not None and grant["rid"] != op["rid"]:
        return False
    if op.get("unit"):
        return grant["unit"] == op["unit"]
    return grant["app"] == op.get("app") or (grant["unit"] or "").rsplit("/", 1)[0] == op.get("app")


def _remove(doc: Doc, ident: str, revision: int | None) -> None:
    secret = doc["secrets"][ident]
    if revision is None:
        del doc["secrets"][ident]
        return
    secret["revisions"].pop(str(revision), None)
    if not secret["revisions"]:
        del doc["secrets"][ident]


def view(root: Path | str, ops: list[Op]) -> Doc:
    """The secrets as a running hook sees them: committed ones with its own operations applied."""
    doc = load(root)
    if ops:
        doc = copy.deepcopy(doc)
        for op in ops:
            apply(doc, op)
    return doc


# --- who may do what ------------------------------------------------------------------------------


def owns(secret: Doc, unit: str, leader: bool) -> bool:
    """Whether unit may manage secret: its own unit secret, or its application's as leader."""
    owner = secret["owner"]
    if owner["kind"] == "unit":
        return owner["name"] == unit
    return owner["kind"] == "application" and owner["name"] == unit.rsplit("/", 1)[0] and leader


def is_owner_side(secret: Doc, unit: str) -> bool:
    """Whether unit belongs to the secret's owner (any unit of an owning application)."""
    owner = secret["owner"]
    return owner["name"] == unit or (owner["kind"] == "application" and owner["name"] == unit.rsplit("/", 1)[0])


def can_read(state: dict[str, Any], secret: Doc, unit: str) -> bool:
    """Owners read their secrets; consumers need a grant to their unit or application, on a
    relation that still exists (or, for a user secret, on the model)."""
    if is_owner_side(secret, unit):
        return True
    app = unit.rsplit("/", 1)[0]
    for grant in secret["grants"]:
        if grant["unit"] not in (None, unit) or (grant["unit"] is None and grant["app"] != app):
            continue
        rel = state["relations"].get(str(grant["rid"])) if grant["rid"] is not None else None
        if grant["rid"] is None or (rel is not None and rel["life"] == "alive"):
            return True
    return False


def find(doc: Doc, unit: str, ident: str | None, label: str | None) -> tuple[str, Doc]:
    """The secret named by id, or by label (the owner's label, or this consumer's)."""
    if ident is not None:
        if ident not in doc["secrets"]:
            raise SecretError(f'secret "{ident}" not found')
        return ident, doc["secrets"][ident]
    for key, secret in doc["secrets"].items():
        own_label = secret["label"] if is_owner_side(secret, unit) else None
        if label in (own_label, (secret["consumers"].get(unit) or {}).get("label")):
            return key, secret
    raise SecretError(f'secret with label "{label}" not found')


# --- committing and the hooks it causes -----------------------------------------------------------


def commit(state: dict[str, Any], root: Path | str, ops: list[Op]) -> None:
    """Apply operations to the stored secrets (the caller holds the state lock) and queue the
    secret-changed and secret-remove hooks they cause."""
    if not ops:
        return
    doc = load(root)
    for op in ops:
        apply(doc, op)
    for ident in dict.fromkeys(op["id"] for op in ops):
        secret = doc["secrets"].get(ident)
        if secret is not None:
            _queue_changed(state, ident, secret)
            _queue_obsolete(state, ident, secret)
    save(root, doc)


def _queue_changed(state: dict[str, Any], ident: str, secret: Doc) -> None:
    for unit, consumer in secret["consumers"].items():
        behind = consumer["revision"] is not None and consumer["revision"] < secret["latest"]
        if behind and consumer.get("notified") != secret["latest"] and _alive(state, unit):
            consumer["notified"] = secret["latest"]
            _enqueue(state, unit, "secret-changed", ident, consumer["label"], None)


def _queue_obsolete(state: dict[str, Any], ident: str, secret: Doc) -> None:
    tracked = {c["revision"] for c in secret["consumers"].values()}
    owner = owner_unit(state, secret)
    for number, revision in secret["revisions"].items():
        if int(number) < secret["latest"] and int(number) not in tracked and not revision.get("obsolete"):
            revision["obsolete"] = True
            if owner:
                _enqueue(state, owner, "secret-remove", ident, secret["label"], int(number))


def owner_unit(state: dict[str, Any], secret: Doc) -> str | None:
    """The unit that gets the owner's secret hooks: the unit itself, or its application's leader."""
    owner = secret["owner"]
    if owner["kind"] == "unit":
        return owner["name"] if _alive(state, owner["name"]) else None
    if owner["kind"] == "application" and owner["name"] in state["apps"]:
        return state["apps"][owner["name"]]["leader"]
    return None


def queue_due(state: dict[str, Any], root: Path | str, moment: datetime.datetime | None = None) -> None:
    """Queue secret-rotate and secret-expired on owners whose secrets are due; the caller holds
    the state lock. The model config `secret-rotate-seconds` (local only) shortens every
    rotation interval, so that tests need not wait an hour."""
    doc = load(root)
    moment, changed = moment or now(), False
    for ident, secret in doc["secrets"].items():
        owner = owner_unit(state, secret)
        if owner is None:
            continue
        if secret["next_rotate"] and _rotation_due(state, secret) <= moment:
            _enqueue(state, owner, "secret-rotate", ident, secret["label"], None)
            interval = ROTATE_POLICIES.get(secret["rotate"] or "")
            secret["next_rotate"] = iso(moment + datetime.timedelta(seconds=interval)) if interval else None
            changed = True
        for number, revision in secret["revisions"].items():
            if revision["expire"] and not revision.get("expired") and parse_iso(revision["expire"]) <= moment:
                revision["expired"] = True
                _enqueue(state, owner, "secret-expired", ident, secret["label"], int(number))
                changed = True
    if changed:
        save(root, doc)


def _rotation_due(state: dict[str, Any], secret: Doc) -> datetime.datetime:
    """When the secret is next due to rotate: next_rotate was set from the policy's interval,
    which the model's secret-rotate-seconds replaces."""
    interval = ROTATE_POLICIES.get(secret["rotate"] or "") or 0
    since = parse_iso(secret["next_rotate"]) - datetime.timedelta(seconds=interval)
    return since + datetime.timedelta(seconds=rotate_seconds(state, secret["rotate"]) or interval)


def rotate_seconds(state: dict[str, Any], policy: str | None) -> int | None:
    override = state.get("config", {}).get("secret-rotate-seconds")
    if policy is None or ROTATE_POLICIES.get(policy) is None:
        return None
    return int(override) if override else ROTATE_POLICIES[policy]


def _alive(state: dict[str, Any], unit: str) -> bool:
    record = state["units"].get(unit)
    return record is not None and record["life"] == "alive"


def _enqueue(state: dict[str, Any], unit: str, hook: str, ident: str, label: str | None, revision: int | None) -> None:
    from . import model

    ev = model.event(hook)
    ev |= {"secret_id": uri(ident), "secret_label": label or "", "secret_revision": revision}
    model.enqueue(state, unit, ev)


def hook_env(ev: dict[str, Any]) -> dict[str, str]:
    """JUJU_SECRET_ID, JUJU_SECRET_LABEL and JUJU_SECRET_REVISION of a queued secret hook."""
    if ev["hook"] not in SECRET_HOOKS:
        return {}
    env = {"JUJU_SECRET_ID": ev["secret_id"], "JUJU_SECRET_LABEL": ev.get("secret_label") or ""}
    if ev.get("secret_revision") is not None:
        env["JUJU_SECRET_REVISION"] = str(ev["secret_revision"])
    return env
