"""mutmut's hook for `make mutation`: run each mutant against the unit tests that cover its file.

The whole unit suite takes over a minute (some tests start real
redis-server processes); a mutant of settings.py need not wait for it. A file
missing from TESTS_FOR runs the whole unit suite, so a new module is never left
untested, only slow.

To add a module: one line in TESTS_FOR, its path as in the repository mapped to
the unit test files that exercise it, the fastest first (pytest stops at the
first failure, so most mutants die in the first file); tests that start real
redis-server processes go last. Then `make mutation PATHS=the/new/module.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# pytest, with a failure to import the mutated module counted as a failure (see the script).
RUNNER = "sh tools/mutation-pytest"
UNIT = "tests/unit"
HANDLERS = [f"{UNIT}/test_handlers.py"]
TESTS_FOR: dict[str, list[str]] = {
    "lib/charms/layer/redis/settings.py": [
        f"{UNIT}/test_settings_messages.py",
        f"{UNIT}/test_settings.py",
        f"{UNIT}/test_workload.py",
    ],
    "lib/charms/layer/redis/conf.py": [
        f"{UNIT}/test_files.py",
        f"{UNIT}/test_options.py",
        f"{UNIT}/test_workload.py",
        f"{UNIT}/test_conf_rules.py",
        f"{UNIT}/test_conf.py",
    ],
    "lib/charms/layer/redis/workload.py": [
        f"{UNIT}/test_workload.py",
        f"{UNIT}/test_workload_paths.py",
        f"{UNIT}/test_status.py",
        f"{UNIT}/test_durability.py",
    ],
    "lib/charms/layer/redis/service.py": [
        f"{UNIT}/test_workload.py",
        f"{UNIT}/test_files.py",
        f"{UNIT}/test_service.py",
    ],
    "lib/charms/layer/redis/admin.py": [f"{UNIT}/test_admin.py", f"{UNIT}/test_durability.py", f"{UNIT}/test_drift.py"],
    "lib/charms/layer/redis/clustering.py": [f"{UNIT}/test_clustering.py", *HANDLERS],
    "lib/charms/layer/redis/run_action.py": [f"{UNIT}/test_run_action.py"],
    "lib/charms/layer/redis/cluster/nodes.py": [f"{UNIT}/test_cluster_nodes.py", f"{UNIT}/test_cluster_plan.py"],
    "lib/charms/layer/redis/cluster/topology.py": [f"{UNIT}/test_cluster_topology.py", f"{UNIT}/test_cluster_plan.py"],
    "lib/charms/layer/redis/cluster/plan.py": [f"{UNIT}/test_cluster_plan.py"],
    "lib/charms/layer/redis/cluster/redis_client.py": [f"{UNIT}/test_cluster_protocol.py"],
    "lib/charms/layer/redis/cluster/executor.py": [
        f"{UNIT}/test_cluster_protocol.py",
        f"{UNIT}/test_clustering.py",
        f"{UNIT}/test_cluster_executor.py",
    ],
    "lib/charms/layer/redis/monitoring.py": [f"{UNIT}/test_monitoring_files.py", f"{UNIT}/test_monitoring.py"],
    "lib/charms/layer/redis/check_redis.py": [f"{UNIT}/test_check_redis.py", f"{UNIT}/test_monitoring.py"],
    "lib/charms/layer/redis/tuning.py": [f"{UNIT}/test_tuning.py"],
    "reactive/redis.py": HANDLERS,
    "interfaces/redis/provides.py": [f"{UNIT}/test_interfaces.py", *HANDLERS],
    "interfaces/redis/requires.py": [f"{UNIT}/test_interfaces.py", f"{UNIT}/test_redis_requires.py"],
    "interfaces/nrpe-external-master/provides.py": [f"{UNIT}/test_interfaces.py", *HANDLERS],
    "interfaces/redis-peers/peers.py": [f"{UNIT}/test_interfaces.py"],
    "layers/leadership/lib/charms/leadership.py": [
        f"{UNIT}/test_layer_fidelity.py",
        f"{UNIT}/test_leadership_rules.py",
        f"{UNIT}/test_leadership_layer.py",
        *HANDLERS,
    ],
    "layers/leadership/reactive/leadership.py": HANDLERS,
    "layers/basic/lib/charms/layer/basic.py": [
        f"{UNIT}/test_layer_fidelity.py",
        f"{UNIT}/test_basic_bootstrap.py",
        f"{UNIT}/test_basic_layer.py",
        *HANDLERS,
    ],
    "layers/basic/lib/charms/layer/import_shims.py": [f"{UNIT}/test_import_shims.py", f"{UNIT}/test_basic_layer.py"],
    "layers/basic/lib/charms/layer/__init__.py": [
        f"{UNIT}/test_layer_fidelity.py",
        f"{UNIT}/test_basic_bootstrap.py",
        f"{UNIT}/test_basic_layer.py",
    ],
    "layers/basic/lib/charms/layer/options.py": [f"{UNIT}/test_layer_fidelity.py", f"{UNIT}/test_basic_bootstrap.py"],
    "layers/basic/lib/charms/layer/execd.py": [f"{UNIT}/test_layer_fidelity.py"],
    "layers/basic/lib/charms/layer/relation_view.py": [f"{UNIT}/test_relation_view.py"],
    "layers/basic/lib/charms/layer/hook_trace.py": [f"{UNIT}/test_hook_trace.py", *HANDLERS],
}


def tests_for(filename: str) -> list[str]:
    """The unit test files a mutant of `filename` runs; the whole unit suite for a file not listed."""
    # A listed file that does not exist would make pytest fail and count the mutant as killed.
    tests = [test for test in TESTS_FOR.get(filename.removeprefix("./"), []) if Path(test).exists()]
    return tests or [UNIT]


def pre_mutation(context: Any) -> None:
    context.config.test_command = f"{RUNNER} {' '.join(tests_for(context.filename))}"
