#!/usr/bin/env python3
"""Fill a charm's wheelhouse/ with the pinned pure-Python wheels of requirements/wheelhouse.txt.

Each pinned requirement becomes one `*-none-any.whl`. Wheels are kept in a cache
(`.cache/wheels` by default), so once the cache holds them the build needs no
network at all. A requirement missing from the cache is downloaded with pip
(`--require-hashes`, so the bytes are the ones pinned) and, if PyPI only has an
sdist, built into a wheel; a wheel that is not pure Python is refused, because
units run another Python (3.10 or 3.12) than the build machine.

Usage: build_wheelhouse.py REQUIREMENTS WHEELHOUSE_DIR [--cache DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pin:
    """One `name==version --hash=...` line."""

    name: str
    version: str
    line: str

    @property
    def wheel_prefix(self) -> str:
        """How wheel file names of this pin start (PEP 427 escapes the name)."""
        return f"{re.sub(r'[-_.]+', '_', self.name).lower()}-{self.version}-"


def read_pins(requirements: Path) -> list[Pin]:
    """The pins of a requirements file; every line must be `name==version`."""
    pins = []
    for raw in requirements.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", line)
        if not match:
            raise SystemExit(f"{requirements}: not pinned with ==: {line}")
        pins.append(Pin(match.group(1), match.group(2), line))
    return pins


def cached_wheel(cache: Path, pin: Pin) -> Path | None:
    """The cached pure wheel of `pin`, if there is one."""
    for wheel in sorted(cache.glob("*.whl")):
        if wheel.name.lower().startswith(pin.wheel_prefix) and wheel.name.endswith("-none-any.whl"):
            return wheel
    return None


def fetch_wheel(cache: Path, pin: Pin) -> Path:
    """Download `pin` (hash-checked) and make it a pure wheel in `cache`."""
    with tempfile.TemporaryDirectory() as tmp:
        pinned = Path(tmp) / "pin.txt"
        pinned.write_text(pin.line + "\n")
        downloads = Path(tmp) / "downloads"
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
        subprocess.run([*pip, "download", "--no-deps", "--require-hashes", "-d", downloads, "-r", pinned], check=True)
        (artifact,) = downloads.iterdir()
        if artifact.suffix != ".whl":
            env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
            built = Path(tmp) / "built"
            subprocess.run([*pip, "wheel", "--no-deps", "-w", built, artifact], check=True, env=env)
            (artifact,) = built.iterdir()
        if not artifact.name.endswith("-none-any.whl"):
            raise SystemExit(f"{artifact.name} is not a pure-Python wheel; take it from the Ubuntu archive")
        cache.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(artifact, cache / artifact.name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requirements", type=Path)
    parser.add_argument("wheelhouse", type=Path)
    parser.add_argument("--cache", type=Path, default=Path(".cache/wheels"))
    args = parser.parse_args()
    args.wheelhouse.mkdir(parents=True, exist_ok=True)
    for pin in read_pins(args.requirements):
        wheel = cached_wheel(args.cache, pin) or fetch_wheel(args.cache, pin)
        shutil.copy2(wheel, args.wheelhouse / wheel.name)


if __name__ == "__main__":
    main()
