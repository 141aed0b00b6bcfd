"""Host tuning: the sysctl values, the transparent-huge-pages rule, and what is reported when the kernel refuses.

The files go to a temporary directory and `sysctl` is a stand-in: no test
changes this machine's kernel.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from charms.layer.redis import tuning


def test_somaxconn_is_raised_to_the_tcp_backlog_and_never_lowered() -> None:
    assert tuning.TCP_BACKLOG == 511
    assert "net.core.somaxconn = 511\n" in tuning.sysctl_text(128)
    assert "net.core.somaxconn = 511\n" in tuning.sysctl_text(510)
    assert "net.core.somaxconn = 511\n" in tuning.sysctl_text(511)
    assert "net.core.somaxconn = 4096\n" in tuning.sysctl_text(4096)


def test_overcommit_is_always_allowed() -> None:
    lines = tuning.sysctl_text(4096).splitlines()
    assert "vm.overcommit_memory = 1" in lines
    assert all(line.startswith("#") or " = " in line for line in lines)


@pytest.mark.parametrize(
    ("kernel_says", "always"),
    [
        ("[always] madvise never\n", True),
        ("always [madvise] never\n", False),
        ("always madvise [never]\n", False),
    ],
)
def test_thp_mode_is_the_bracketed_word(kernel_says: str, always: bool) -> None:
    assert tuning.thp_is_always(kernel_says) is always


def test_read_int_falls_back_on_anything_unreadable(tmp_path: Path) -> None:
    good, garbage, empty = tmp_path / "good", tmp_path / "garbage", tmp_path / "empty"
    good.write_text("4096\t1\n")
    garbage.write_text("lots\n")
    empty.write_text("")
    assert tuning.read_int(good, 7) == 4096
    assert tuning.read_int(garbage, 7) == 7
    assert tuning.read_int(empty, 7) == 7
    assert tuning.read_int(tmp_path / "missing", 7) == 7


@dataclass
class FakeSysctl:
    """`sysctl`, answering with `returncode` and recording what it was asked."""

    returncode: int = 0
    commands: list[list[str]] = field(default_factory=list)

    def run(self, command: list[str], check: bool = False, **kwargs: object) -> subprocess.CompletedProcess[str]:
        self.commands.append(command)
        if check and self.returncode:
            raise subprocess.CalledProcessError(self.returncode, command)
        return subprocess.CompletedProcess(command, self.returncode, "", "")


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSysctl:
    """Tuning's files under tmp_path, the kernel's THP mode `always`, and a stand-in sysctl."""
    sysctl = FakeSysctl()
    monkeypatch.setattr(tuning, "SYSCTL_FILE", tmp_path / "etc/sysctl.d/60-redis-charm.conf")
    monkeypatch.setattr(tuning, "TMPFILES_FILE", tmp_path / "etc/tmpfiles.d/redis-charm-thp.conf")
    monkeypatch.setattr(tuning, "THP_ENABLED", tmp_path / "sys/enabled")
    monkeypatch.setattr(tuning, "subprocess", sysctl)
    (tmp_path / "sys").mkdir()
    tuning.THP_ENABLED.write_text("[always] madvise never\n")
    (tmp_path / "proc/net/core").mkdir(parents=True)
    (tmp_path / "proc/net/core/somaxconn").write_text("128\n")
    return sysctl


def test_apply_persists_and_loads_the_sysctl_file(host: FakeSysctl, tmp_path: Path) -> None:
    assert tuning.apply(tmp_path / "proc") == tuning.TuningResult(())
    assert tuning.SYSCTL_FILE.read_text() == tuning.sysctl_text(128)
    assert host.commands == [["sysctl", "-q", "-p", str(tuning.SYSCTL_FILE)]]


def test_apply_reads_the_current_somaxconn_where_it_is_given(host: FakeSysctl, tmp_path: Path) -> None:
    (tmp_path / "proc/net/core/somaxconn").write_text("8192\n")
    tuning.apply(tmp_path / "proc")
    assert "net.core.somaxconn = 8192\n" in tuning.SYSCTL_FILE.read_text()


def test_apply_turns_thp_from_always_to_madvise_now_and_at_every_boot(host: FakeSysctl, tmp_path: Path) -> None:
    tuning.apply(tmp_path / "proc")
    assert tuning.THP_ENABLED.read_text() == "madvise\n"
    rule = [line for line in tuning.TMPFILES_FILE.read_text().splitlines() if not line.startswith("#")]
    assert rule == [f"w {tuning.THP_ENABLED} - - - - madvise"]


def test_apply_leaves_thp_alone_unless_it_is_always(host: FakeSysctl, tmp_path: Path) -> None:
    tuning.THP_ENABLED.write_text("always madvise [never]\n")
    tuning.apply(tmp_path / "proc")
    assert tuning.THP_ENABLED.read_text() == "always madvise [never]\n"


def test_refusals_are_reported_and_the_files_still_written(
    host: FakeSysctl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.returncode = 255  # read-only /proc/sys, as in a container
    monkeypatch.setattr(tuning, "THP_ENABLED", tmp_path / "no-such-dir" / "enabled")
    result = tuning.apply(tmp_path / "proc")
    assert result == tuning.TuningResult(("sysctl", "transparent_hugepage"))
    assert tuning.SYSCTL_FILE.exists() and tuning.TMPFILES_FILE.exists()


def test_applying_twice_is_the_same_as_once(host: FakeSysctl, tmp_path: Path) -> None:
    first = tuning.apply(tmp_path / "proc")
    files = (tuning.SYSCTL_FILE.read_text(), tuning.TMPFILES_FILE.read_text())
    assert tuning.apply(tmp_path / "proc") == first
    assert (tuning.SYSCTL_FILE.read_text(), tuning.TMPFILES_FILE.read_text()) == files


def test_an_unreadable_somaxconn_counts_as_the_kernels_default(host: FakeSysctl, tmp_path: Path) -> None:
    tuning.apply(tmp_path / "no-proc")
    assert "net.core.somaxconn = 4096\n" in tuning.SYSCTL_FILE.read_text()


def test_the_files_are_where_sysctl_systemd_and_the_kernel_read_them() -> None:
    assert [str(tuning.SYSCTL_FILE), str(tuning.TMPFILES_FILE), str(tuning.THP_ENABLED)] == [
        "/etc/sysctl.d/60-redis-charm.conf",
        "/etc/tmpfiles.d/redis-charm-thp.conf",
        "/sys/kernel/mm/transparent_hugepage/enabled",
    ]


def test_nothing_refused_by_default() -> None:
    assert tuning.TuningResult().refused == ()
    assert hash(tuning.TuningResult()) == hash(tuning.TuningResult(()))


def test_the_default_somaxconn_source_is_the_running_kernel() -> None:
    assert tuning.apply.__defaults__ == (Path("/proc/sys"),)
