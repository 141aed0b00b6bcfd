"""layers/basic and layers/leadership do what upstream's layers of the same names document, for what they support."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from charms.layer import basic, execd, options

ROOT = Path(__file__).resolve().parents[2]
BASIC = ROOT / "layers" / "basic"
CHARM_ENV = BASIC / "bin" / "charm-env"
LAYER_OPTION = BASIC / "bin" / "layer_option"


@pytest.fixture
def charm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A built charm's directory as a hook sees it: layer.yaml with merged options, lib/ and bin/."""
    charm = tmp_path / "agents" / "unit-redis-0" / "charm"
    charm.mkdir(parents=True)
    layer = {"options": {"basic": {"packages": ["python3-yaml", "python3-jinja2"], "use_venv": True}, "redis": {}}}
    (charm / "layer.yaml").write_text(yaml.safe_dump(layer))
    (charm / "metadata.yaml").write_text("name: redis\n")
    (charm / "lib").symlink_to(BASIC / "lib")
    (charm / "bin").symlink_to(BASIC / "bin")
    monkeypatch.setenv("JUJU_CHARM_DIR", str(charm))
    monkeypatch.setenv("CHARM_DIR", str(charm))
    return charm


def test_options_get_reads_a_section_an_option_or_everything(charm: Path) -> None:
    assert options.get("basic", "packages") == ["python3-yaml", "python3-jinja2"]
    assert options.get("basic")["use_venv"] is True
    assert set(options.get()) == {"basic", "redis"}
    assert options.get("redis", "missing") is None
    assert options.get("nothing") == {}


def test_options_is_still_callable_with_a_section_as_upstream_allows(charm: Path) -> None:
    from charms import layer

    assert layer.options("basic") == options.get("basic")


def test_an_option_without_its_section_is_refused(charm: Path) -> None:
    with pytest.raises(ValueError, match=r"^an option needs its section \(the layer name\)$"):
        options.get(option="packages")


@pytest.mark.parametrize("variable", ["JUJU_CHARM_DIR", "CHARM_DIR"])
def test_the_charm_directory_comes_from_either_variable_juju_sets(
    charm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    for name in ("JUJU_CHARM_DIR", "CHARM_DIR"):
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, str(charm))
    assert options.get("basic", "use_venv") is True
    assert execd.default_execd_dir() == charm / "exec.d"


def layer_option(charm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(charm / "bin" / "layer_option"), *args], capture_output=True, text=True, check=False)


def test_layer_option_prints_lists_line_by_line_and_answers_booleans_with_its_status(charm: Path) -> None:
    listed = layer_option(charm, "basic", "packages")
    assert listed.returncode == 0
    assert listed.stdout == "python3-yaml\npython3-jinja2\n"
    assert layer_option(charm, "basic", "use_venv").returncode == 0
    layer = yaml.safe_load((charm / "layer.yaml").read_text())
    layer["options"]["basic"]["use_venv"] = False
    (charm / "layer.yaml").write_text(yaml.safe_dump(layer))
    assert layer_option(charm, "basic", "use_venv").returncode == 1


def make_step(execd_dir: Path, module: str, script: str) -> Path:
    step = execd_dir / module / "charm-pre-install"
    step.parent.mkdir(parents=True)
    step.write_text(f"#!/bin/sh\n{script}\n")
    step.chmod(0o755)
    return step


def test_execd_steps_run_once_each_in_name_order(charm: Path) -> None:
    ran = charm / "ran"
    make_step(charm / "exec.d", "b-site", f"echo b >> {ran}")
    make_step(charm / "exec.d", "a-proxy", f"echo a >> {ran}")
    execd.execd_preinstall()
    execd.execd_preinstall()
    assert ran.read_text() == "a\nb\n"
    marker = (charm / "exec.d" / ".b-site_charm-pre-install.done").read_text()
    assert (
        marker
        == f"{charm / 'exec.d' / 'b-site' / 'charm-pre-install'} ran successfully; remove this file to run it again\n"
    )
    (charm / "exec.d" / ".a-proxy_charm-pre-install.done").unlink()
    execd.execd_preinstall()
    assert ran.read_text() == "a\nb\na\n"


