"""What the host needs, by command, and the package for each on Debian/Ubuntu, Fedora and Arch: one table,
read by toolkit/host_tools.py for its messages and by ./setup before anything is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit import host_checks, host_tools
from toolkit.errors import UserError

REPO = Path(__file__).parents[2]
QEMU_COMMANDS = [tool.need for tool in host_tools.table().values() if tool.needed_by == "qemu" and tool.need[0] != "/"]


def stub_commands(folder: Path, *names: str) -> Path:
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / name).write_text("#!/bin/sh\n")
        (folder / name).chmod(0o755)
    return folder


def test_every_row_of_the_table_names_a_package_on_each_distribution() -> None:
    rows = [line.split() for line in host_tools.TABLE.read_text().splitlines() if line and line[0] != "#"]
    assert rows and all(len(row) == 5 for row in rows)
    assert {row[1] for row in rows} == {"setup", "qemu", "vagrant", "libvirt", "plugin"}


def test_a_missing_command_names_its_package_on_each_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(
        UserError,
        match=r"^qemu-system-x86_64 not found: run \./setup as root, or install qemu-system-x86 \(Debian/Ubuntu\), qemu-system-x86-core "
        r"\(Fedora\) or qemu-system-x86 \(Arch\)$",
    ):
        host_checks.require_tool("qemu-system-x86_64")


def test_a_command_the_table_does_not_know_is_still_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(UserError, match=r"^no-such-tool not found: install it$"):
        host_checks.require_tool("no-such-tool")


def test_a_file_is_found_by_its_path_and_a_command_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(stub_commands(tmp_path / "bin", "zstd")))
    assert host_checks.require_tool("zstd") == str(tmp_path / "bin" / "zstd")
    assert host_tools.locate(str(tmp_path / "bin")) == str(tmp_path / "bin")
    assert host_tools.locate(str(tmp_path / "absent.gpg")) is None


def test_the_qemu_provider_names_all_it_lacks_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    present = [name for name in QEMU_COMMANDS if name not in ("qemu-img", "ssh", "ssh-keygen")]
    monkeypatch.setenv("PATH", str(stub_commands(tmp_path / "bin", *present)))
    commands = [tool for tool in host_tools.missing("qemu") if tool.need[0] != "/"]
    assert [tool.need for tool in commands] == ["qemu-img", "ssh", "ssh-keygen"]
    assert host_tools.packages(commands) == (
        "qemu-utils openssh-client (Debian/Ubuntu), qemu-img openssh-clients (Fedora) or qemu-img openssh (Arch)"
    )
    with pytest.raises(
        UserError,
        match=r"^qemu-img, ssh, ssh-keygen.* not found: run \./setup as root, or install qemu-utils openssh-client",
    ):
        host_checks.require_host_tools("qemu")


def run_setup(tmp_path: Path, os_release: str, *commands: str) -> subprocess.CompletedProcess[str]:
    """./setup on a host whose PATH has no apt-get or dpkg: only bash, dirname, python3 and stubs of commands."""
    bin_dir = stub_commands(tmp_path / "bin", *commands)
    for name, target in (("bash", shutil.which("bash")), ("dirname", shutil.which("dirname"))):
        (bin_dir / name).symlink_to(str(target))
    (bin_dir / "python3").symlink_to(os.path.realpath(sys.executable))
    (tmp_path / "os-release").write_text(os_release)
    environment = {"PATH": str(bin_dir), "VEXFS_OS_RELEASE": str(tmp_path / "os-release")}
    return subprocess.run([str(REPO / "setup")], capture_output=True, text=True, env=environment, timeout=60)


def test_setup_on_fedora_names_the_fedora_package_and_the_dnf_command(tmp_path: Path) -> None:
    present = [name for name in QEMU_COMMANDS if name != "mmdebstrap"]
    done = run_setup(tmp_path, 'NAME="Fedora Linux"\nID=fedora\n', *present)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert "[setup] missing mmdebstrap: Fedora package mmdebstrap" in lines
    assert lines[-1].startswith("error: mmdebstrap") and "not found: sudo dnf install mmdebstrap" in lines[-1]


def test_setup_on_a_distribution_like_arch_gives_the_pacman_command(tmp_path: Path) -> None:
    present = [name for name in QEMU_COMMANDS if name not in ("ssh", "ssh-keygen", "qemu-system-x86_64")]
    done = run_setup(tmp_path, "ID=manjaro\nID_LIKE=arch\n", *present)
    assert done.returncode == 2
    assert "[setup] missing ssh-keygen: Arch package openssh" in done.stderr.splitlines()
    assert "not found: sudo pacman -S qemu-system-x86 openssh" in done.stderr.splitlines()[-1]


def in_system_dirs(command: str) -> bool:
    """command is in this host's sbin folders, where ./setup and the toolkit find it whatever PATH says."""
    return any((Path(folder) / command).exists() for folder in host_tools.SYSTEM_COMMANDS.split(":"))


def test_a_system_command_is_found_though_path_lacks_sbin(monkeypatch: pytest.MonkeyPatch) -> None:
    if not in_system_dirs("mkfs.ext4"):
        pytest.skip("no mkfs.ext4 in this host's sbin folders")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert host_tools.locate("mkfs.ext4") in [f"{folder}/mkfs.ext4" for folder in host_tools.SYSTEM_COMMANDS.split(":")]


def test_setup_elsewhere_names_every_qemu_command_of_the_table_with_all_three_packages(tmp_path: Path) -> None:
    done = run_setup(tmp_path, "ID=alpine\n")
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    for tool in host_tools.table().values():
        if tool.need in QEMU_COMMANDS and not in_system_dirs(tool.need):
            assert (
                f"[setup] missing {tool.need}: {tool.debian} (Debian/Ubuntu), {tool.fedora} (Fedora), {tool.arch} (Arch)"
                in lines
            )
    assert lines[-1].endswith("not found: install the packages above with your distribution's package manager")
