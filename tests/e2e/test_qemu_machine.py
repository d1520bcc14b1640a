"""A real VM: boot, command, files both ways, reset to the ready template, destroy, nothing left behind;
the guest agent's timeouts, large outputs and files, a guest that wedges under it, and two VMs restored
from one template at once."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest

from toolkit.machines.protocol import CommandTimedOut, MachineError
from toolkit.machines.qemu.provider import RESUME_NOTE, QemuMachine
from toolkit.machines.qemu.qmp import Qmp

from .conftest import qemu_processes_for

pytestmark = pytest.mark.e2e
INVOKE = Path(__file__).parents[2] / ".venv" / "bin" / "invoke"


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
        with pytest.raises(CommandTimedOut, match="timed out after 2 s: echo started"):
            machine.run("echo started; sleep 61 & sleep 62", timeout=2)
        assert time.monotonic() - started < 30
        assert machine.run("echo alive", timeout=30).stdout.strip() == "alive"
        left = machine.run("ps -eo args | grep -c '^sleep 6[12]$'", timeout=30).stdout.strip()
        assert left == "0", "the command's whole process group is killed at its timeout"
        assert "TIMEOUT after 2 s: echo started" in (machine.dir / "commands.log").read_text()
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
    invoke = [str(INVOKE)]

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


def test_large_outputs_and_files_cross_the_agent_whole(settings, box, vm_name, tmp_path: Path) -> None:
    machine = QemuMachine.define(settings, vm_name, box)
    machine.up()
    try:
        assert machine.run("seq 1 1000000", timeout=120).stdout == "".join(f"{n}\n" for n in range(1, 1000001))
        sent = tmp_path / "sent.bin"
        sent.write_bytes(os.urandom(16 * 1024 * 1024))
        sent.chmod(0o640)
        machine.put(sent, "/tmp/sent.bin")
        seen = machine.run("sha256sum < /tmp/sent.bin; stat -c '%U %a' /tmp/sent.bin", timeout=120).stdout.split()
        assert seen == [hashlib.sha256(sent.read_bytes()).hexdigest(), "-", "vagrant", "640"]
        machine.get("/tmp/sent.bin", tmp_path / "back.bin")
        assert (tmp_path / "back.bin").read_bytes() == sent.read_bytes()
        with pytest.raises(MachineError, match="Permission denied"):
            machine.get("/root/.ssh/authorized_keys", tmp_path / "keys")
    finally:
        machine.destroy()


def test_a_guest_that_wedges_under_the_agent_ends_the_call_as_a_timeout(settings, box, vm_name) -> None:
    machine = QemuMachine.define(settings, vm_name, box)
    machine.up()
    try:
        with Qmp(machine.dir / "qmp.sock") as monitor:
            monitor.execute("stop")  # every vCPU frozen: the agent cannot answer
        started = time.monotonic()
        with pytest.raises(CommandTimedOut, match="the guest stopped answering: uname -r"):
            machine.run("uname -r", timeout=2, sudo=True)
        assert time.monotonic() - started < 60
        with Qmp(machine.dir / "qmp.sock") as monitor:
            monitor.execute("cont")
        assert machine.run("echo back", timeout=30).stdout == "back\n"
        assert "NO ANSWER within" in (machine.dir / "commands.log").read_text()
    finally:
        machine.destroy()


def test_another_process_goes_over_ssh_while_this_one_holds_the_agent(settings, box, vm_name) -> None:
    machine = QemuMachine.define(settings, vm_name, box)
    machine.up()
    try:
        assert machine.run("echo ${SSH_CONNECTION:-agent}", timeout=30).stdout == "agent\n"
        again = QemuMachine(settings, machine.record)  # another object in this process: the same session
        assert again.run("echo ${SSH_CONNECTION:-agent}", timeout=30).stdout == "agent\n"
        other = subprocess.run([str(INVOKE), "vm.run", "--name", vm_name, "--", "sh", "-c", "echo ${SSH_CONNECTION:-agent}"],
                               capture_output=True, text=True, timeout=300)  # fmt: skip
        assert other.returncode == 0 and other.stdout.startswith("10.0.2.2 "), other.stderr
        assert machine.run("echo still", timeout=30).stdout == "still\n"
    finally:
        machine.destroy()


def test_two_vms_restore_from_one_template_at_once_and_stay_apart(settings, box, vm_name) -> None:
    names = [f"{vm_name}-a", f"{vm_name}-b"]
    first = QemuMachine.define(settings, names[0], box)
    first.up()  # the template exists from here on
    first.destroy()
    template = first.template()
    before = [(path.stat().st_mtime_ns, path.stat().st_size) for path in (template.memory, template.disk)]
    vms = [QemuMachine.define(settings, name, box) for name in names]
    try:
        starts = [threading.Thread(target=vm.up) for vm in vms]
        for start in starts:
            start.start()
        for start in starts:
            start.join()
        assert [vm.running() for vm in vms] == [True, True]
        vms[0].run("echo only-a > /home/vagrant/mark && echo only-a > /dev/shm/mark && sync", timeout=30)
        assert vms[1].run("cat /home/vagrant/mark /dev/shm/mark", timeout=30).exit_status == 1
        for vm in vms:
            console = vm.console_text()
            assert "vexfs-vmtest: guest ready" in console and RESUME_NOTE in console
            assert abs(float(vm.run("date +%s.%N", timeout=30).stdout) - time.time()) < 10
        after = [(path.stat().st_mtime_ns, path.stat().st_size) for path in (template.memory, template.disk)]
        assert after == before, "a restore never writes its template"
    finally:
        for vm in vms:
            vm.destroy()
    assert [qemu_processes_for(name) for name in names] == [[], []]
