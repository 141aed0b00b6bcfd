"""layer:basic's tools on a real unit of the local model: charm-env and layer_option, as upstream offers them."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import jubilant
import pytest
import yaml

from conftest import TESTS, throwaway_model

pytestmark = pytest.mark.integration

CHARM = TESTS.parent / "build" / "redis"
UNIT = "redis/0"


@pytest.fixture(scope="module")
def juju() -> Iterator[jubilant.Juju]:
    if not (CHARM / "metadata.yaml").exists():
        subprocess.run(["make", "build"], cwd=TESTS.parent, check=True)
    with throwaway_model("layerbasic") as juju:
        juju.deploy(CHARM, "redis")
        juju.wait(jubilant.all_active)
        yield juju


def test_layer_option_prints_the_charms_layer_options(juju: jubilant.Juju) -> None:
    listed = juju.exec("/usr/local/sbin/layer_option basic packages", unit=UNIT).stdout
    packages = yaml.safe_load((TESTS.parent / "layer.yaml").read_text())["options"]["basic"]["packages"]
    assert listed == "".join(f"{package}\n" for package in packages)


def test_a_charm_env_script_runs_with_the_charms_libraries(juju: jubilant.Juju) -> None:
    script = r"#!/usr/local/sbin/charm-env python3\nfrom charmhelpers.core import hookenv\n"
    script += r"print(hookenv.local_unit())\n"
    task = juju.exec(f"printf '{script}' > /tmp/action && chmod +x /tmp/action && /tmp/action", unit=UNIT)
    assert task.stdout.strip() == UNIT
