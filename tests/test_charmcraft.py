"""Packing for Juju 3.6: charmcraft.yaml and `make pack`'s manifest both follow metadata.yaml's series."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHANNELS = {"jammy": "22.04", "noble": "24.04"}


def metadata_series(charm: Path = ROOT) -> list[str]:
    return yaml.safe_load((charm / "metadata.yaml").read_text())["series"]


def test_charmcraft_packs_one_platform_per_metadata_series_with_the_reactive_plugin() -> None:
    charmcraft = yaml.safe_load((ROOT / "charmcraft.yaml").read_text())
    assert charmcraft["type"] == "charm"
    assert list(charmcraft["platforms"]) == [f"ubuntu@{CHANNELS[name]}:amd64" for name in metadata_series()]
    part = charmcraft["parts"]["charm"]
    assert part["plugin"] == "reactive"
    environment = {key: value for entry in part["build-environment"] for key, value in entry.items()}
    assert environment["CHARM_LAYERS_DIR"].endswith("/layers")
    assert environment["CHARM_INTERFACES_DIR"].endswith("/interfaces")
    # The units install offline from the wheelhouse, so the packed charm must carry the pinned wheels.
    assert "tools/build_wheelhouse.py requirements/wheelhouse.txt" in part["override-build"]
    assert "$CRAFT_PART_INSTALL/wheelhouse" in part["override-build"]


def pack(charm: Path, archive: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(ROOT / "tools" / "pack.py"), str(charm), str(archive)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


@pytest.fixture
def small_charm(tmp_path: Path) -> Path:
    charm = tmp_path / "charm"
    (charm / "hooks").mkdir(parents=True)
    (charm / "hooks" / "install").write_text("#!/bin/sh\n")
    return charm


@pytest.mark.parametrize("series", [["noble", "jammy"], ["jammy"], ["focal", "jammy", "noble"]])
def test_pack_writes_manifest_bases_in_the_order_of_metadata_series(
    small_charm: Path, tmp_path: Path, series: list[str]
) -> None:
    (small_charm / "metadata.yaml").write_text(yaml.safe_dump({"name": "redis", "series": series}))
    archive = tmp_path / "redis.charm"
    assert pack(small_charm, archive).returncode == 0
    with zipfile.ZipFile(archive) as packed:
        manifest = yaml.safe_load(packed.read("manifest.yaml"))
    expected = {"focal": "20.04", **CHANNELS}
    assert [base["channel"] for base in manifest["bases"]] == [expected[name] for name in series]
    assert all(base["name"] == "ubuntu" and base["architectures"] == ["amd64"] for base in manifest["bases"])


def test_pack_refuses_a_series_it_cannot_name_a_base_for(small_charm: Path, tmp_path: Path) -> None:
    (small_charm / "metadata.yaml").write_text(yaml.safe_dump({"name": "redis", "series": ["noble", "trusty"]}))
    result = pack(small_charm, tmp_path / "redis.charm")
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "trusty" in result.stderr
    assert not (tmp_path / "redis.charm").exists()
