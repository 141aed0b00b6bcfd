"""The secret hook tools: secret-add, secret-get, secret-set, secret-grant, secret-revoke,
secret-remove, secret-ids and secret-info-get, with the flags and output of jujuc's
secret-*.go. Changes are recorded in the hook's context and committed when it succeeds (see
secrets.py); reads see the hook's own changes.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
from typing import Any

from . import secrets
from .hooktools import FORMAT, Args, Context, Hook, ToolError, emit, read_input

UPSERT_OPTIONS = {"--label", "--description", "--expire", "--rotate", "--file"}
DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|m|s|ms)")


def _ops(ctx: Context) -> list[dict[str, Any]]:
    return ctx.get("secret_ops", [])


def _record(hook: Hook, op: dict[str, Any]) -> None:
    """Add an operation to the hook's pending secret changes."""
    from .state import flock

    with flock(hook.model.root / "state.lock"):
        ctx = hook.context()
        ctx.setdefault("secret_ops", []).append(op | {"at": secrets.iso(secrets.now())})
        ctx["secret_root"] = str(hook.model.root)
        hook.save_context(ctx)


def _view(hook: Hook) -> tuple[secrets.Doc, Context, bool]:
    """The secrets as this hook sees them, its context, and whether the unit leads."""
    ctx = hook.context()
    return secrets.view(hook.model.root, _ops(ctx)), ctx, hook.is_leader(hook.state(), ctx)


def _content(args: Args, positional: list[str]) -> dict[str, str]:
    """Secret content from --file (a YAML map) and key=value, key#base64=..., key#file=PATH."""
    items: dict[str, str] = {}
    if args.get("--file"):
        import yaml

        loaded = yaml.load(read_input(args.get("--file") or ""), Loader=yaml.BaseLoader) or {}
        if not isinstance(loaded, dict):
            raise ToolError("expected YAML map of secret content", 2)
        items.update(loaded)
    for item in positional:
        key, eq, value = item.partition("=")
        if not eq:
            raise ToolError(f'expected "key=value", got "{item}"', 2)
        items[key] = value
    content = {}
    for key, value in items.items():
        name, _, encoding = key.partition("#")
        if encoding == "base64":
            try:
                value = base64.b64decode(value, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise ToolError(f'invalid base64 value for key "{name}"', 2) from None
        elif encoding == "file":
            value = read_input(value)
        content[name] = value
    try:
        if content:
            secrets.check_content(content)
    except secrets.SecretError as exc:
        raise ToolError(str(exc), 2) from None
    return content


def _expire(text: str | None) -> str | None:
    """--expire: an RFC 3339 time (the zone may be left out) or a Go duration from now."""
    if not text:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.timezone.utc)
        return secrets.iso(moment.astimezone(datetime.timezone.utc))
    except ValueError:
        pass
    parts = DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ToolError(f'expire time or duration "{text}" not valid', 2)
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    seconds = sum(float(n) * scale[u] for n, u in parts)
    if seconds <= 0:
        raise ToolError(f'negative expire duration "{text}" not valid', 2)
    return secrets.iso(secrets.now() + datetime.timedelta(seconds=seconds))


def _upsert_fields(args: Args) -> dict[str, Any]:
    rotate = args.get("--rotate")
    if rotate is not None and rotate not in secrets.ROTATE_POLICIES:
        raise ToolError(f'rotate policy "{rotate}" not valid', 2)
    return {
        "label": args.get("--label"),
        "description": args.get("--description"),
        "expire": _expire(args.get("--expire")),
        "rotate": rotate,
    }


def _secret_id(text: str) -> str:
    try:
        return secrets.parse_uri(text)
    except secrets.SecretError as exc:
        raise ToolError(str(exc), 2) from None


