"""The base layer: the unit's Python environment, hook dispatch and the config.* flags.

Every hook starts in hooks/hook.template, which calls `bootstrap_charm_deps()`
and `run_hook()`.

The first hook on a unit makes a virtual environment beside the charm directory
(`../.venv`) from the wheels the charm carries in `wheelhouse/`, with no network:
the build put every pure-Python dependency there, and the compiled ones (PyYAML,
MarkupSafe) come from the Ubuntu archive so that they match the unit's own Python
(3.10 on 22.04, 3.12 on 24.04). The wheels are pure, so installing one is
unpacking it; neither pip nor setuptools is needed on the unit. Later hooks find
the environment current and only put it on sys.path; upgrade-charm, or any
change of the wheelhouse, makes it anew.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pkgutil
import shutil
import subprocess
import sys
import traceback
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from charms.layer import import_shims, status_memory

# What this layer itself needs from the archive; layers add theirs with the
# `packages` option of layer:basic.
BASE_PACKAGES = ("python3-yaml", "python3-venv")
DIGEST_FILE = ".wheelhouse-digest"
# Where charm-env and its wrappers go, as upstream: on root's PATH, outside the charm.
SBIN = "/usr/local/sbin"
CHARM_ENV_WRAPPERS = ("layer_option",)


def charm_dir() -> Path:
    """The charm directory Juju runs the hook in."""
    return Path(os.environ.get("JUJU_CHARM_DIR") or os.environ.get("CHARM_DIR") or os.getcwd())


def venv_dir(charm: Path) -> Path:
    """Where the unit's environment lives: beside the charm, so upgrades keep it."""
    return charm.parent / ".venv"


def site_packages(venv: Path) -> Path:
    """The venv's site-packages for the Python running this hook."""
    return venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"


def wheelhouse_digest(wheelhouse: Path) -> str:
    """Identify a wheelhouse by its wheels' names, sizes and the Python it is installed for.

    Names carry the versions, so a rebuilt charm with other versions (or a unit
    whose Python changed in a series upgrade) gives another digest.
    """
    digest = hashlib.sha256(sys.version.encode())
    for wheel in sorted(wheelhouse.glob("*.whl")):
        digest.update(f"{wheel.name}:{wheel.stat().st_size}\n".encode())
    return digest.hexdigest()


def environment_is_current(venv: Path, digest: str) -> bool:
    """True when `venv` was made from the wheelhouse with this digest."""
    try:
        return (venv / DIGEST_FILE).read_text() == digest
    except OSError:
        return False


def missing_packages(packages: Iterable[str]) -> list[str]:
    """The Ubuntu packages of `packages` that dpkg does not report as installed."""
    missing = []
    for package in packages:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package],
            capture_output=True,
            text=True,
            check=False,
        )
        if "install ok installed" not in result.stdout:
            missing.append(package)
    return missing


def apt_install(packages: list[str]) -> None:
    """Install `packages` from the archive; refresh the package lists once if that fails."""
    if not packages:
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    if subprocess.run(command, env=env, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True)
        subprocess.run(command, env=env, check=True)


def install_wheel(wheel: Path, target: Path, scripts: Path) -> None:
    """Unpack a pure-Python wheel into `target` (site-packages), as an installer would.

    Files under `<dist>.data/purelib|platlib` go to site-packages and
    `<dist>.data/scripts` to `scripts`; headers and data files are not needed by
    a charm and are skipped. A compiled wheel is refused: it would only work on
    the Python it was built for.
    """
    if not wheel.name.endswith("-none-any.whl"):
        raise ValueError(f"{wheel.name} is not a pure-Python wheel")
    root = target.resolve()
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.infolist():
            destination = _wheel_member_destination(member.filename, root, scripts)
            if destination is None or member.is_dir():
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, open(destination, "wb") as sink:
                shutil.copyfileobj(source, sink)
            if destination.parent == scripts:
                destination.chmod(0o755)


