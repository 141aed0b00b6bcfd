"""Layer options, as charm-build merged them into the built charm's layer.yaml.

`get("basic")` is what the charm set for layer:basic (with the layer's
defaults filled in by the build); `get("basic", "packages")` is one option;
`get()` is every layer's options. Same call as upstream's layer:options.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def get(section: str | None = None, option: str | None = None, layer_file: str | Path | None = None) -> Any:
    """Every layer's options, one layer's (`section`) or one option's value (None when unset)."""
    import yaml

    if option and not section:
        raise ValueError("an option needs its section (the layer name)")
    path = Path(layer_file) if layer_file else _charm_dir() / "layer.yaml"
    merged = yaml.safe_load(path.read_text()) if path.exists() else {}
    options = (merged or {}).get("options") or {}
    if section is not None:
        options = options.get(section) or {}
    if option is not None:
        return options.get(option)
    return options


def _charm_dir() -> Path:
    return Path(os.environ.get("JUJU_CHARM_DIR") or os.environ.get("CHARM_DIR") or os.getcwd())
