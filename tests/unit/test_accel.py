"""The accelerator: a /dev/kvm the user may not open is said once, with the group to join, and TCG is used."""

from __future__ import annotations

import grp
import os
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
