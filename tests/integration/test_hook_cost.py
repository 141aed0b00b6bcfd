"""What a hook that has nothing to do costs in hook-tool calls, and that saving them changes no flag.

Two Redis units (a peer relation with a member), later a related client. Each
hook runs through `juju exec` with a recording wrapper in front of every hook
tool. With a client related, the charm publishes to it in every hook (its own
handler), so the no-op hook is measured before the client comes.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import jubilant
import pytest
import yaml

from conftest import CHARMS, TESTS, throwaway_model

pytestmark = pytest.mark.integration

CHARM = TESTS.parent / "build" / "redis"
UNIT = "redis/0"
VIEW_KEY = "layer.basic.relation-view"
METADATA = yaml.safe_load((TESTS.parent / "metadata.yaml").read_text())


def is_reactive_endpoint(kind: str, spec: dict[str, str]) -> bool:
    """Whether the endpoint's interface layer is a charms.reactive Endpoint, which lists its relations every hook.

    The metrics interfaces are not: they look their relations up only when they publish."""
    layer = TESTS.parent / "interfaces" / spec["interface"] / f"{kind}.py"
    return "(Endpoint)" in layer.read_text()


ENDPOINTS = [
    name
    for kind in ("provides", "requires", "peers")
    for name, spec in (METADATA.get(kind) or {}).items()
    if is_reactive_endpoint(kind, spec)
]

# Runs inside the unit, from the charm directory: the hook with every hook tool
# wrapped so that each call is recorded, then the reactive flags it left.
RUN_HOOK = r"""
import json, os, sqlite3, subprocess, sys
hook, forget_view = sys.argv[1], sys.argv[2] == "forget"
wrappers = "/tmp/hook-cost-test"
os.makedirs(wrappers, exist_ok=True)
tools = os.path.dirname(subprocess.check_output(["which", "is-leader"], text=True).strip())
for tool in os.listdir(tools):
    with open(os.path.join(wrappers, tool), "w") as script:
        script.write(f"#!/bin/sh\necho {tool} >> {wrappers}/calls\nexec {tools}/{tool} \"$@\"\n")
    os.chmod(os.path.join(wrappers, tool), 0o755)
open(os.path.join(wrappers, "calls"), "w").close()
if forget_view:
    with sqlite3.connect(".unit-state.db") as db:
        db.execute("DELETE FROM kv WHERE key = ?", ("VIEW_KEY",))
env = dict(os.environ, PATH=wrappers + ":" + os.environ["PATH"])
subprocess.run(["./hooks/" + hook], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
with sqlite3.connect(".unit-state.db") as db:
    flags = sorted(k for (k,) in db.execute("SELECT key FROM kv WHERE key LIKE 'reactive.states.%'"))
print(json.dumps({"calls": open(os.path.join(wrappers, "calls")).read().split(), "flags": flags}))
""".replace("VIEW_KEY", VIEW_KEY)


@pytest.fixture(scope="module")
def juju() -> Iterator[jubilant.Juju]:
    if not (CHARM / "metadata.yaml").exists():
        subprocess.run(["make", "build"], cwd=TESTS.parent, check=True)
    with throwaway_model("hookcost") as juju:
        juju.deploy(CHARM, "redis", num_units=2)
        all_idle(juju)
        yield juju


def all_idle(juju: jubilant.Juju) -> None:
    juju.wait(lambda status: jubilant.all_active(status) and jubilant.all_agents_idle(status))


def run_hook(juju: jubilant.Juju, hook: str, forget_view: bool = False) -> dict:
    script = RUN_HOOK.replace("'", "'\"'\"'")
    task = juju.exec(f"python3 -c '{script}' {hook} {'forget' if forget_view else 'keep'}", unit=UNIT)
    return json.loads(task.stdout)


def test_a_no_op_hook_makes_at_most_four_hook_tool_calls(juju: jubilant.Juju) -> None:
    run_hook(juju, "pre-series-upgrade")
    calls = run_hook(juju, "pre-series-upgrade")["calls"]
    assert len(calls) <= 4, " ".join(calls)
    assert sorted(calls) == ["config-get", "goal-state", "is-leader", "leader-get"]


def test_hooks_see_the_same_flags_with_and_without_the_remembered_relations(juju: jubilant.Juju) -> None:
    juju.deploy(CHARMS / "redis-client", "redis-client")
    juju.integrate("redis", "redis-client")
    all_idle(juju)
    for hook in ("update-status", "pre-series-upgrade", "config-changed"):
        remembered = run_hook(juju, hook)
        asked = run_hook(juju, hook, forget_view=True)
        assert "relation-ids" not in remembered["calls"]
        assert asked["calls"].count("relation-ids") == len(ENDPOINTS)  # one per endpoint
        assert remembered["flags"] == asked["flags"]
        assert "reactive.states.endpoint.redis.joined" in remembered["flags"]
        assert "reactive.states.endpoint.cluster.joined" in remembered["flags"]
