"""Locks on VMs and what killed runs leave behind, on a state folder of the test's own."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from toolkit import config
from toolkit.errors import UserError
from toolkit.machines import leftovers, lock, record


@pytest.fixture
def settings(tmp_path: Path) -> config.Settings:
    return config.load({"cache_dir": str(tmp_path / "cache"), "state_dir": str(tmp_path / "state")}, environ={})


def _recorded_vm(settings: config.Settings, name: str) -> Path:
    folder = record.vm_dir(settings, name)
    folder.mkdir(parents=True)
    (folder / record.RECORD).write_text(json.dumps({"name": name}))
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
    bare = record.vm_dir(settings, "half")
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
