"""Locks on VMs and what killed runs leave behind, on a state folder of the test's own."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from toolkit import config
from toolkit.errors import UserError
from toolkit.machines import leftovers, lock, vm_record


@pytest.fixture
def settings(tmp_path: Path) -> config.Settings:
    return config.load({"cache_dir": str(tmp_path / "cache"), "state_dir": str(tmp_path / "state")}, environ={})


def _recorded_vm(settings: config.Settings, name: str) -> Path:
    folder = vm_record.vm_dir(settings, name)
    folder.mkdir(parents=True)
    (folder / vm_record.RECORD).write_text(json.dumps({"name": name}))
    return folder


def test_a_lock_is_reentrant_in_its_process_and_refuses_another(tmp_path: Path) -> None:
    folder = tmp_path / "vm"
    with lock.held(folder, "vm", "a test run"), lock.held(folder, "vm", "a reset"):
        assert not lock.is_free(folder)
        other = subprocess.run(["flock", "-n", str(folder / "lock"), "true"])
        assert other.returncode == 1
        assert lock.holder(folder).startswith("pid ") and "(a test run)" in lock.holder(folder)
    assert lock.is_free(folder)


def test_a_busy_vm_names_its_holder(tmp_path: Path) -> None:
    folder = tmp_path / "vm"
    folder.mkdir()
    script = f"echo 'pid 77 (a matrix run)' > {folder / 'lock'}; sleep 20"
    holder = subprocess.Popen(["flock", str(folder / "lock"), "-c", script])
    try:
        time.sleep(0.5)
        assert not lock.is_free(folder)
        with pytest.raises(UserError, match=r"VM 'vm' is in use by pid 77 \(a matrix run\): wait for it"):
            with lock.held(folder, "vm", "a test run"):
                pass
    finally:
        holder.kill()


def test_the_sweep_removes_what_killed_runs_left_and_keeps_what_is_in_use(settings: config.Settings) -> None:
    orphan = _recorded_vm(settings, "matrix-6.1")
    kept = _recorded_vm(settings, "default")
    busy = _recorded_vm(settings, "matrix-6.12")
    bare = vm_record.vm_dir(settings, "half")
    bare.mkdir()
    (bare / "overlay.qcow2").write_text("")
    building = settings.cache_dir / "boxes" / ".building-bookworm-abc123-999999999"
    building.mkdir(parents=True)
    destroyed: list[str] = []
    with lock.held(busy, "matrix-6.12", "a matrix run"):
        removed = leftovers.sweep(settings, destroyed.append)
    assert destroyed == ["matrix-6.1"] and orphan.exists()  # destroying is the provider's job
    assert removed == [
        "half-built box bookworm-abc123",
        "VM folder half without a record",
        "VM matrix-6.1 of a matrix run that did not finish",
    ]
    assert kept.exists() and busy.exists() and not bare.exists() and not building.exists()


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "../../etc", "a/b", "-x", "a b", "a'b", 'a"b', "é", "x" * 41])
def test_a_name_that_could_lead_out_of_its_folder_or_read_as_a_flag_names_no_vm(settings, name) -> None:
    with pytest.raises(UserError, match="is not allowed: use 1 to 40 letters, digits"):
        vm_record.vm_dir(settings, name)


def test_a_vm_name_is_its_own_folder_in_vms(settings) -> None:
    for name in ("default", "dev-6.1", "A_b.c", "9" * 20):
        assert vm_record.vm_dir(settings, name) == settings.state_dir / "vms" / name


def test_a_name_whose_sockets_qemu_could_not_listen_on_is_refused(tmp_path) -> None:
    deep = config.load({"state_dir": str(tmp_path / ("d" * 80))}, environ={})
    with pytest.raises(UserError, match=r"a socket's path takes at most 107: use a shorter --name, or a shorter"):
        vm_record.vm_dir(deep, "x" * 30)


def test_folders_no_vm_can_be_called_are_neither_listed_nor_swept(settings) -> None:
    odd = vm_record.vms_dir(settings) / "-x"
    odd.mkdir(parents=True)
    (odd / vm_record.RECORD).write_text(json.dumps({"name": "-x"}))
    _recorded_vm(settings, "good")
    assert vm_record.machine_names(settings) == ["good"]
    assert leftovers.sweep(settings, lambda name: None) == [] and odd.exists()


def test_finding_leftovers_removes_nothing(settings) -> None:
    bare = vm_record.vm_dir(settings, "half")
    bare.mkdir(parents=True)
    orphan = _recorded_vm(settings, "matrix-6.1")
    destroyed: list[str] = []
    found = leftovers.find(settings, destroyed.append)
    assert [f.what for f in found] == [
        "VM folder half without a record",
        "VM matrix-6.1 of a matrix run that did not finish",
    ]
    assert bare.exists() and orphan.exists() and destroyed == []


def _fake_qemu(settings: config.Settings, name: str) -> subprocess.Popen[bytes]:
    """A process whose command line reads as QEMU running the overlay of VM name (argv[0] set with exec -a)."""
    overlay = vm_record.vms_dir(settings) / name / "overlay.qcow2"
    script = f"exec -a qemu-system-x86_64 perl -e 'sleep 60' -- -name vexfs-{name} -drive 'file={overlay},if=none'"
    process = subprocess.Popen(["bash", "-c", script])
    time.sleep(0.5)
    return process


def test_only_a_qemu_whose_vm_folder_is_gone_is_stopped(settings) -> None:
    _recorded_vm(settings, "alive")
    alive, orphan = _fake_qemu(settings, "alive"), _fake_qemu(settings, "gone")
    try:
        removed = leftovers.sweep(settings, lambda name: None)
        assert removed == [f"QEMU process {orphan.pid} of VM gone, whose folder is gone"]
        assert orphan.wait(timeout=5) == -9 and alive.poll() is None
    finally:
        alive.kill()
        orphan.kill()
