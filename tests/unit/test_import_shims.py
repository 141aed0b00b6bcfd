"""The import stand-ins' own rules: version ordering, entry points, handing over to the real module."""

from __future__ import annotations

import sys
import types

import pytest

from charms.layer import import_shims

LooseVersion = import_shims.LooseVersion


def test_versions_split_into_numbers_and_words() -> None:
    assert LooseVersion("3.6-beta1").version == [3, 6, "-", "beta", 1]
    assert LooseVersion("2.9.42.1").version == [2, 9, 42, 1]
    assert LooseVersion("3.6.4").vstring == "3.6.4"
    assert LooseVersion().version == [] and LooseVersion().vstring == ""


def test_a_version_reads_as_itself() -> None:
    assert str(LooseVersion("3.6.4")) == "3.6.4"
    assert repr(LooseVersion("3.6.4")) == "LooseVersion('3.6.4')"


def test_versions_compare_with_versions_and_strings() -> None:
    assert LooseVersion("3.6.10") > LooseVersion("3.6.4")
    assert LooseVersion("3.6.4") <= "3.6.4"
    assert LooseVersion("3.6.4") == "3.6.4" and LooseVersion("3.6.4") != "3.6.5"
    assert LooseVersion("3.6") < "3.6.1"
    assert not LooseVersion("3.6.4") < "3.6.4"


def test_other_types_are_not_versions() -> None:
    with pytest.raises(TypeError):
        _ = LooseVersion("3.6") < 3.6


def test_entry_points_are_found_by_group_and_name() -> None:
    everything = list(import_shims.iter_entry_points("console_scripts"))
    pytest_only = list(import_shims.iter_entry_points("console_scripts", "pytest"))
    assert [entry.name for entry in pytest_only] == ["pytest"]
    assert len(everything) > len(pytest_only)
    assert list(import_shims.iter_entry_points("no.such.group")) == []


def test_a_stand_in_serves_what_it_provides_and_refuses_dunders() -> None:
    module = import_shims._stand_in("not_a_real_module_x", {"VALUE": 1})
    assert module.VALUE == 1
    assert module.__doc__ == "Light stand-in registered by charms.layer.import_shims."
    with pytest.raises(AttributeError):
        module.__path__  # noqa: B018
    with pytest.raises(AttributeError, match=r"^module 'not_a_real_module_x' has no attribute 'OTHER'$"):
        module.OTHER  # noqa: B018


def test_a_package_stand_in_has_a_path() -> None:
    assert import_shims._stand_in("pkg_x", {}, package=True).__path__ == []


def test_a_missing_real_module_leaves_the_stand_ins_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    parent = import_shims._stand_in("absent_pkg_x", {}, package=True)
    child = import_shims._stand_in("absent_pkg_x.child", {"A": 1})
    monkeypatch.setitem(sys.modules, "absent_pkg_x", parent)
    monkeypatch.setitem(sys.modules, "absent_pkg_x.child", child)
    assert import_shims._replace_with_real("absent_pkg_x.child") is None
    assert sys.modules["absent_pkg_x"] is parent and sys.modules["absent_pkg_x.child"] is child


def test_install_leaves_real_modules_that_are_already_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    real_distutils, real_pkg = types.ModuleType("distutils"), types.ModuleType("pkg_resources")
    monkeypatch.setitem(sys.modules, "distutils", real_distutils)
    monkeypatch.setitem(sys.modules, "pkg_resources", real_pkg)
    import_shims.install()
    assert sys.modules["distutils"] is real_distutils and sys.modules["pkg_resources"] is real_pkg


def test_install_registers_both_stand_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("distutils", "distutils.version", "pkg_resources"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import_shims.install()
    assert sys.modules["distutils.version"].LooseVersion is LooseVersion
    assert sys.modules["distutils"].version is sys.modules["distutils.version"]
    assert sys.modules["pkg_resources"].iter_entry_points is import_shims.iter_entry_points
    names = [sys.modules[name].__name__ for name in ("distutils", "distutils.version", "pkg_resources")]
    assert names == ["distutils", "distutils.version", "pkg_resources"]
    assert sys.modules["distutils"].__path__ == []  # a package, so `import distutils.version` works


def test_the_real_module_replaces_its_stand_in_and_the_stand_ins_of_its_submodules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [name for name in sys.modules if name == "json" or name.startswith("json.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "json", import_shims._stand_in("json", {}, package=True))
    monkeypatch.setitem(sys.modules, "json.decoder", import_shims._stand_in("json.decoder", {}))
    real = import_shims._replace_with_real("json")
    assert real is sys.modules["json"] and hasattr(real, "__file__")
    assert hasattr(sys.modules["json.decoder"], "__file__")


def test_replacing_a_submodule_brings_back_its_real_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in sys.modules if name == "json" or name.startswith("json.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "json", import_shims._stand_in("json", {}, package=True))
    monkeypatch.setitem(sys.modules, "json.decoder", import_shims._stand_in("json.decoder", {}))
    real = import_shims._replace_with_real("json.decoder")
    assert real is not None and hasattr(real, "JSONDecoder")
    assert hasattr(sys.modules["json"], "__file__")
