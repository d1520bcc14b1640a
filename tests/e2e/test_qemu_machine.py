"""A real VM: boot, command, files both ways, snapshot reset, destroy, nothing left behind."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import psutil
import pytest

from toolkit.machines.base import CommandTimedOut
from toolkit.machines.qemu import QemuMachine

from .conftest import qemu_processes_for

pytestmark = pytest.mark.e2e


def test_vm_boots_runs_commands_moves_files_and_leaves_nothing(settings, box, vm_name, tmp_path: Path) -> None:
    machine = QemuMachine.define(settings, vm_name, box)
    machine.up()
    try:
        assert machine.status().state == "running"
        listening = [
            c for c in psutil.net_connections("tcp") if c.status == "LISTEN" and c.laddr.port == machine.record.ssh_port
        ]
        assert listening and {c.laddr.ip for c in listening} == {"127.0.0.1"}, "guest SSH must listen on loopback only"
        assert machine.run("uname -r", timeout=30).stdout.strip() == box.kernel_release
        assert machine.run("id -un", timeout=30).stdout.strip() == "vagrant"
        assert machine.run("id -u", timeout=30, sudo=True).stdout.strip() == "0"
        assert machine.run("exit 7", timeout=30).exit_status == 7

        sent = tmp_path / "to-guest.txt"
        sent.write_text("hello from the host\n")
        machine.put(sent, "/tmp/from-host.txt")
        assert machine.run("cat /tmp/from-host.txt", timeout=30).stdout == "hello from the host\n"
        machine.run("uname -a > /tmp/to-host.txt", timeout=30)
        machine.get("/tmp/to-host.txt", tmp_path / "back.txt")
        assert box.kernel_release in (tmp_path / "back.txt").read_text()
        assert "Linux version" in machine.kernel_log()
    finally:
        machine.destroy()
    assert qemu_processes_for(vm_name) == []
    assert not machine.dir.exists()


def test_command_past_its_timeout_is_stopped_and_the_guest_still_answers(settings, box, vm_name) -> None:
    machine = QemuMachine.define(settings, vm_name, box)
    machine.up()
    try:
        started = time.monotonic()
        with pytest.raises(CommandTimedOut):
            machine.run("sleep 60", timeout=2)
        assert time.monotonic() - started < 30
        assert machine.run("echo alive", timeout=30).stdout.strip() == "alive"
    finally:
        machine.destroy()


def test_reset_rolls_disk_and_clock_back_to_ready(settings, box, vm_name) -> None:
    machine = QemuMachine.define(settings, vm_name, box)
    machine.up()
    try:
        machine.run("touch /home/vagrant/scratch && sync", timeout=30)
        machine.reset()
        assert machine.run("test -e /home/vagrant/scratch", timeout=30).exit_status == 1
        guest_time = float(machine.run("date +%s.%N", timeout=30).stdout)
        assert abs(guest_time - time.time()) < 10
    finally:
        machine.destroy()


def test_vm_tasks_from_the_command_line(settings, box, vm_name) -> None:
    invoke = [str(Path(__file__).parents[2] / ".venv/bin/invoke")]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*invoke, *args], capture_output=True, text=True, timeout=600)

    up = run("vm.up", "--name", vm_name)
    assert up.returncode == 0, up.stderr
    try:
        uname = run("vm.run", "--name", vm_name, "--", "uname", "-r")
        assert (uname.returncode, uname.stdout.strip()) == (0, box.kernel_release)
        assert run("vm.run", "--name", vm_name, "--", "sh", "-c", "exit 3").returncode == 3
        status = run("vm.status", "--name", vm_name)
        assert "running" in status.stdout and ("tcg" in status.stdout or "kvm" in status.stdout)
        assert "vexfs-vmtest: guest ready" in run("vm.console", "--name", vm_name).stdout
        halted = run("vm.halt", "--name", vm_name)
        assert halted.returncode == 0 and "halted" in run("vm.status", "--name", vm_name).stdout
    finally:
        assert run("vm.destroy", "--name", vm_name).returncode == 0
    assert qemu_processes_for(vm_name) == []
