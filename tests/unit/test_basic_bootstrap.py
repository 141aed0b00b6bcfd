"""The base layer's bootstrap, piece by piece: where things live, what is installed, how the venv is used."""

from __future__ import annotations

import fcntl
import hashlib
import os
import stat
import sys
import zipfile
from pathlib import Path

import pytest

import charms
from charms.layer import basic, options


@pytest.fixture
def commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory first on PATH for stand-in programs; each logs its arguments to calls.log."""
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")
    return directory


def stand_in(directory: Path, name: str, body: str = "exit 0") -> None:
    path = directory / name
    path.write_text(f'#!/bin/sh\necho "{name} $*" >> {directory / "calls.log"}\n{body}\n')
    path.chmod(0o755)


def calls(directory: Path) -> list[str]:
    log = directory / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_the_charm_directory_comes_from_juju_then_charmhelpers_then_cwd(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JUJU_CHARM_DIR", raising=False)
    monkeypatch.delenv("CHARM_DIR", raising=False)
    assert basic.charm_dir() == tmp_path
    monkeypatch.setenv("CHARM_DIR", "/charm-helpers")
    assert basic.charm_dir() == Path("/charm-helpers")
    monkeypatch.setenv("JUJU_CHARM_DIR", "/juju")
    assert basic.charm_dir() == Path("/juju")


def test_the_venv_lives_beside_the_charm_for_this_python() -> None:
    assert basic.venv_dir(Path("/var/lib/juju/agents/unit-redis-0/charm")) == Path(
        "/var/lib/juju/agents/unit-redis-0/.venv"
    )
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    assert basic.site_packages(Path("/v")) == Path("/v/lib") / version / "site-packages"


def test_the_digest_is_of_this_python_and_each_wheels_name_and_size(tmp_path: Path) -> None:
    (tmp_path / "a-1-py3-none-any.whl").write_bytes(b"12")
    (tmp_path / "b-1-py3-none-any.whl").write_bytes(b"345")
    (tmp_path / "notes.txt").write_text("not a wheel")
    expected = hashlib.sha256(sys.version.encode())
    expected.update(b"a-1-py3-none-any.whl:2\n")
    expected.update(b"b-1-py3-none-any.whl:3\n")
    assert basic.wheelhouse_digest(tmp_path) == expected.hexdigest()


def test_an_environment_without_a_digest_is_not_current(tmp_path: Path) -> None:
    assert not basic.environment_is_current(tmp_path / "missing", "abc")
    (tmp_path / basic.DIGEST_FILE).write_text("abc")
    assert basic.environment_is_current(tmp_path, "abc")
    assert not basic.environment_is_current(tmp_path, "abcd")
    assert basic.DIGEST_FILE == ".wheelhouse-digest"


def test_missing_packages_asks_dpkg_about_each(commands: Path) -> None:
    # As dpkg-query does, it fails for a package it does not know.
    stand_in(commands, "dpkg-query", '[ "$3" = python3-yaml ] && printf "install ok installed" && exit 0; exit 1')
    assert basic.missing_packages(["python3-yaml", "python3-venv"]) == ["python3-venv"]
    assert calls(commands) == [
        "dpkg-query -W -f=${Status} python3-yaml",
        "dpkg-query -W -f=${Status} python3-venv",
    ]
    assert basic.BASE_PACKAGES == ("python3-yaml", "python3-venv")


def test_apt_install_installs_nothing_when_nothing_is_missing(commands: Path) -> None:
    stand_in(commands, "apt-get")
    basic.apt_install([])
    assert calls(commands) == []


def test_apt_install_refreshes_the_lists_once_when_install_fails(
    commands: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEBIAN_FRONTEND", raising=False)
    marker = commands / "updated"
    stand_in(
        commands,
        "apt-get",
        f'echo "env $DEBIAN_FRONTEND" >> {commands / "calls.log"}; '
        f'[ "$1" = update ] && touch {marker}; [ "$1" = update ] || [ -e {marker} ]',
    )
    basic.apt_install(["python3-venv"])
    assert calls(commands) == [
        "apt-get install -y -q --no-install-recommends python3-venv",
        "env noninteractive",
        "apt-get update -q",
        "env noninteractive",
        "apt-get install -y -q --no-install-recommends python3-venv",
        "env noninteractive",
    ]


def test_apt_install_fails_when_the_refresh_does(commands: Path) -> None:
    stand_in(commands, "apt-get", "exit 100")
    with pytest.raises(Exception, match="returned non-zero exit status 100"):
        basic.apt_install(["python3-venv"])
    assert len(calls(commands)) == 2


def test_apt_install_fails_when_install_fails_after_the_refresh(commands: Path) -> None:
    stand_in(commands, "apt-get", '[ "$1" = update ] || exit 100')
    with pytest.raises(Exception, match="returned non-zero exit status 100"):
        basic.apt_install(["python3-venv"])
    assert [call.split()[1] for call in calls(commands)] == ["install", "update", "install"]


def test_a_wheels_data_directories_go_where_an_installer_puts_them(tmp_path: Path) -> None:
    root, scripts = tmp_path / "site", tmp_path / "bin"
    destination = basic._wheel_member_destination
    assert destination("x-1.data/platlib/mod.py", root, scripts) == root / "mod.py"
    assert destination("x-1.data/purelib/pkg/mod.py", root, scripts) == root / "pkg" / "mod.py"
    assert destination("x-1.data/scripts/tool", root, scripts) == scripts / "tool"
    assert destination("x-1.data/data/share/x", root, scripts) is None
    assert destination("x-1.data/purelib", root, scripts) is None
    assert destination("pkg/mod.py", root, scripts) == root / "pkg" / "mod.py"
    for unsafe in ("/etc/passwd", "pkg/../../x", ""):
        with pytest.raises(ValueError, match=r"^unsafe path in wheel: "):
            destination(unsafe, root, scripts)


def test_installing_a_wheel_skips_directory_members_and_makes_nested_folders(tmp_path: Path) -> None:
    wheel = tmp_path / "deep-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("deep/", "")
        archive.writestr("deep/er/mod.py", "X = 1\n")
    target = tmp_path / "a" / "site"
    basic.install_wheel(wheel, target, tmp_path / "bin")
    assert (target / "deep" / "er" / "mod.py").read_text() == "X = 1\n"
    assert not (tmp_path / "bin").exists()


def test_activate_puts_the_venv_before_the_systems_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", ["/charm/lib", "/usr/lib/python3/dist-packages", "/other"])
    monkeypatch.setattr(charms, "__path__", list(charms.__path__))
    monkeypatch.setenv("PATH", "/usr/bin")
    monkeypatch.setenv("VIRTUAL_ENV", "")  # so that teardown removes what activate() sets
    monkeypatch.delenv("VIRTUAL_ENV")
    venv = tmp_path / ".venv"
    basic.activate(venv)
    basic.activate(venv)  # a second time changes nothing
    packages = str(basic.site_packages(venv))
    assert sys.path == ["/charm/lib", packages, "/usr/lib/python3/dist-packages", "/other"]
    assert os.environ["VIRTUAL_ENV"] == str(venv)
    assert os.environ["PATH"] == f"{venv / 'bin'}{os.pathsep}/usr/bin"


def test_activate_goes_before_site_packages_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", ["/charm/lib", "/usr/local/lib/python3.12/site-packages"])
    monkeypatch.setattr(charms, "__path__", list(charms.__path__))
    monkeypatch.setenv("PATH", "/usr/bin")
    basic.activate(tmp_path / ".venv")
    assert sys.path[1] == str(basic.site_packages(tmp_path / ".venv"))


def test_activate_appends_when_there_are_no_system_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", ["/charm/lib"])
    monkeypatch.setattr(charms, "__path__", list(charms.__path__))
    monkeypatch.setenv("PATH", "/usr/bin")
    basic.activate(tmp_path / ".venv")
    assert sys.path == ["/charm/lib", str(basic.site_packages(tmp_path / ".venv"))]


def test_activate_lets_charms_modules_come_from_the_venv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    venv = tmp_path / ".venv"
    (basic.site_packages(venv) / "charms").mkdir(parents=True)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(charms, "__path__", list(charms.__path__))
    monkeypatch.setenv("PATH", "/usr/bin")
    basic.activate(venv)
    assert str(basic.site_packages(venv) / "charms") in list(charms.__path__)


def test_the_unit_state_database_is_made_readable_by_root_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("UNIT_STATE_DB", raising=False)
    basic.restrict_unit_state(tmp_path)
    database = tmp_path / ".unit-state.db"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    elsewhere = tmp_path / "state.db"
    elsewhere.write_text("")
    elsewhere.chmod(0o644)
    monkeypatch.setenv("UNIT_STATE_DB", str(elsewhere))
    basic.restrict_unit_state(tmp_path)
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o600


def test_the_bootstrap_lock_is_exclusive_while_held(tmp_path: Path) -> None:
    lock = tmp_path / ".venv.lock"
    with basic._exclusive(lock), open(lock) as other, pytest.raises(BlockingIOError):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(lock) as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_every_config_flag_of_the_options() -> None:
    assert basic.all_config_flags(["port"]) == {
        "config.changed",
        "config.changed.port",
        "config.set.port",
        "config.default.port",
    }


def test_config_options_come_from_config_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUJU_CHARM_DIR", str(tmp_path))
    assert basic.config_options() == {}
    (tmp_path / "config.yaml").write_text("")
    assert basic.config_options() == {}
    (tmp_path / "config.yaml").write_text("options:\n")
    assert basic.config_options() == {}
    (tmp_path / "config.yaml").write_text("options:\n  port: {type: int, default: 6379}\n")
    assert basic.config_options() == {"port": {"type": "int", "default": 6379}}


def test_layer_options_are_the_merged_layer_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUJU_CHARM_DIR", str(tmp_path))
    assert options() == {} and options("basic") == {}
    (tmp_path / "layer.yaml").write_text("")
    assert options() == {}
    (tmp_path / "layer.yaml").write_text("options:\n  basic:\n    packages: [python3-yaml]\n  leadership:\n")
    assert options("basic") == {"packages": ["python3-yaml"]}
    assert options("leadership") == {}
    assert options() == {"basic": {"packages": ["python3-yaml"]}, "leadership": None}


def test_a_compiled_wheel_is_refused_by_name(tmp_path: Path) -> None:
    wheel = tmp_path / "fast-1.0-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("fast.py", "")
    with pytest.raises(ValueError, match=r"^fast-1\.0-cp311-cp311-linux_x86_64\.whl is not a pure-Python wheel$"):
        basic.install_wheel(wheel, tmp_path / "site", tmp_path / "bin")


def test_the_environment_sees_the_systems_packages_gets_scripts_and_replaces_a_stale_one(tmp_path: Path) -> None:
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    with zipfile.ZipFile(wheelhouse / "tool-1.0-py3-none-any.whl", "w") as archive:
        archive.writestr("tool.py", "")
        archive.writestr("tool-1.0.data/scripts/tool", "#!/bin/sh\n")
    venv = tmp_path / ".venv"
    stale = tmp_path / ".venv.new"
    (stale / "junk").mkdir(parents=True)
    (tmp_path / ".venv.old" / "junk").mkdir(parents=True)  # left by a hook that died
    basic.make_environment(venv, wheelhouse, "digest")
    basic.make_environment(venv, wheelhouse, "digest")  # replacing an existing environment
    assert "include-system-site-packages = true" in (venv / "pyvenv.cfg").read_text()
    assert stat.S_IMODE((venv / "bin" / "tool").stat().st_mode) == 0o755
    assert not stale.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == [".venv", "wheelhouse"]


def test_an_environment_python_cannot_make_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "wheelhouse").mkdir()
    monkeypatch.setattr(sys, "_base_executable", "/bin/false")
    with pytest.raises(Exception, match="returned non-zero exit status 1"):
        basic.make_environment(tmp_path / ".venv", tmp_path / "wheelhouse", "digest")
    assert not (tmp_path / ".venv").exists()


def make_charm(tmp_path: Path) -> Path:
    charm = tmp_path / "charm"
    (charm / "wheelhouse").mkdir(parents=True)
    with zipfile.ZipFile(charm / "wheelhouse" / "dep-1.0-py3-none-any.whl", "w") as archive:
        archive.writestr("dep.py", "X = 1\n")
    (charm / "layer.yaml").write_text("options:\n  basic:\n    packages: [python3-jinja2]\n")
    return charm


@pytest.fixture
def unit_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, commands: Path) -> Path:
    """A charm directory with a one-wheel wheelhouse, dpkg saying everything is installed."""
    charm = make_charm(tmp_path)
    monkeypatch.setenv("JUJU_CHARM_DIR", str(charm))
    monkeypatch.delenv("UNIT_STATE_DB", raising=False)
    monkeypatch.delenv("JUJU_HOOK_NAME", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(charms, "__path__", list(charms.__path__))
    monkeypatch.setenv("PATH", os.environ["PATH"])
    monkeypatch.setenv("VIRTUAL_ENV", "")  # so that teardown removes what activate() sets
    monkeypatch.delenv("VIRTUAL_ENV")
    stand_in(commands, "dpkg-query", 'printf "install ok installed"')
    stand_in(commands, "apt-get", "exit 1")
    return charm


def test_bootstrap_makes_the_environment_once_and_uses_it(unit_env: Path, commands: Path) -> None:
    basic.bootstrap_charm_deps()
    venv = unit_env.parent / ".venv"
    assert (basic.site_packages(venv) / "dep.py").exists()
    assert str(basic.site_packages(venv)) in sys.path
    assert stat.S_IMODE((unit_env / ".unit-state.db").stat().st_mode) == 0o600
    asked = [call.split()[-1] for call in calls(commands)]
    assert asked == ["python3-yaml", "python3-venv", "python3-jinja2"]
    made = (venv / basic.DIGEST_FILE).stat().st_mtime_ns
    basic.bootstrap_charm_deps()
    assert (venv / basic.DIGEST_FILE).stat().st_mtime_ns == made
    assert len(calls(commands)) == 3


def test_upgrade_charm_makes_the_environment_anew(
    unit_env: Path, commands: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    basic.bootstrap_charm_deps()
    venv = unit_env.parent / ".venv"
    (basic.site_packages(venv) / "stale.py").write_text("")
    monkeypatch.setenv("JUJU_HOOK_NAME", "upgrade-charm")
    basic.bootstrap_charm_deps()
    assert not (basic.site_packages(venv) / "stale.py").exists()
    assert (basic.site_packages(venv) / "dep.py").exists()


def test_bootstrap_installs_the_packages_dpkg_lacks(unit_env: Path, commands: Path) -> None:
    stand_in(commands, "dpkg-query", '[ "$3" = python3-jinja2 ] || printf "install ok installed"')
    stand_in(commands, "apt-get")
    basic.bootstrap_charm_deps()
    assert "apt-get install -y -q --no-install-recommends python3-jinja2" in calls(commands)


def test_charm_env_goes_on_roots_path_where_scripts_shebangs_find_it(
    unit_env: Path, commands: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed: list[tuple[Path, Path]] = []
    monkeypatch.setattr(basic, "install_charm_env", lambda charm, sbin: installed.append((charm, sbin)))
    basic.bootstrap_charm_deps()
    assert installed == [(unit_env, Path("/usr/local/sbin"))]  # `#!/usr/local/sbin/charm-env python3`
