"""charm-build with the project's layer:basic: each upstream option it cannot honour fails the build with one line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHARM_BUILD = ROOT / ".venv" / "bin" / "charm-build"


def build(tmp_path: Path, basic_options: dict) -> subprocess.CompletedProcess[str]:
    """Build a minimal charm on layer:basic with these layer options; its output goes to tmp_path/out."""
    source = tmp_path / "tiny"
    source.mkdir()
    (source / "metadata.yaml").write_text(
        "name: tiny\nsummary: s\ndescription: d\nmaintainer: Tiny <tiny@example.invalid>\n"
        "tags: [misc]\nseries: [noble]\n"
    )
    (source / "README.md").write_text("tiny\n")
    (source / "copyright").write_text((ROOT / "copyright").read_text())
    layer = {"repo": "https://example.invalid/tiny", "includes": ["layer:basic"], "options": {"basic": basic_options}}
    (source / "layer.yaml").write_text(yaml.safe_dump(layer))
    env = dict(
        os.environ,
        CHARM_LAYERS_DIR=str(ROOT / "layers"),
        CHARM_INTERFACES_DIR=str(ROOT / "interfaces"),
        CHARM_HIDE_METRICS="1",
    )
    command = [str(CHARM_BUILD), "--log-level", "WARNING", "-o", str(tmp_path / "out"), str(source)]
    return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, check=False)


def test_supported_options_build_and_reach_the_charm_with_the_layers_defaults(tmp_path: Path) -> None:
    built = build(tmp_path, {"packages": ["python3-yaml"]})
    assert built.returncode == 0, built.stdout
    merged = yaml.safe_load((tmp_path / "out" / "tiny" / "layer.yaml").read_text())["options"]["basic"]
    assert merged == {
        "packages": ["python3-yaml"],
        "use_venv": True,
        "include_system_packages": True,
        "python_packages": [],
    }
    assert os.access(tmp_path / "out" / "tiny" / "bin" / "charm-env", os.X_OK)


@pytest.mark.parametrize(
    ("option", "value"),
    [("use_venv", False), ("include_system_packages", False), ("python_packages", ["requests"])],
)
def test_an_unsupported_option_fails_the_build_with_one_line_naming_it(tmp_path: Path, option: str, value) -> None:
    built = build(tmp_path, {option: value})
    assert built.returncode != 0
    complaints = [line for line in built.stdout.splitlines() if f"basic.{option}" in line]
    assert len(complaints) == 1, built.stdout
    assert "Invalid value" in complaints[0]
    assert not (tmp_path / "out" / "tiny" / "hooks" / "install").exists()
