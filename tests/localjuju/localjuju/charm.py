"""Reading a charm directory: its metadata, config options and actions."""

from __future__ import annotations

import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

JUJU_INFO = "juju-info"  # Juju gives every charm this provides endpoint (what subordinates attach to)


class CharmError(Exception):
    """The charm cannot be used (missing or malformed metadata)."""


@dataclass(frozen=True)
class Endpoint:
    """One relation endpoint of a charm."""

    name: str
    interface: str
    role: str  # provider, requirer or peer
    scope: str = "global"  # or "container": only units on the same machine meet


@dataclass(frozen=True)
class Charm:
    """What the model needs to know about a charm directory."""

    path: Path
    name: str
    endpoints: dict[str, Endpoint]
    options: dict[str, dict[str, Any]]
    actions: dict[str, Any] = field(default_factory=dict)
    subordinate: bool = False

    @property
    def peers(self) -> list[Endpoint]:
        return [e for e in self.endpoints.values() if e.role == "peer"]


def _load_yaml(path: Path) -> dict[str, Any]:
    """Load a YAML mapping, or an empty one if the file is absent or empty."""
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise CharmError(f"{path} is not a YAML mapping")
    return data


def load(path: Path) -> Charm:
    """Read the charm in directory path."""
    meta = _load_yaml(path / "metadata.yaml")
    if "name" not in meta:
        raise CharmError(f"no charm found at {path} (metadata.yaml with a name is required)")
    roles = {"provides": "provider", "requires": "requirer", "peers": "peer"}
    endpoints = {
        name: Endpoint(name, (spec or {}).get("interface", name), role, (spec or {}).get("scope", "global"))
        for section, role in roles.items()
        for name, spec in (meta.get(section) or {}).items()
    }
    endpoints.setdefault(JUJU_INFO, Endpoint(JUJU_INFO, JUJU_INFO, "provider"))
    options = (_load_yaml(path / "config.yaml").get("options")) or {}
    return Charm(
        path=path,
        name=meta["name"],
        endpoints=endpoints,
        options=options,
        actions=_load_yaml(path / "actions.yaml"),
        subordinate=bool(meta.get("subordinate")),
    )


def copy(source: Path, dest: Path) -> None:
    """Copy a charm directory or .charm archive to dest, keeping modes and symlinks."""
    if source.is_dir():
        shutil.copytree(source, dest, symlinks=True)
        return
    if not zipfile.is_zipfile(source):
        raise CharmError(f"{source} is neither a charm directory nor a .charm archive")
    with zipfile.ZipFile(source) as archive:
        for info in archive.infolist():
            target = archive.extract(info, dest)
            mode = info.external_attr >> 16
            if mode and not stat.S_ISLNK(mode):
                Path(target).chmod(stat.S_IMODE(mode))


def option_default(option: dict[str, Any]) -> Any:
    """Return an option's default, or None when it has none."""
    return option.get("default")


def parse_option(charm: Charm, key: str, raw: str) -> Any:
    """Convert a command-line `key=value` string into the option's declared type."""
    if key not in charm.options:
        raise CharmError(f'unknown option "{key}"')
    kind = charm.options[key].get("type", "string")
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "boolean":
            if raw.lower() not in ("true", "false", "yes", "no", "1", "0"):
                raise ValueError(raw)
            return raw.lower() in ("true", "yes", "1")
    except ValueError:
        raise CharmError(f'option "{key}" expected {kind}, got "{raw}"') from None
    return raw


def coerce_option(charm: Charm, key: str, value: Any) -> Any:
    """Check a value given in a YAML config file against the option's type."""
    if isinstance(value, str) and charm.options.get(key, {}).get("type", "string") != "string":
        return parse_option(charm, key, value)
    if key not in charm.options:
        raise CharmError(f'unknown option "{key}"')
    return value
