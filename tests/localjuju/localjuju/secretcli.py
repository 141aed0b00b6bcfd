"""The `juju` secret commands: add-secret, update-secret, remove-secret, grant-secret,
revoke-secret, secrets and show-secret, with the output shapes of Juju 3.6's
cmd/juju/secrets (what jubilant parses). Secrets added here are the model's (user secrets):
named, owned by the model, readable by the applications they are granted to.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from . import controller, secrets
from .cli import _parser
from .operations import CommandError
from .operations import find_model as current_model
from .secrettools import access_info
from .state import ModelDir, State, read, transaction


def _content(items: list[str], source: str | None) -> dict[str, str]:
    content: dict[str, str] = {}
    if source:
        loaded = yaml.load(Path(source).read_text(encoding="utf-8"), Loader=yaml.BaseLoader) or {}
        if not isinstance(loaded, dict):
            raise CommandError("expected YAML map of secret content")
        content.update(loaded)
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise CommandError(f'expected "key=value", got "{item}"')
        content[key] = value
    try:
        secrets.check_content(content)
    except secrets.SecretError as exc:
        raise CommandError(str(exc)) from None
    return content


def _user_secret(doc: secrets.Doc, identifier: str) -> str:
    """The id of the model's secret named identifier (a name or a URI)."""
    for ident, secret in doc["secrets"].items():
        if secret["owner"]["kind"] == "model" and secret["label"] == identifier:
            return ident
    try:
        ident = secrets.parse_uri(identifier)
    except secrets.SecretError:
        raise CommandError(f'secret "{identifier}" not found') from None
    if ident not in doc["secrets"]:
        raise CommandError(f'secret "{identifier}" not found')
    return ident


def _commit(mdl: ModelDir, ops: list[secrets.Op]) -> None:
    """Record operations as of now and queue the hooks they cause; the controller runs them."""
    stamp = secrets.iso(secrets.now())
    with transaction(mdl) as state:
        secrets.commit(state, mdl.root, [op | {"at": stamp} for op in ops])
    controller.ensure_running(mdl)


def _content_parser(name: str, target: str) -> argparse.ArgumentParser:
    """The arguments add-secret and update-secret share: the secret, its content and info."""
    parser = _parser(name)
    parser.add_argument(target)
    parser.add_argument("items", nargs="*")
    parser.add_argument("--file")
    parser.add_argument("--info")
    return parser


def cmd_add_secret(argv: list[str]) -> None:
    args = _content_parser("add-secret", "name").parse_args(argv)
    mdl = current_model(args.model)
    content = _content(args.items, args.file)
    if any(
        s["label"] == args.name and s["owner"]["kind"] == "model" for s in secrets.load(mdl.root)["secrets"].values()
    ):
        raise CommandError(f'secret with name "{args.name}" already exists')
    ident = secrets.new_id()
    owner = {"kind": "model", "name": read(mdl)["uuid"]}
    op = {"op": "add", "id": ident, "owner": owner, "label": args.name, "description": args.info, "content": content}
    _commit(mdl, [op])
    print(secrets.uri(ident))


def cmd_update_secret(argv: list[str]) -> None:
    parser = _content_parser("update-secret", "secret")
    parser.add_argument("--name")
    parser.add_argument("--auto-prune", action="store_true")
    args = parser.parse_args(argv)
    mdl = current_model(args.model)
    ident = _user_secret(secrets.load(mdl.root), args.secret)
    content = _content(args.items, args.file) if args.items or args.file else None
    _commit(mdl, [{"op": "set", "id": ident, "content": content, "label": args.name, "description": args.info}])


def cmd_remove_secret(argv: list[str]) -> None:
    parser = _parser("remove-secret")
    parser.add_argument("secret")
    parser.add_argument("--revision", type=int)
    args = parser.parse_args(argv)
    mdl = current_model(args.model)
    ident = _user_secret(secrets.load(mdl.root), args.secret)
    _commit(mdl, [{"op": "remove", "id": ident, "revision": args.revision}])


def _grant_command(name: str, kind: str) -> Any:
    def command(argv: list[str]) -> None:
        parser = _parser(name)
        parser.add_argument("secret")
        parser.add_argument("apps")
        args = parser.parse_args(argv)
        mdl = current_model(args.model)
        ident = _user_secret(secrets.load(mdl.root), args.secret)
        state = read(mdl)
        apps = [a for a in args.apps.split(",") if a]
        for app in apps:
            if app not in state["apps"]:
                raise CommandError(f'application "{app}" not found')
        _commit(mdl, [{"op": kind, "id": ident, "app": app, "unit": None, "rid": None} for app in apps])

    return command