def fake_status_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    """A `status-set` hook tool first on PATH, running `body`."""
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "status-set").write_text(f"#!/bin/sh\n{body}\n")
    (tools / "status-set").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")


def test_a_failing_execd_step_blocks_the_unit_and_ends_the_hook_and_runs_again_next_hook(
    charm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_status_set(tmp_path, monkeypatch, f'echo "$@" >> {tmp_path}/status')
    make_step(charm / "exec.d", "proxy", "exit 3")
    with pytest.raises(SystemExit) as ended:
        execd.execd_preinstall()
    assert ended.value.code == 0
    assert (tmp_path / "status").read_text() == "blocked Error (3) running exec.d/proxy/charm-pre-install\n"
    assert list(execd.pending(charm / "exec.d"))


def test_a_failing_execd_step_makes_the_next_hook_set_its_status_again(
    charm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from charmhelpers.core import unitdata

    from charms.layer import status_memory

    monkeypatch.setenv("UNIT_STATE_DB", str(tmp_path / "unit-state.db"))
    kv = unitdata.Storage(str(tmp_path / "unit-state.db"))
    kv.set(status_memory.KV_KEY, ["active", "Ready"])
    kv.set("other", "kept")
    kv.flush()
    kv.close()
    fake_status_set(tmp_path, monkeypatch, "true")
    make_step(charm / "exec.d", "proxy", "exit 3")
    with pytest.raises(SystemExit):
        execd.execd_preinstall()  # Juju now shows blocked, whatever the charm set before
    kv = unitdata.Storage(str(tmp_path / "unit-state.db"))
    assert (kv.get(status_memory.KV_KEY), kv.get("other")) == (None, "kept")
    kv.close()


def test_a_failing_execd_step_ends_the_hook_the_same_when_status_set_fails(
    charm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    fake_status_set(tmp_path, monkeypatch, "exit 1")
    make_step(charm / "exec.d", "proxy", "exit 4")
    with pytest.raises(SystemExit) as ended:
        execd.execd_preinstall()
    assert ended.value.code == 0
    assert "Error (4) running exec.d/proxy/charm-pre-install" in capfd.readouterr().err


def wheel(directory: Path, name: str) -> Path:
    path = directory / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("module.py", "")
    return path


def test_a_wheelhouse_with_an_sdist_or_a_compiled_wheel_stops_the_first_hook_with_one_line(tmp_path: Path) -> None:
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    wheel(wheelhouse, "redis-8.1.0-py3-none-any.whl")
    (wheelhouse / ".gitkeep").write_bytes(b"")  # hidden files are not the wheelhouse's content
    basic.refuse_unusable_wheelhouse(wheelhouse)
    (wheelhouse / "netaddr-1.3.0.tar.gz").write_bytes(b"")
    wheel(wheelhouse, "PyYAML-6.0-cp311-cp311-linux_x86_64.whl")
    with pytest.raises(SystemExit) as stopped:
        basic.refuse_unusable_wheelhouse(wheelhouse)
    message = str(stopped.value)
    assert "\n" not in message
    assert "PyYAML-6.0-cp311-cp311-linux_x86_64.whl" in message
    assert "netaddr-1.3.0.tar.gz" in message
    assert "redis-8.1.0" not in message
    assert message == (
        "layer:basic installs only pure-Python wheels (*-none-any.whl) from wheelhouse/, offline; "
        "not installable: PyYAML-6.0-cp311-cp311-linux_x86_64.whl, netaddr-1.3.0.tar.gz "
        "(build them into pure wheels at charm build time)"
    )


@pytest.fixture
def venv(charm: Path) -> Path:
    """The unit's environment as the first hook makes it (no wheels: only what charm-env needs).

    On a unit PyYAML comes from the archive (python3-yaml) through the system
    site-packages; here the Python running the tests may have it elsewhere, so
    the venv is shown where it is, and only it.
    """
    venv = basic.venv_dir(charm)
    wheelhouse = charm / "wheelhouse"
    wheelhouse.mkdir()
    basic.make_environment(venv, wheelhouse, basic.wheelhouse_digest(wheelhouse))
    archive = charm.parent / "archive-packages"
    archive.mkdir()
    (archive / "yaml").symlink_to(Path(yaml.__file__).parent)
    (basic.site_packages(venv) / "archive_packages.pth").write_text(f"{archive}\n")
    return venv


def test_charm_env_runs_a_script_with_the_charms_environment(charm: Path, venv: Path, tmp_path: Path) -> None:
    script = tmp_path / "action"
    script.write_text(
        f"#!{CHARM_ENV} python3\n"
        "import os, sys\n"
        "from charms.layer import options\n"
        "print(sys.prefix, os.environ['JUJU_CHARM_DIR'], options.get('basic', 'use_venv'))\n"
    )
    script.chmod(0o755)
    ran = subprocess.run([str(script)], capture_output=True, text=True, check=True)
    assert ran.stdout.split() == [str(venv.resolve()), str(charm), "True"]


def test_charm_env_finds_the_charm_outside_a_hook(charm: Path, venv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUJU_CHARM_DIR")
    monkeypatch.delenv("CHARM_DIR")
    monkeypatch.setenv("CHARM_ENV_AGENTS_DIR", str(charm.parent.parent))
    command = [str(CHARM_ENV), "--charm", "redis", "printenv", "JUJU_CHARM_DIR"]
    found = subprocess.run(command, capture_output=True, text=True)
    assert found.stdout.strip() == str(charm)
    missing = subprocess.run([str(CHARM_ENV), "--charm", "mysql", "true"], capture_output=True, text=True)
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1 and "--charm" in missing.stderr
    assert subprocess.run([str(CHARM_ENV), "--version"], capture_output=True, text=True).stdout.strip() == "1.0.0"


def test_installed_charm_env_and_layer_option_link_work_from_sbin(charm: Path, venv: Path, tmp_path: Path) -> None:
    sbin = tmp_path / "sbin"
    basic.install_charm_env(charm, sbin)
    assert (sbin / "layer_option").resolve() == (sbin / "charm-env").resolve()
    listed = subprocess.run([str(sbin / "layer_option"), "basic", "packages"], capture_output=True, text=True)
    assert listed.stdout == "python3-yaml\npython3-jinja2\n"


def test_the_venvs_python_registers_the_import_stand_ins(venv: Path) -> None:
    probe = "import sys, distutils, pkg_resources; print('stand-in' in (sys.modules['distutils'].__doc__ or ''))"
    ran = subprocess.run([str(venv / "bin" / "python3"), "-c", probe], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "True"


def test_activate_venv_puts_the_environment_first_and_imports_the_layer_libs(charm: Path, venv: Path) -> None:
    probe = (
        "import sys; sys.path.append('lib')\n"
        "from charms.layer import basic; basic.activate_venv()\n"
        "first = next(p for p in sys.path if p.endswith(('site-packages', 'dist-packages')))\n"
        f"print(first == {str(basic.site_packages(venv))!r}, 'charms.layer.options' in sys.modules)"
    )
    ran = subprocess.run([sys.executable, "-c", probe], cwd=charm, capture_output=True, text=True, check=True)
    assert ran.stdout.split() == ["True", "True"]


def test_import_layer_libs_gives_a_charm_each_module_and_package_of_the_merged_charms_layer(tmp_path: Path) -> None:
    """charm-build merges every layer's lib/charms/layer into one: after import_layer_libs, a charm's
    `from charms import layer` sees each module and package there, and no plain directory or file."""
    lib = tmp_path / "lib"
    shutil.copytree(BASIC / "lib", lib, ignore=shutil.ignore_patterns("__pycache__"))
    merged = lib / "charms" / "layer"
    (merged / "apache.py").write_text("NAME = 'module of another layer'\n")
    (merged / "redis").mkdir()
    (merged / "redis" / "__init__.py").write_text("NAME = 'package of another layer'\n")
    (merged / "templates").mkdir()  # a directory that is not a package
    (merged / "README.md").write_text("not a module\n")
    probe = (
        "import sys\n"
        "from charms import layer\n"
        "layer.import_layer_libs()\n"
        "print(layer.apache.NAME, '/', layer.redis.NAME)\n"
        "print(*sorted(name for name in sys.modules if name.startswith('charms.layer.')))"
    )
    environment = {**os.environ, "PYTHONPATH": str(lib)}
    ran = subprocess.run([sys.executable, "-c", probe], env=environment, capture_output=True, text=True, check=False)
    assert ran.returncode == 0, ran.stderr
    names, imported = ran.stdout.splitlines()
    assert names == "module of another layer / package of another layer"
    every_module = {"apache", "redis", "import_shims", "options", "status_memory"}
    assert {f"charms.layer.{name}" for name in every_module} <= set(imported.split())
    assert "charms.layer.templates" not in imported.split()


@pytest.fixture
def leader_tools(reactive, monkeypatch: pytest.MonkeyPatch) -> dict:
    """is-leader and leader-set as Juju answers them; leader-set can be made to fail."""
    from charmhelpers.core import hookenv

    juju = {"leader": True, "fail": False}

    def leader_set(settings: dict) -> None:
        if juju["fail"]:
            values = [f"{key}={value}" for key, value in settings.items()]
            raise subprocess.CalledProcessError(1, ["leader-set", *values])

    monkeypatch.setattr(hookenv, "is_leader", lambda: juju["leader"])
    monkeypatch.setattr(hookenv, "leader_set", leader_set)
    return juju


def test_leader_set_failures_are_called_process_errors_as_upstream_without_the_values(leader_tools: dict) -> None:
    from charms import leadership

    leader_tools["fail"] = True
    with pytest.raises(subprocess.CalledProcessError) as failed:
        leadership.leader_set(password="s3cret-value")
    assert isinstance(failed.value, leadership.LeaderSetError)
    assert failed.value.cmd == ["leader-set", "password"]
    assert "s3cret-value" not in str(failed.value) and "s3cret-value" not in repr(failed.value)


def test_leader_set_on_a_follower_is_a_called_process_error_and_writes_nothing(leader_tools: dict) -> None:
    from charms import leadership
    from charms.reactive import is_flag_set

    leader_tools["leader"] = False
    with pytest.raises(subprocess.CalledProcessError) as refused:
        leadership.leader_set({"password": "s3cret-value"})
    assert isinstance(refused.value, leadership.NotLeaderError)
    assert "not the leader" in str(refused.value)
    # As the refused leader-set tool would: exit status 1, the keys but not the values in the command.
    assert (refused.value.returncode, refused.value.cmd) == (1, ["leader-set", "password"])
    assert not is_flag_set("leadership.set.password")


def test_charm_env_and_its_wrapper_are_executable_by_all_and_writable_by_root_only(
    charm: Path, venv: Path, tmp_path: Path
) -> None:
    sbin = tmp_path / "usr" / "local" / "sbin"  # on a fresh machine its parents may be missing too
    basic.install_charm_env(charm, sbin)
    basic.install_charm_env(charm, sbin)  # every later bootstrap finds it in place
    for program in (sbin / "charm-env", venv / "bin" / "layer_option"):
        assert stat.S_IMODE(program.stat().st_mode) == 0o755
    assert os.readlink(sbin / "layer_option") == str(sbin / "charm-env")


def test_an_operators_own_program_of_a_wrappers_name_is_left_alone(charm: Path, venv: Path, tmp_path: Path) -> None:
    sbin = tmp_path / "sbin"
    sbin.mkdir()
    (sbin / "layer_option").write_text("#!/bin/sh\necho mine\n")
    basic.install_charm_env(charm, sbin)
    assert not (sbin / "layer_option").is_symlink()
    assert (sbin / "layer_option").read_text() == "#!/bin/sh\necho mine\n"
