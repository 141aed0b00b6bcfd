"""Loading the charm's interface layers in unit tests, as charm-build places them."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

from charmhelpers.core import hookenv

ROOT = Path(__file__).resolve().parents[2]


def interface(name: str, role: str) -> ModuleType:
    """Load interfaces/<name>/<role>.py as charm-build would place it (hooks/relations/<name>)."""
    spec = importlib.util.spec_from_file_location(
        f"interface_{name.replace('-', '_')}_{role}", ROOT / "interfaces" / name / f"{role}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    # Its handlers' decorators read the charm's metadata.yaml.
    with mock.patch.dict(os.environ, {"CHARM_DIR": str(ROOT)}):
        hookenv.cache.clear()
        spec.loader.exec_module(module)
    return module


def endpoint(cls: type, *relations: object, name: str = "") -> Any:
    """An endpoint with these relations (named `name` in metadata.yaml), without charms.reactive's start-up."""
    instance = cls.__new__(cls)
    instance._relations = list(relations)
    instance._endpoint_name = name
    return instance