def _display(state: State, secret: secrets.Doc, reveal: bool, revisions: bool, grants: bool) -> dict[str, Any]:
    """One secret as `juju secrets`/`show-secret` print it (cmd/juju/secrets secretDisplayDetails)."""
    owner = secret["owner"]
    latest = secret["revisions"].get(str(secret["latest"])) or {}
    info: dict[str, Any] = {"revision": secret["latest"]}
    if latest.get("expire"):
        info["expires"] = latest["expire"]
    if secret["rotate"]:
        info |= {"rotation": secret["rotate"], "rotates": secret["next_rotate"]}
    info["owner"] = "<model>" if owner["kind"] == "model" else owner["name"]
    if secret["description"]:
        info["description"] = secret["description"]
    if secret["label"]:
        info["name" if owner["kind"] == "model" else "label"] = secret["label"]
    info |= {"created": secret["created"], "updated": secret["updated"]}
    if reveal and latest:
        data = latest["content"]
        info["checksum"] = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
        info["content"] = {"Data": data}
    if revisions:
        info["revisions"] = [
            _revision(int(n), r) for n, r in sorted(secret["revisions"].items(), key=lambda i: int(i[0]))
        ]
    if grants:
        access = [access_info(state, g) for g in secret["grants"]]
        if access:
            info["access"] = access
    return info


def _revision(number: int, revision: dict[str, Any]) -> dict[str, Any]:
    shown = {"revision": number, "created": revision["created"], "updated": revision["created"]}
    return shown | ({"expires": revision["expire"]} if revision["expire"] else {})


def _print(data: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(data))
    else:
        sys.stdout.write(yaml.safe_dump(data, default_flow_style=False))


def _owned_by(secret: secrets.Doc, tag: str) -> bool:
    """Whether the secret's owner is the one named by an owner tag (application-X, unit-X-N)."""
    name = secret["owner"]["name"]
    return tag.split("-", 1)[-1] in (name, name.replace("/", "-"))


def cmd_secrets(argv: list[str]) -> None:
    parser = _parser("secrets")
    parser.add_argument("--format", default="tabular")
    parser.add_argument("--owner")
    parser.add_argument("--revisions", action="store_true")
    args = parser.parse_args(argv)
    mdl = current_model(args.model)
    state, doc = read(mdl), secrets.load(mdl.root)
    shown = {
        ident: _display(state, secret, reveal=False, revisions=args.revisions, grants=False)
        for ident, secret in sorted(doc["secrets"].items())
        if args.owner is None or _owned_by(secret, args.owner)
    }
    if args.format in ("json", "yaml"):
        _print(shown, args.format)
        return
    print(f"{'ID':22} {'Name':16} {'Owner':20} {'Rotation':10} {'Revision':>8}  Last updated")
    for ident, info in shown.items():
        name = info.get("name", "-")
        rotation = info.get("rotation", "never")
        print(f"{ident:22} {name:16} {info['owner']:20} {rotation:10} {info['revision']:>8}  {info['updated']}")


def cmd_show_secret(argv: list[str]) -> None:
    parser = _parser("show-secret")
    parser.add_argument("secret")
    parser.add_argument("--format", default="yaml")
    parser.add_argument("--reveal", action="store_true")
    parser.add_argument("--revisions", action="store_true")
    parser.add_argument("--revision", type=int)
    args = parser.parse_args(argv)
    mdl = current_model(args.model)
    state, doc = read(mdl), secrets.load(mdl.root)
    try:
        ident = _user_secret(doc, args.secret)
    except CommandError:
        ident = secrets.parse_uri(args.secret) if args.secret.startswith("secret:") else ""
        if ident not in doc["secrets"]:
            raise
    secret = doc["secrets"][ident]
    if args.revision is not None:
        if str(args.revision) not in secret["revisions"]:
            raise CommandError(f"secret revision {args.revision} not found")
        secret = dict(secret, latest=args.revision)
    shown = _display(state, secret, reveal=args.reveal, revisions=args.revisions, grants=True)
    _print({ident: shown}, args.format)


COMMANDS = {
    "add-secret": cmd_add_secret,
    "update-secret": cmd_update_secret,
    "remove-secret": cmd_remove_secret,
    "grant-secret": _grant_command("grant-secret", "grant"),
    "revoke-secret": _grant_command("revoke-secret", "revoke"),
    "secrets": cmd_secrets,
    "list-secrets": cmd_secrets,
    "show-secret": cmd_show_secret,
}
