"""The accelerator: a /dev/kvm the user may not open is said once, with the group to join, and TCG is used."""

from __future__ import annotations

import grp
import os
import time
from pathlib import Path

import pytest

from toolkit.machines import accel


@pytest.fixture
def as_a_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """Access as a user who owns no file sees it, by the owner's bits: root may open anything."""
    monkeypatch.setattr(accel.os, "access", lambda path, mode: os.stat(path).st_mode & 0o600 == 0o600)


@pytest.fixture
def closed_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_a_user: None) -> Path:
    device = tmp_path / "kvm"
    device.touch(mode=0o000)
    monkeypatch.setattr(accel, "KVM_DEVICE", device)
    accel._warn_once.cache_clear()
    return device


def test_a_device_the_user_cannot_open_is_a_warning_naming_its_group(closed_device: Path) -> None:
    group = grp.getgrgid(closed_device.stat().st_gid).gr_name
    assert accel.kvm_denied_warning(closed_device) == (
        f"warning: {closed_device} is not usable by you (no read/write access): add yourself to group {group} "
        f"(sudo usermod -aG {group} $USER, then log in again) to run guests many times faster; using TCG"
    )


def test_an_open_device_or_none_at_all_is_no_warning(tmp_path: Path, as_a_user: None) -> None:
    device = tmp_path / "kvm"
    assert accel.kvm_denied_warning(device) is None
    device.touch(mode=0o660)
    assert accel.kvm_denied_warning(device) is None


def test_a_closed_device_means_tcg_said_once_and_not_remembered(
    closed_device: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    assert accel.accelerator(state, tmp_path / "vmlinuz", tmp_path / "initrd") == "tcg"
    assert accel.accelerator(state, tmp_path / "vmlinuz", tmp_path / "initrd") == "tcg"
    assert capsys.readouterr().err.splitlines() == [accel.kvm_denied_warning(closed_device)]
    assert not (state / "accel.json").exists()


@pytest.fixture
def open_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_a_user: None) -> None:
    device = tmp_path / "kvm"
    device.touch(mode=0o600)
    monkeypatch.setattr(accel, "KVM_DEVICE", device)


def qemu_that(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    """qemu-system-x86_64 on PATH as a shell script, whatever its arguments."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "qemu-system-x86_64").write_text(f"#!/bin/sh\n{script}\n")
    (folder / "qemu-system-x86_64").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")


def test_kvm_that_boots_the_probe_is_used(open_device: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    qemu_that(tmp_path, monkeypatch, f'echo "Probing EDD"; sleep 0.3; echo "{accel.PROBE_MARKER}"')
    assert accel.kvm_boots(tmp_path / "vmlinuz", tmp_path / "initrd")


def test_a_guest_that_prints_nothing_is_given_up_at_the_first_output_deadline(
    open_device: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accel, "FIRST_OUTPUT_S", 0.5)
    monkeypatch.setattr(accel, "PROBE_TIMEOUT_S", 20.0)
    qemu_that(tmp_path, monkeypatch, "exec sleep 30")
    start = time.monotonic()
    assert not accel.kvm_boots(tmp_path / "vmlinuz", tmp_path / "initrd")
    assert time.monotonic() - start < 10  # the first output's deadline, not the probe's


def test_a_guest_that_prints_is_waited_for_past_the_first_output_deadline(
    open_device: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accel, "FIRST_OUTPUT_S", 0.3)
    qemu_that(tmp_path, monkeypatch, f'echo "Probing EDD"; sleep 0.8; echo "{accel.PROBE_MARKER}"')
    assert accel.kvm_boots(tmp_path / "vmlinuz", tmp_path / "initrd")


def test_a_probe_that_never_ends_or_fails_is_no_kvm(
    open_device: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accel, "PROBE_TIMEOUT_S", 0.8)
    qemu_that(tmp_path, monkeypatch, 'echo "Probing EDD"; exec sleep 30')
    assert not accel.kvm_boots(tmp_path / "vmlinuz", tmp_path / "initrd")
    (tmp_path / "bin").rename(tmp_path / "old")
    qemu_that(tmp_path, monkeypatch, f'echo "{accel.PROBE_MARKER}"; exit 1')
    assert not accel.kvm_boots(tmp_path / "vmlinuz", tmp_path / "initrd")
