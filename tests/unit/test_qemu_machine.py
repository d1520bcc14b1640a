"""A QEMU VM used by two processes: the one going over SSH follows the VM the other restarted on a new port."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from toolkit import config
from toolkit.machines import vm_record
from toolkit.machines.qemu import provider
from toolkit.machines.qemu.provider import QemuMachine


@pytest.fixture
def settings(tmp_path: Path) -> config.Settings:
    return config.load({"cache_dir": str(tmp_path / "cache"), "state_dir": str(tmp_path / "state")}, environ={})


def test_ssh_goes_to_the_port_another_process_restarted_the_vm_on(settings: config.Settings, tmp_path: Path) -> None:
    started = vm_record.VmRecord.new(settings, "shared", "qemu", "6.1", tmp_path / "box", "tcg").with_port(40001)
    folder = vm_record.vm_dir(settings, "shared")
    folder.mkdir(parents=True)
    vm_record.save(folder, started)
    machine = QemuMachine(settings, started)
    assert machine._session(sudo=True).target.port == 40001
    vm_record.save(folder, started.with_port(40002))  # the other process's reset: a new QEMU, a new port
    assert machine._session(sudo=True).target.port == 40002
    assert machine._session().target.port == 40002 and machine.ssh_target().port == 40002


def test_a_vm_whose_record_is_gone_keeps_the_port_it_had(settings: config.Settings, tmp_path: Path) -> None:
    started = vm_record.VmRecord.new(settings, "gone", "qemu", "6.1", tmp_path / "box", "tcg").with_port(40001)
    machine = QemuMachine(settings, started)
    assert machine._session().target.port == 40001


def test_a_qemu_has_exited_once_it_is_gone_or_a_zombie_never_while_it_runs() -> None:
    child = subprocess.Popen(["sleep", "30"])
    process = psutil.Process(child.pid)
    assert not provider.exited(process)
    child.kill()
    while process.status() != psutil.STATUS_ZOMBIE:  # killed, its files closed, not yet reaped
        time.sleep(0.01)
    assert provider.exited(process)
    child.wait()
    assert provider.exited(process)


def test_a_pid_file_is_released_only_once_no_process_holds_its_lock(tmp_path: Path) -> None:
    pidfile = tmp_path / "qemu.pid"
    assert provider.pidfile_released(pidfile)
    pidfile.write_text("1\n")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'rb+'); "
         "fcntl.lockf(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)", str(pidfile)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        assert not provider.pidfile_released(pidfile)
    finally:
        holder.kill()
        holder.wait()
    assert provider.pidfile_released(pidfile)
