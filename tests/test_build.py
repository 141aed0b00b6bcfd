"""The built charm (build/redis, made by `make build`): its hooks, wheelhouse, metadata and config."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHARM = ROOT / "build" / "redis"
STANDARD_HOOKS = [
    "install",
    "config-changed",
    "leader-elected",
    "leader-settings-changed",
    "start",
    "stop",
    "remove",
    "update-status",
    "upgrade-charm",
    "pre-series-upgrade",
    "post-series-upgrade",
]
RELATION_HOOKS = ["created", "joined", "changed", "departed", "broken"]
CONFIG = {
    "cluster-enabled": ("boolean", False),
    "databases": ("int", 16),
    "log-level": ("string", "notice"),
    "nagios_context": ("string", "juju"),
    "nagios_servicegroups": ("string", ""),
    "password": ("string", ""),
    "port": ("int", 6379),
    "snap_proxy": ("string", ""),
    "snap_proxy_url": ("string", ""),
    "snapd_refresh": ("string", ""),
    "tcp-keepalive": ("int", 0),
    "timeout": ("int", 0),
}


@pytest.fixture(scope="module")
def charm() -> Path:
    if not (CHARM / "metadata.yaml").exists():
        subprocess.run(["make", "build"], cwd=ROOT, check=True)
    return CHARM


def load(charm: Path, name: str) -> dict:
    return yaml.safe_load((charm / name).read_text())


def test_every_standard_and_relation_hook_is_an_executable_python_hook(charm: Path) -> None:
    metadata = load(charm, "metadata.yaml")
    endpoints = [*metadata["provides"], *metadata["peers"]]
    expected = STANDARD_HOOKS + [f"{ep}-relation-{kind}" for ep in endpoints for kind in RELATION_HOOKS]
    for hook in expected:
        path = charm / "hooks" / hook
        assert path.is_file(), hook
        assert os.access(path, os.X_OK), hook
        assert "basic.bootstrap_charm_deps()" in path.read_text(), hook


def test_metadata_declares_the_endpoints_and_series(charm: Path) -> None:
    metadata = load(charm, "metadata.yaml")
    assert metadata["name"] == "redis"
    assert metadata["summary"] and metadata["description"]
    assert metadata["series"] == ["noble", "jammy"]
    assert metadata["provides"]["redis"] == {"interface": "redis"}
    assert metadata["provides"]["nrpe-external-master"] == {"interface": "nrpe-external-master", "scope": "container"}
    assert metadata["peers"] == {"cluster": {"interface": "redis-peers"}}


def test_config_has_the_original_options_with_their_types_and_defaults(charm: Path) -> None:
    options = load(charm, "config.yaml")["options"]
    for name, (kind, default) in CONFIG.items():
        assert options[name]["type"] == kind, name
        assert options[name]["default"] == default, name
        assert len(options[name]["description"]) > 20, name


def test_interfaces_are_the_projects_own(charm: Path) -> None:
    for interface, module in [
        ("redis", "provides.py"),
        ("redis-peers", "peers.py"),
        ("nrpe-external-master", "provides.py"),
    ]:
        built = charm / "hooks" / "relations" / interface / module
        assert built.read_text() == (ROOT / "interfaces" / interface / module).read_text()


def test_build_leaves_out_what_only_the_repository_needs(charm: Path) -> None:
    for name in ("tests", "layers", "interfaces", "Makefile", "tools", "bench", "requirements", ".venv"):
        assert not (charm / name).exists(), name


def pinned_names() -> set[str]:
    names = set()
    for line in (ROOT / "requirements" / "wheelhouse.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(line.split("==")[0].replace("-", "_").replace(".", "_").lower())
    return names


def test_wheelhouse_holds_exactly_the_pinned_pure_wheels(charm: Path) -> None:
    wheels = sorted((charm / "wheelhouse").iterdir())
    assert all(wheel.name.endswith("-none-any.whl") for wheel in wheels), wheels
    assert {wheel.name.split("-")[0].lower() for wheel in wheels} == pinned_names()
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            assert not [name for name in archive.namelist() if name.endswith((".so", ".pyd"))], wheel.name


def unit_pythons() -> list[str]:
    """The Pythons of Ubuntu 22.04 and 24.04 (3.10, 3.12) found on this machine, and this one."""
    found = [sys.executable]
    for version in ("3.10", "3.12"):
        candidates = sorted(Path("/root/.pyenv/versions").glob(f"{version}.*/bin/python3"))
        found += [str(candidates[-1])] if candidates else []
    return found


@pytest.mark.skipif(os.geteuid() != 0, reason="unshare -n needs root")
@pytest.mark.parametrize("python", unit_pythons())
def test_unit_environment_is_made_from_the_wheelhouse_without_network(charm: Path, tmp_path: Path, python: str) -> None:
    venv = tmp_path / ".venv"
    script = (
        "import sys\n"
        f"sys.path.append({str(charm / 'lib')!r})\n"
        "from pathlib import Path\n"
        "from charms.layer import basic\n"
        f"wheelhouse = Path({str(charm / 'wheelhouse')!r})\n"
        f"venv = Path({str(venv)!r})\n"
        "basic.make_environment(venv, wheelhouse, basic.wheelhouse_digest(wheelhouse))\n"
        "basic.activate(venv)\n"
        # charmhelpers and charms.reactive import yaml, which units take from the archive: find them,
        # import the rest.
        "import importlib.util, async_timeout, netaddr, redis\n"
        "files = [m.__file__ for m in (async_timeout, netaddr, redis)]\n"
        "files += [importlib.util.find_spec(n).origin for n in ('charmhelpers', 'charms.reactive')]\n"
        "print(all(f.startswith(str(venv)) for f in files))\n"
    )
    # -S: only what the unit would have, not the site-packages of the Python running the tests.
    result = subprocess.run(["unshare", "-n", python, "-S", "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


# What a built charm holds at its top, and nothing else: the charm's own files,
# what charm-build adds (hooks, lib of every layer, bin/ of layer:basic, manifest, version) and the
# wheelhouse `make build` adds.
ALLOWED_AT_TOP = {
    ".build.manifest",
    "README.md",
    "actions",
    "actions.yaml",
    "bin",
    "config.yaml",
    "copyright",
    "hooks",
    "layer.yaml",
    "lib",
    "metadata.yaml",
    "reactive",
    "templates",
    "version",
    "wheelhouse",
}
# What tests, linters, mutation runs and editors leave in a working tree.
LEFTOVERS = [
    ".pytest_cache/v/cache/lastfailed",
    ".ruff_cache/0.17.6/123",
    ".venv-3.10/bin/python3",
    ".venv-3.12/lib/python3.12/site-packages/big.py",
    ".mutmut-cache",
    ".localjuju/models/m/state.json",
    "html/index.html",
    "notes.txt",
    "lib/charms/layer/redis/__pycache__/conf.cpython-311.pyc",
    "reactive/__pycache__/redis.cpython-311.pyc",
    "layers/basic/lib/charms/layer/__pycache__/basic.cpython-311.pyc",
    "interfaces/redis/__pycache__/provides.cpython-311.pyc",
    "templates/redis.conf.j2~",
]


def unexpected_entries(charm: Path) -> list[str]:
    """Entries of a built charm that a unit does not need."""
    found = [entry.name for entry in charm.iterdir() if entry.name not in ALLOWED_AT_TOP]
    for path in charm.rglob("*"):
        relative = path.relative_to(charm).as_posix()
        cache = path.name == "__pycache__" or path.suffix == ".pyc" or path.name.endswith("~")
        hidden = path.name.startswith(".") and relative != ".build.manifest"
        if cache or hidden:
            found.append(relative)
    return sorted(found)


def test_the_built_charm_holds_only_what_a_unit_needs(charm: Path) -> None:
    assert unexpected_entries(charm) == []


def test_leftovers_in_the_source_tree_never_reach_the_charm(tmp_path: Path) -> None:
    source = tmp_path / "source"
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / name, source / name)  # with its mode: actions must stay executable
    for name in LEFTOVERS:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text("left over\n")
    made = subprocess.run(
        ["make", "--no-print-directory", "-C", str(source), "charm-tree", f"VENV={ROOT / '.venv'}"],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    built = source / "build" / "redis"
    assert (built / "reactive" / "redis.py").exists()
    assert unexpected_entries(built) == []


def test_pack_reports_the_archives_size_and_file_count(charm: Path, tmp_path: Path) -> None:
    archive = tmp_path / "redis.charm"
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "pack.py"), str(charm), str(archive)],
        capture_output=True,
        text=True,
        check=True,
    )
    with zipfile.ZipFile(archive) as packed:
        count = len(packed.namelist())
    size = archive.stat().st_size
    assert result.stdout == f"{archive}: {size / 1_000_000:.1f} MB, {count} files\n"
