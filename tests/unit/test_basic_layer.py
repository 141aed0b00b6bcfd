"""The base layer's contract: config.* flags, the offline unit environment, the import stand-ins."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from charms.layer import basic, import_shims

OPTIONS = {
    "port": {"type": "int", "default": 6379},
    "password": {"type": "string", "default": ""},
    "cluster-enabled": {"type": "boolean", "default": False},
    "extra": {"type": "string"},
}
DEFAULTS = {"port": 6379, "password": "", "cluster-enabled": False, "extra": None}


def test_first_hook_counts_every_option_as_changed() -> None:
    flags = basic.config_flags(OPTIONS, DEFAULTS, previous=None)
    assert {f"config.changed.{name}" for name in OPTIONS} | {"config.changed"} <= flags


def test_unchanged_config_raises_no_changed_flag() -> None:
    flags = basic.config_flags(OPTIONS, DEFAULTS, previous=dict(DEFAULTS))
    assert not {flag for flag in flags if flag.startswith("config.changed")}


def test_one_changed_option_raises_its_flag_only() -> None:
    current = {**DEFAULTS, "port": 6380}
    flags = basic.config_flags(OPTIONS, current, previous=dict(DEFAULTS))
    assert {flag for flag in flags if flag.startswith("config.changed")} == {"config.changed", "config.changed.port"}
    assert "config.default.port" not in flags
    assert "config.set.port" in flags


def test_default_and_set_flags_follow_the_values() -> None:
    flags = basic.config_flags(OPTIONS, DEFAULTS, previous=dict(DEFAULTS))
    assert {"config.default.port", "config.default.password", "config.default.cluster-enabled"} <= flags
    # An option without a default is at its default while unset.
    assert "config.default.extra" in flags
    # Empty, zero, false and unset values are not "set".
    assert {flag for flag in flags if flag.startswith("config.set")} == {"config.set.port"}


def test_a_value_back_at_its_default_is_changed_and_default() -> None:
    flags = basic.config_flags(OPTIONS, DEFAULTS, previous={**DEFAULTS, "password": "s3cret"})
    assert {"config.changed.password", "config.default.password"} <= flags
    assert "config.set.password" not in flags


def _hook(reactive, tmp_path: Path, values: dict) -> set[str]:
    """Run the layer's start- and end-of-hook steps around one hook; return the flags seen inside."""
    from charmhelpers.core import hookenv, unitdata

    (tmp_path / "config.yaml").write_text(json.dumps({"options": OPTIONS}))
    hookenv.cache.clear()
    config = hookenv.Config(values)
    original = hookenv.config
    hookenv.config = lambda: config
    try:
        basic.init_config_states()
        seen = {flag for flag in reactive.get_flags() if flag.startswith("config.")}
        config.save()
        basic.clear_config_states()
    finally:
        hookenv.config = original
    unitdata.kv().flush()
    return seen


def test_config_flags_live_for_one_hook_only(reactive, tmp_path: Path) -> None:
    first = _hook(reactive, tmp_path, DEFAULTS)
    assert "config.changed.port" in first
    assert not [flag for flag in reactive.get_flags() if flag.startswith("config.changed")]

    second = _hook(reactive, tmp_path, {**DEFAULTS, "password": "s3cret"})
    assert {flag for flag in second if flag.startswith("config.changed")} == {
        "config.changed",
        "config.changed.password",
    }
    assert "config.set.password" in second and "config.default.password" not in second

    third = _hook(reactive, tmp_path, {**DEFAULTS, "password": "s3cret"})
    assert not {flag for flag in third if flag.startswith("config.changed")}
    assert "config.set.password" in third

    fourth = _hook(reactive, tmp_path, DEFAULTS)
    assert {"config.changed.password", "config.default.password"} <= fourth
    assert "config.set.password" not in fourth


def _make_wheel(directory: Path, name: str, files: dict[str, str], tag: str = "py3-none-any") -> Path:
    wheel = directory / f"{name}-1.0-{tag}.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return wheel


