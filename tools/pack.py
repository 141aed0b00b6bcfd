#!/usr/bin/env python3
"""Zip a built charm directory into a .charm file that Juju 3.6 deploys.

Juju ignores `series` in metadata.yaml when a manifest is present, and deploying
a charm without one is deprecated, so the archive carries a manifest.yaml whose
bases are the Ubuntu releases the charm supports.

Prints the archive's size and how many files it holds, so that anything the
charm should not carry shows at once.

Usage: pack.py BUILT_CHARM_DIR OUTPUT.charm
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import yaml

BASES = [("ubuntu", "24.04"), ("ubuntu", "22.04")]


def manifest() -> str:
    bases = [{"name": name, "channel": channel, "architectures": ["amd64"]} for name, channel in BASES]
    return yaml.safe_dump({"charmcraft-started-at": "1970-01-01T00:00:00Z", "bases": bases}, sort_keys=False)


def pack(charm: Path, output: Path) -> int:
    """Write the archive; the number of files in it."""
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(charm.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo.from_file(path, path.relative_to(charm).as_posix())
                with path.open("rb") as source:
                    archive.writestr(info, source.read())
        archive.writestr("manifest.yaml", manifest())
        return len(archive.namelist())


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.strip().splitlines()[-1])
    output = Path(sys.argv[2])
    count = pack(Path(sys.argv[1]), output)
    print(f"{output}: {output.stat().st_size / 1_000_000:.1f} MB, {count} files")