def _wheel_member_destination(name: str, root: Path, scripts: Path) -> Path | None:
    """Where a wheel member belongs, or None for members a charm does not need."""
    parts = Path(name).parts
    if not parts or ".." in parts or Path(name).is_absolute():
        raise ValueError(f"unsafe path in wheel: {name}")
    if parts[0].endswith(".data"):
        if len(parts) < 3:
            return None
        if parts[1] in ("purelib", "platlib"):
            return root.joinpath(*parts[2:])
        if parts[1] == "scripts":
            return scripts / parts[-1]
        return None
    return root.joinpath(*parts)


def make_environment(venv: Path, wheelhouse: Path, digest: str) -> None:
    """Make the venv from scratch beside the old one, then swap it in.

    The new environment is complete before it replaces the old, so a hook that
    dies half-way leaves the previous environment (or none) but never a broken one.
    """
    fresh = venv.with_name(venv.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    python = getattr(sys, "_base_executable", None) or sys.executable
    subprocess.run(
        [python, "-m", "venv", "--without-pip", "--system-site-packages", str(fresh)],
        check=True,
    )
    target = site_packages(fresh)
    for wheel in sorted(wheelhouse.glob("*.whl")):
        install_wheel(wheel, target, fresh / "bin")
    install_venv_shims(target)
    (fresh / DIGEST_FILE).write_text(digest)
    retired = venv.with_name(venv.name + ".old")
    shutil.rmtree(retired, ignore_errors=True)
    if venv.exists():
        venv.rename(retired)
    fresh.rename(venv)
    shutil.rmtree(retired, ignore_errors=True)


def install_venv_shims(target: Path) -> None:
    """Make the venv's own python3 register the import stand-ins at start-up, as hooks do.

    Scripts run with `charm-env python3` (actions, operators' scripts) then
    import charmhelpers on Python 3.12, which has no distutils.
    """
    shutil.copy2(Path(import_shims.__file__), target / "_charm_import_shims.py")
    (target / "_charm_import_shims.pth").write_text("import _charm_import_shims; _charm_import_shims.install()\n")


def install_charm_env(charm: Path, sbin: Path) -> None:
    """Install charm-env in `sbin`, with its wrappers, as upstream does.

    `#!/usr/local/sbin/charm-env python3` runs a script with the charm's
    environment; `layer_option SECTION OPTION` prints a layer option. The
    wrappers are links to charm-env, which runs the real command from the venv.
    """
    source = charm / "bin" / "charm-env"
    if not source.is_file():
        return
    sbin.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, sbin / "charm-env")
    (sbin / "charm-env").chmod(0o755)
    venv_bin = venv_dir(charm) / "bin"
    for wrapper in CHARM_ENV_WRAPPERS:
        if (charm / "bin" / wrapper).is_file():
            shutil.copy2(charm / "bin" / wrapper, venv_bin / wrapper)
            (venv_bin / wrapper).chmod(0o755)
        link = sbin / wrapper
        if not link.is_symlink() and not link.exists():
            link.symlink_to(sbin / "charm-env")


def activate(venv: Path) -> None:
    """Put the venv's packages ahead of the system's, in this process and its children."""
    packages = str(site_packages(venv))
    if packages not in sys.path:
        position = next(
            (i for i, entry in enumerate(sys.path) if entry.endswith(("site-packages", "dist-packages"))),
            len(sys.path),
        )
        sys.path.insert(position, packages)
    _extend_charms_namespace()
    os.environ["VIRTUAL_ENV"] = str(venv)
    bin_dir = str(venv / "bin")
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])


def _extend_charms_namespace() -> None:
    """Let `charms.*` modules come from the venv as well as from the charm's lib/.

    The hook imported `charms` (from lib/) before the venv was on sys.path, so
    its package path must be widened for charms.reactive to be found.
    """
    charms = sys.modules.get("charms")
    if charms is not None:
        charms.__path__ = pkgutil.extend_path(list(charms.__path__), "charms")


