"""Light stand-ins for the two slow legacy imports charmhelpers and charms.reactive make.

`charmhelpers.core.hookenv` imports `distutils.version.LooseVersion` (only to
compare Juju versions) and `charms.reactive.relations` imports
`pkg_resources.iter_entry_points` (only to find relation factories). Importing
`distutils` costs about 120-150 ms per hook when setuptools is around (it
drags in pkg_resources), `pkg_resources` as much again, and Python 3.12 has no
`distutils` at all. Every hook pays for these imports, so this module registers
small stand-ins before charmhelpers is imported. Each stand-in defines the name
its importer uses; any other attribute asked of it loads the real module in its
place (where one is installed), so nothing loses functionality.
"""

from __future__ import annotations

import functools
import importlib
import re
import sys
import types
from collections.abc import Iterator
from typing import Any


@functools.total_ordering
class LooseVersion:
    """A version compared part by part: numbers as numbers, words as words.

    Same ordering as distutils' LooseVersion for the versions Juju reports
    (`3.6.4`, `3.6-beta1`, `2.9.42.1`).
    """

    _component = re.compile(r"(\d+|[a-z]+|\.)", re.IGNORECASE)

    def __init__(self, vstring: str | None = None) -> None:
        self.vstring = ""
        self.version: list[int | str] = []
        if vstring:
            self.parse(vstring)

    def parse(self, vstring: str) -> None:
        self.vstring = vstring
        parts = [p for p in self._component.split(vstring) if p and p != "."]
        self.version = [int(p) if p.isdigit() else p for p in parts]

    def _other(self, other: object) -> list[int | str]:
        if isinstance(other, str):
            return LooseVersion(other).version
        if isinstance(other, LooseVersion):
            return other.version
        return NotImplemented

    def __eq__(self, other: object) -> bool:
        theirs = self._other(other)
        return theirs is NotImplemented or self.version == theirs

    def __lt__(self, other: object) -> bool:
        return self.version < self._other(other)

    def __str__(self) -> str:
        return self.vstring

    def __repr__(self) -> str:
        return f"LooseVersion('{self.vstring}')"


def iter_entry_points(group: str, name: str | None = None) -> Iterator[Any]:
    """Entry points of `group` (optionally only `name`), from installed distributions."""
    from importlib.metadata import entry_points

    for entry_point in entry_points(group=group):
        if name is None or entry_point.name == name:
            yield entry_point


def _stand_in(name: str, provides: dict[str, Any], package: bool = False) -> types.ModuleType:
    """A module that serves `provides` and hands anything else to the real module."""
    module = types.ModuleType(name, f"Light stand-in registered by {__name__}.")
    module.__dict__.update(provides)
    if package:
        module.__path__ = []

    def load_real(attribute: str) -> Any:
        # The import system probes dunders (`__path__` on `from x import y`);
        # those must not pull in the real module.
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        real = _replace_with_real(name)
        if real is None:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
        return getattr(real, attribute)

    module.__getattr__ = load_real  # type: ignore[method-assign]
    return module


def _replace_with_real(name: str) -> types.ModuleType | None:
    """Import the real module `name` in place of its stand-in, if one is installed."""
    stand_ins = {key: sys.modules.pop(key) for key in list(sys.modules) if key == name or key.startswith(name + ".")}
    parent = name.split(".")[0]
    if parent != name:
        stand_ins.setdefault(parent, sys.modules.pop(parent, None))
    try:
        return importlib.import_module(name)
    except ImportError:
        sys.modules.update({key: module for key, module in stand_ins.items() if module is not None})
        return None


def install() -> None:
    """Register the stand-ins, unless the real modules are already imported."""
    if "distutils" not in sys.modules:
        version = _stand_in("distutils.version", {"LooseVersion": LooseVersion})
        distutils = _stand_in("distutils", {"version": version}, package=True)
        sys.modules.update({"distutils": distutils, "distutils.version": version})
    if "pkg_resources" not in sys.modules:
        sys.modules["pkg_resources"] = _stand_in("pkg_resources", {"iter_entry_points": iter_entry_points})
