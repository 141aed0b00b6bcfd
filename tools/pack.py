#!/usr/bin/env python3
"""Zip a built charm directory into a .charm file that Juju 3.6 deploys.

Juju ignores `series` in metadata.yaml when a manifest is present, and deploying
a charm without one is deprecated, so the archive carries a manifest.yaml whose
bases are the Ubuntu releases of metadata.yaml's `series`, in the same order
(the first is what `juju deploy` picks by default). A series this tool does not
know stops it with one line.

Prints the archive's size and how many files it holds, so that anything the
charm should not carry shows at once.

Usage: pack.py BUILT_CHARM_DIR OUTPUT.charm
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import yaml

# Ubuntu series names and the release channels manifest bases use.
UBUNTU_CHANNELS = {"focal": "20.04", "jammy": "22.04", "noble": "24.04"}


def series_bases(charm: Path) -> list[dict]:
    """One manifest base per series of the charm's metadata.yaml, in its order."""
    series = (yaml.safe_load((charm / "metadata.yaml").read_text()) or {}).get("series") or []
    unknown = [name for name in series if name not in UBUNTU_CHANNELS]
    if not series or unknown:
        raise SystemExit(
            f"{charm}/metadata.yaml: series must list Ubuntu series among {', '.join(UBUNTU_CHANNELS)};"
            f" got {', '.join(map(str, series)) or 'none'}"
        )
    return [{"name": "ubuntu", "channel": UBUNTU_CHANNELS[name], "architectures": ["amd64"]} for name in series]


def manifest(charm: Path) -> str:
    bases = series_bases(charm)
    return yaml.safe_dump({"charmcraft-started-at": "1970-01-01T00:00:00Z", "bases": bases}, sort_keys=False)


def pack(charm: Path, output: Path) -> int:
    """Write the archive; the number of files in it."""
    charm_manifest = manifest(charm)
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(charm.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo.from_file(path, path.relative_to(charm).as_posix())
                with path.open("rb") as source:
                    archive.writestr(info, source.read())
        archive.writestr("manifest.yaml", charm_manifest)
        return len(archive.namelist())


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.strip().splitlines()[-1])
    output = Path(sys.argv[2])
    count = pack(Path(sys.argv[1]), output)
    print(f"{output}: {output.stat().st_size / 1_000_000:.1f} MB, {count} files")