def bootstrap_charm_deps() -> None:
    """Run exec.d steps, make the unit's environment if it is missing or stale, then use it."""
    from charms.layer.execd import execd_preinstall

    execd_preinstall()
    charm = charm_dir()
    venv = venv_dir(charm)
    wheelhouse = charm / "wheelhouse"
    digest = wheelhouse_digest(wheelhouse)
    upgrading = os.environ.get("JUJU_HOOK_NAME") == "upgrade-charm"
    if upgrading or not environment_is_current(venv, digest):
        with _exclusive(charm.parent / ".venv.lock"):
            if upgrading or not environment_is_current(venv, digest):
                refuse_unusable_wheelhouse(wheelhouse)
                apt_install(missing_packages(BASE_PACKAGES))
                from charms.layer import options

                apt_install(missing_packages(options.get("basic", "packages") or []))
                make_environment(venv, wheelhouse, digest)
                install_charm_env(charm, Path(SBIN))
    activate(venv)
    import_shims.install()
    restrict_unit_state(charm)


def activate_venv() -> None:
    """Use the unit's environment in this process: for actions and scripts that do not run as a hook.

    Upstream's name and purpose; here no interpreter is re-executed, the venv's
    packages are put on sys.path (as every hook does), and the charm's
    charms.layer modules are imported as upstream's `activate_venv` does.
    """
    from charms import layer

    activate(venv_dir(charm_dir()))
    import_shims.install()
    layer.import_layer_libs()


def unusable_wheelhouse_entries(wheelhouse: Path) -> list[str]:
    """The wheelhouse's files a unit cannot install offline: source distributions and compiled wheels."""
    unusable = []
    for entry in sorted(wheelhouse.iterdir()) if wheelhouse.is_dir() else []:
        if entry.name.startswith("."):
            continue
        if not entry.name.endswith("-none-any.whl"):
            unusable.append(entry.name)
    return unusable


def refuse_unusable_wheelhouse(wheelhouse: Path) -> None:
    """Stop the hook with one line if the wheelhouse holds anything but pure-Python wheels.

    Upstream installs sdists with pip (which may build them, or reach the
    network for their build dependencies); this layer installs offline by
    unpacking wheels only, and a skipped sdist would leave a missing module.
    """
    unusable = unusable_wheelhouse_entries(wheelhouse)
    if unusable:
        raise SystemExit(
            f"layer:basic installs only pure-Python wheels (*-none-any.whl) from wheelhouse/, offline; "
            f"not installable: {', '.join(unusable)} (build them into pure wheels at charm build time)"
        )


def restrict_unit_state(charm: Path) -> None:
    """Make the unit's kv store readable by root only, before charmhelpers opens it.

    Handlers keep leader settings (which can hold secrets) in it. SQLite gives
    its journal the database file's mode, so creating the file 0600 is enough.
    """
    database = status_memory.unit_state_database(charm)
    if not database.exists():
        database.touch(mode=0o600)
    database.chmod(0o600)


class _exclusive:
    """An flock held for the duration of a with-block."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: Any = None

    def __enter__(self) -> None:
        self.handle = open(self.path, "a")
        fcntl.flock(self.handle, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def config_flags(
    options: Mapping[str, Mapping[str, Any]],
    current: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
) -> set[str]:
    """The config.* flags that hold for this hook.

    - `config.changed` and `config.changed.<opt>`: the option differs from the
      previous hook's value; on the unit's first hook (`previous` is None) every
      option counts as changed.
    - `config.set.<opt>`: the option has a value that is not empty, zero or false.
    - `config.default.<opt>`: the option equals its default in config.yaml.
    """
    flags: set[str] = set()
    for name, spec in options.items():
        value = current.get(name)
        if previous is None or previous.get(name) != value:
            flags.update(("config.changed", f"config.changed.{name}"))
        if value:
            flags.add(f"config.set.{name}")
        if value == spec.get("default"):
            flags.add(f"config.default.{name}")
    return flags


def all_config_flags(option_names: Iterable[str]) -> set[str]:
    """Every config.* flag this layer may set for these options."""
    flags = {"config.changed"}
    for name in option_names:
        flags.update(f"config.{kind}.{name}" for kind in ("changed", "set", "default"))
    return flags


def config_options() -> dict[str, dict[str, Any]]:
    """The options declared in the charm's config.yaml."""
    import yaml

    config_yaml = charm_dir() / "config.yaml"
    if not config_yaml.exists():
        return {}
    # libyaml's loader where PyYAML has it: the pure-Python one took 17 ms for this file, twice a hook.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return (yaml.load(config_yaml.read_text(), Loader=loader) or {}).get("options") or {}