def test_install_wheel_unpacks_packages_data_and_scripts(tmp_path: Path) -> None:
    wheel = _make_wheel(
        tmp_path,
        "demo",
        {
            "demo/__init__.py": "VALUE = 1\n",
            "demo-1.0.dist-info/METADATA": "Name: demo\n",
            "demo-1.0.data/purelib/demo_extra.py": "EXTRA = 2\n",
            "demo-1.0.data/scripts/demo-tool": "#!/bin/sh\n",
            "demo-1.0.data/headers/demo.h": "",
        },
    )
    target, scripts = tmp_path / "site", tmp_path / "bin"
    basic.install_wheel(wheel, target, scripts)
    assert (target / "demo" / "__init__.py").read_text() == "VALUE = 1\n"
    assert (target / "demo_extra.py").exists()
    assert (target / "demo-1.0.dist-info" / "METADATA").exists()
    assert (scripts / "demo-tool").stat().st_mode & 0o111
    assert not list(tmp_path.rglob("demo.h"))


def test_install_wheel_refuses_compiled_wheels(tmp_path: Path) -> None:
    wheel = _make_wheel(tmp_path, "fast", {"fast.py": ""}, tag="cp311-cp311-linux_x86_64")
    with pytest.raises(ValueError, match="not a pure-Python wheel"):
        basic.install_wheel(wheel, tmp_path / "site", tmp_path / "bin")


def test_install_wheel_refuses_paths_outside_the_target(tmp_path: Path) -> None:
    wheel = _make_wheel(tmp_path, "evil", {"../escaped.py": ""})
    with pytest.raises(ValueError, match="unsafe path"):
        basic.install_wheel(wheel, tmp_path / "site", tmp_path / "bin")
    assert not (tmp_path / "escaped.py").exists()


def test_environment_is_made_once_and_again_when_the_wheelhouse_changes(tmp_path: Path) -> None:
    wheelhouse = tmp_path / "charm" / "wheelhouse"
    wheelhouse.mkdir(parents=True)
    _make_wheel(wheelhouse, "first", {"first.py": ""})
    venv = tmp_path / ".venv"
    digest = basic.wheelhouse_digest(wheelhouse)
    basic.make_environment(venv, wheelhouse, digest)
    assert basic.environment_is_current(venv, digest)
    assert (basic.site_packages(venv) / "first.py").exists()

    _make_wheel(wheelhouse, "second", {"second.py": ""})
    new_digest = basic.wheelhouse_digest(wheelhouse)
    assert new_digest != digest
    assert not basic.environment_is_current(venv, new_digest)
    basic.make_environment(venv, wheelhouse, new_digest)
    assert (basic.site_packages(venv) / "second.py").exists()
    assert not list(tmp_path.glob(".venv.*"))


@pytest.mark.parametrize(
    ("older", "newer"),
    [("2.9.42", "3.6.4"), ("3.6", "3.6.1"), ("3.6.4", "3.6.10"), ("2.9.42.1", "2.9.43")],
)
def test_loose_version_orders_juju_versions(older: str, newer: str) -> None:
    assert import_shims.LooseVersion(older) < import_shims.LooseVersion(newer)
    assert import_shims.LooseVersion(newer) >= older
    assert import_shims.LooseVersion(older) == older
    assert import_shims.LooseVersion(older) != newer


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """Run code in a fresh interpreter that sees the base layer's lib/."""
    lib = Path(basic.__file__).resolve().parents[2]
    return subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(lib)!r})\n{code}"],
        capture_output=True,
        text=True,
        check=True,
    )


def test_stand_ins_serve_charmhelpers_without_importing_distutils_or_pkg_resources() -> None:
    result = _python(
        "from charms.layer import import_shims; import_shims.install()\n"
        "from distutils.version import LooseVersion\n"
        "from pkg_resources import iter_entry_points\n"
        "names = [e.name for e in iter_entry_points('console_scripts', 'pytest')]\n"
        "print(LooseVersion('3.6.4') > '3.6', names, 'setuptools' in sys.modules)\n"
    )
    assert result.stdout.split() == ["True", "['pytest']", "False"]


def test_stand_in_hands_other_attributes_to_the_real_module() -> None:
    result = _python(
        "import json\n"
        "from charms.layer import import_shims\n"
        "sys.modules.pop('json')\n"
        "sys.modules['json'] = import_shims._stand_in('json', {})\n"
        "import json as shimmed\n"
        "print(shimmed.dumps([1]), hasattr(sys.modules['json'], '__file__'))\n"
    )
    assert result.stdout.split() == ["[1]", "True"]
