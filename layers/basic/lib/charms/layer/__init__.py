"""Helpers every layer may use: the layer options the build merged into layer.yaml."""

import os
from pathlib import Path
from typing import Any


def options(section: str | None = None) -> dict[str, Any]:
    """Return the layer options of the built charm, or those of one layer.

    charm-build merges every layer's `options:` into the charm's layer.yaml, one
    mapping per layer name, so `options("basic")` is what the charm set for the
    base layer.
    """
    import yaml

    charm_dir = Path(os.environ.get("JUJU_CHARM_DIR", os.getcwd()))
    layer_yaml = charm_dir / "layer.yaml"
    merged = yaml.safe_load(layer_yaml.read_text()) if layer_yaml.exists() else {}
    all_options = (merged or {}).get("options") or {}
    if section is None:
        return all_options
    return all_options.get(section) or {}
