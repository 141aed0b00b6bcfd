"""mutmut's hook for `make mutation`: run each mutant against the unit tests that cover its file.

The whole unit suite takes several seconds (one test starts a real
redis-server); a mutant of settings.py need not wait for it. A file missing
from TESTS_FOR runs the whole suite, so a new module is never left untested.
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
        f"{UNIT}/test_conf_rules.py",
        f"{UNIT}/test_workload.py",
        f"{UNIT}/test_conf.py",
    ],
    "lib/charms/layer/redis/workload.py": [f"{UNIT}/test_workload_paths.py", f"{UNIT}/test_workload.py"],
    "lib/charms/layer/redis/service.py": [f"{UNIT}/test_service.py", f"{UNIT}/test_workload.py"],
    "lib/charms/layer/redis/admin.py": [f"{UNIT}/test_admin.py"],
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


def pre_mutation(context: Any) -> None:
    # A listed file that does not exist would make pytest fail and count the mutant as killed.
    tests = [test for test in TESTS_FOR.get(context.filename.lstrip("./"), []) if Path(test).exists()]
    if tests:
        context.config.test_command = f"{RUNNER} {' '.join(tests)}"