def init_config_states() -> None:
    """Set the config.* flags for this hook (runs before any handler)."""
    from charmhelpers.core import hookenv

    from charms.reactive import clear_flag, set_flag

    options = config_options()
    config = hookenv.config()
    holding = config_flags(options, config, config._prev_dict)
    for flag in sorted(all_config_flags(options)):
        if flag in holding:
            set_flag(flag)
        else:
            clear_flag(flag)


def clear_config_states() -> None:
    """Clear config.changed and config.changed.<opt> at the end of the hook.

    config.set.* and config.default.* are recomputed at the start of every hook,
    so they too only ever describe the current hook; they are left in place
    between hooks because clearing and setting them again would make
    charms.reactive log (one juju-log call each) two dozen flag changes per hook.
    """
    from charmhelpers.core import unitdata

    from charms.reactive import clear_flag

    for flag in sorted(all_config_flags(config_options())):
        if flag == "config.changed" or flag.startswith("config.changed."):
            clear_flag(flag)
    unitdata.kv().flush()


def run_hook() -> None:
    """Dispatch this hook to the reactive handlers, with the config flags around it.

    This is charms.reactive's `main()` with one difference: the framework's
    own log lines (the "Reactive main running" line, the flag tracer's lines
    and "Invoking reactive handler") are gathered and written in one juju-log
    call at the end of the hook, and only if a flag changed, a handler logged
    a line of its own or the hook failed. A no-op hook (update-status with
    nothing to do, its health check included) then makes no juju-log call.
    Handlers' own log calls are not held back. And status-set is called only
    when the status differs from the one set last (charms.layer.status_memory).
    """
    from charmhelpers.core import hookenv, unitdata

    from charms.layer.hook_trace import HookTrace
    from charms.reactive.trace import install_tracer

    hook = hookenv.hook_name()
    restricted = hook in ("meter-status-changed", "collect-metrics")
    os.environ.setdefault("JUJU_HOOK_NAME", hook)
    trace = HookTrace(f"Reactive main running for hook {hook}", hookenv.log)
    _replace_start_step(install_tracer, trace)
    hookenv.atstart(init_config_states)
    hookenv.atexit(clear_config_states)
    hookenv.log = trace.holding
    memory = status_memory.install(os.environ)
    try:
        _dispatch(trace, restricted)
    except BaseException:
        status_memory.forget_after_failure()
        raise
    finally:
        hookenv.log = trace.log
        status_memory.uninstall(memory)
    unitdata._KV.flush()


def _dispatch(trace: Any, restricted: bool) -> None:
    """Discover and run the handlers between the start and exit steps; note a failure in the trace."""
    from charmhelpers.core import hookenv

    from charms.layer import relation_view
    from charms.reactive import bus

    try:
        bus.discover()
        if not restricted:
            relation_view.install()
            hookenv._run_atstart()
        bus.dispatch(restricted=restricted)
    except Exception:
        trace.note(f"Hook error:\n{traceback.format_exc()}")
        trace.write(hookenv.ERROR)
        raise
    except SystemExit as stop:
        if stop.code not in (None, 0):
            trace.write(hookenv.DEBUG)
            raise
    if not restricted:
        hookenv._run_atexit()
    trace.write(hookenv.DEBUG)


def _replace_start_step(callback: Any, *args: Any) -> None:
    """Give charms.reactive's own start step (registered at its import) other arguments, keeping its place."""
    from charmhelpers.core import hookenv

    steps = hookenv._atstart
    for index, (registered, _args, kwargs) in enumerate(steps):
        if registered is callback:
            steps[index] = (callback, args, kwargs)
            return
    hookenv.atstart(callback, *args)