def secret_add(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, set(), UPSERT_OPTIONS | {"--owner"})
    owner = args.get("--owner") or "application"
    if owner not in ("application", "unit"):
        raise ToolError(f'secret owner "{owner}" not valid', 2)
    if not args.positional and not args.get("--file"):
        raise ToolError("missing secret value or filename", 2)
    content = _content(args, args.positional)
    fields = _upsert_fields(args)
    doc, _, leader = _view(hook)
    if owner == "application" and not leader:
        raise ToolError("permission denied: only the leader can add an application-owned secret")
    name = hook.unit if owner == "unit" else hook.app
    if fields["label"] and any(
        s["label"] == fields["label"] and s["owner"]["name"] == name for s in doc["secrets"].values()
    ):
        raise ToolError(f'secret with label "{fields["label"]}" already exists')
    ident = secrets.new_id()
    _record(hook, {"op": "add", "id": ident, "owner": {"kind": owner, "name": name}, "content": content, **fields})
    print(secrets.uri(ident))


def secret_get(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, {"--peek", "--refresh"}, FORMAT | {"--label"})
    ident = _secret_id(args.positional[0]) if args.positional else None
    label, key = args.get("--label"), (args.positional[1] if len(args.positional) > 1 else None)
    args.no_positionals(2)
    if ident is None and not label:
        raise ToolError("require either a secret URI or label", 2)
    if args.has("--peek") and args.has("--refresh"):
        raise ToolError("specify one of --peek or --refresh but not both", 2)
    doc, _, _ = _view(hook)
    try:
        ident, secret = secrets.find(doc, hook.unit, ident, label if ident is None else None)
    except secrets.SecretError as exc:
        raise ToolError(str(exc)) from None
    if not secrets.can_read(hook.state(), secret, hook.unit):
        raise ToolError(f'permission denied: cannot read secret "{secrets.uri(ident)}"')
    revision = _revision_to_read(hook, ident, secret, args, label)
    content = secret["revisions"][str(revision)]["content"]
    if key is None:
        emit(content, args)
        return
    name, _, encoding = key.partition("#")
    if name not in content:
        raise ToolError(f'secret key "{name}" not found')
    value = base64.b64encode(content[name].encode()).decode() if encoding == "base64" else content[name]
    emit(value, args)


def _revision_to_read(hook: Hook, ident: str, secret: secrets.Doc, args: Args, label: str | None) -> int:
    """Owners read the latest revision; a consumer reads the one it tracks (the latest the first
    time), --peek the latest once, --refresh the latest from now on."""
    if secrets.is_owner_side(secret, hook.unit):
        if label and args.positional:
            _record(hook, {"op": "set", "id": ident, "label": label})
        return secret["latest"]
    tracked = (secret["consumers"].get(hook.unit) or {}).get("revision")
    if args.has("--peek"):
        return secret["latest"]
    if tracked is None or args.has("--refresh") or (label and args.positional):
        revision = secret["latest"] if tracked is None or args.has("--refresh") else tracked
        _record(hook, {"op": "track", "id": ident, "unit": hook.unit, "revision": revision, "label": label})
        return revision
    return tracked


def _managed(hook: Hook, text: str) -> tuple[str, secrets.Doc]:
    """The secret named by text, which this unit must be allowed to manage."""
    ident = _secret_id(text)
    doc, _, leader = _view(hook)
    secret = doc["secrets"].get(ident)
    if secret is None:
        raise ToolError(f'secret "{ident}" not found')
    if not secrets.owns(secret, hook.unit, leader):
        raise ToolError(f'permission denied: unit "{hook.unit}" cannot manage secret "{secrets.uri(ident)}"')
    return ident, secret


def secret_set(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, set(), UPSERT_OPTIONS | {"--owner"})
    if not args.positional:
        raise ToolError("missing secret URI", 2)
    content = _content(args, args.positional[1:])
    fields = _upsert_fields(args)
    ident, _ = _managed(hook, args.positional[0])
    _record(hook, {"op": "set", "id": ident, "content": content or None, **fields})


def _relation(hook: Hook, args: Args) -> tuple[str, str]:
    """The relation of -r (default: the hook's) and the application on its other side."""
    state = hook.state()
    rid = hook.relation_id(state, args.get("-r", "--relation"))
    rel = state["relations"][rid]
    others = [e["app"] for e in rel["ends"] if e["app"] != hook.app]
    return rid, others[0] if others else hook.app


