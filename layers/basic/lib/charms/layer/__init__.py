"""Helpers every layer may use.

- `charms.layer.options.get(section, option)`: the layer options the build
  merged into layer.yaml; `charms.layer.options(section)` still works, as it
  does upstream.
- `import_layer_libs()`: imports every module of lib/charms/layer, so that
  `layer.<name>.<function>()` works after `from charms import layer`.
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from typing import Any

# Modules of this package that a hook imports itself, at the right moment.
_NOT_AUTO_IMPORTED = {"__init__", "basic", "execd", "hook_trace", "relation_view"}


def import_layer_libs() -> None:
    """Import each module and package of lib/charms/layer (after the environment is made)."""
    for entry in sorted(Path(__file__).resolve().parent.iterdir()):
        name = entry.stem
        if name in _NOT_AUTO_IMPORTED or name.startswith(("_", ".")):
            continue
        if entry.suffix == ".py" or (entry.is_dir() and (entry / "__init__.py").exists()):
            importlib.import_module(f"{__name__}.{name}")


class _CallableOptions(types.ModuleType):
    """charms.layer.options, also callable as options(section) for charms written that way."""

    def __call__(self, section: str | None = None, layer_file: str | None = None) -> Any:
        return self.get(section=section, layer_file=layer_file)


from charms.layer import options  # noqa: E402

sys.modules[options.__name__].__class__ = _CallableOptions