def secret_grant(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, set(), {"-r", "--relation", "--unit"})
    if not args.positional:
        raise ToolError("missing secret URI", 2)
    args.no_positionals(1)
    rid, app = _relation(hook, args)
    unit = args.get("--unit")
    if unit and unit.rsplit("/", 1)[0] != app:
        raise ToolError(f'cannot specify unit "{unit}" in relation to application "{app}"', 2)
    ident, _ = _managed(hook, args.positional[0])
    _record(hook, {"op": "grant", "id": ident, "rid": rid, "app": None if unit else app, "unit": unit})


def secret_revoke(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, set(), {"-r", "--relation", "--unit", "--app", "--application"})
    if not args.positional:
        raise ToolError("missing secret URI", 2)
    args.no_positionals(1)
    rid, app = _relation(hook, args) if args.get("-r", "--relation") else (None, args.get("--app", "--application"))
    ident, _ = _managed(hook, args.positional[0])
    _record(hook, {"op": "revoke", "id": ident, "rid": rid, "app": app, "unit": args.get("--unit")})


def secret_remove(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, set(), {"--revision"})
    if not args.positional:
        raise ToolError("missing secret URI", 2)
    args.no_positionals(1)
    revision = args.get("--revision")
    if revision is not None and not revision.isdigit():
        raise ToolError(f'invalid value "{revision}" for flag --revision', 2)
    ident, secret = _managed(hook, args.positional[0])
    if revision is not None and revision not in secret["revisions"]:
        raise ToolError(f'secret revision {revision} of "{secrets.uri(ident)}" not found')
    _record(hook, {"op": "remove", "id": ident, "revision": int(revision) if revision else None})


def _owned(hook: Hook) -> dict[str, secrets.Doc]:
    doc, _, leader = _view(hook)
    return {i: s for i, s in sorted(doc["secrets"].items()) if secrets.owns(s, hook.unit, leader)}


def secret_ids(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, set(), FORMAT)
    args.no_positionals()
    emit(list(_owned(hook)), args)


def secret_info_get(hook: Hook, argv: list[str]) -> None:
    args = Args(argv, set(), FORMAT | {"--label"})
    args.no_positionals(1)
    ident = _secret_id(args.positional[0]) if args.positional else None
    label = args.get("--label")
    if ident is None and label is None:
        raise ToolError("require either a secret URI or label", 2)
    if ident is not None and label is not None:
        raise ToolError("specify either a secret URI or label but not both", 2)
    owned = _owned(hook)
    found = [i for i, s in owned.items() if i == ident or (label is not None and s["label"] == label)]
    if not found:
        raise ToolError(f'secret "{ident or label}" not found')
    emit({found[0]: _metadata(hook, owned[found[0]])}, args)


def _metadata(hook: Hook, secret: secrets.Doc) -> dict[str, Any]:
    """One secret as secret-info-get prints it (jujuc secret-info-get.go metadataDisplay)."""
    info: dict[str, Any] = {
        "revision": secret["latest"],
        "label": secret["label"] or "",
        "owner": secret["owner"]["kind"],
    }
    latest = secret["revisions"].get(str(secret["latest"])) or {}
    optional = {"description": secret["description"], "rotation": secret["rotate"], "expiry": latest.get("expire"),
                "rotates": secret["next_rotate"]}  # fmt: skip
    info.update({k: v for k, v in optional.items() if v})
    access = [access_info(hook.state(), g) for g in secret["grants"]]
    if access:
        info["access"] = access
    return info


def access_info(state: dict[str, Any], grant: dict[str, Any]) -> dict[str, str]:
    """A grant as Juju shows it: the target's tag, the scope's tag and the role."""
    target = f"unit-{grant['unit'].replace('/', '-')}" if grant["unit"] else f"application-{grant['app']}"
    rel = state["relations"].get(str(grant["rid"])) if grant["rid"] is not None else None
    if rel is None:
        scope = f"model-{state['uuid']}"
    else:
        scope = "relation-" + ".".join(f"{e['app']}.{e['endpoint']}" for e in rel["ends"])
    return {"target": target, "scope": scope, "role": "view"}


TOOLS = {
    "secret-add": secret_add,
    "secret-get": secret_get,
    "secret-set": secret_set,
    "secret-grant": secret_grant,
    "secret-revoke": secret_revoke,
    "secret-remove": secret_remove,
    "secret-ids": secret_ids,
    "secret-info-get": secret_info_get,
}
