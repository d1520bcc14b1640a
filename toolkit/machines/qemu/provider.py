"""The qemu provider: a box booted by QEMU directly, through a throw-away qcow2 overlay.

Each VM has its own directory (overlay, console log, monitor and agent sockets, command log) and
its own SSH port on 127.0.0.1. The first boot of a box in a given shape is captured as a ready
template (toolkit/machines/qemu/templates.py); later VMs of that shape, and every reset, restore from
it in a fraction of a second instead of booting. Commands and files go through the guest agent
on a virtio-serial port (toolkit/machines/qemu/agent.py); SSH stays for `vm.ssh`, and for a second
process using the VM while another holds the agent.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path

import psutil

from toolkit import host_checks
from toolkit.config import Settings
from toolkit.errors import UserError
from toolkit.files import atomic_write, remove_tree
from toolkit.machines import keys
from toolkit.machines.protocol import (
    CommandResult,
    CommandTimedOut,
    GuestUnreachable,
    MachineError,
    MachineStatus,
)
from toolkit.machines.qemu import agent, calibration, firmware, ports, templates
from toolkit.machines.qemu.qmp import Qmp, QmpError
from toolkit.machines.qemu.templates import Template
from toolkit.machines.recorded_machine import GUEST_USER, RecordedMachine
from toolkit.machines.ssh import SshSession, SshTarget
from toolkit.machines.vm_record import VmRecord, load, save

# norandmaps: a process's libraries map where the last one's did. QEMU's TCG keys the code it translated by
# virtual address, so with randomized maps every exec translated ld.so and libc again: /bin/true took 29 ms
# in a 6.1 guest, 16 ms without. Kernel address randomization (KASLR) stays.
KERNEL_ARGS = (
    "console=ttyS0,115200 root=/dev/vda rw vexfs.init=/usr/lib/vexfs-vmtest/init "
    "mitigations=off norandmaps tsc=reliable no_timer_check cryptomgr.notests quiet"
)
AGENT_PORT = "vexfs.agent"
PORT_ATTEMPTS = 5
CAPTURE_TIMEOUT_S = 120.0
# Until a socket listens on port 22 (state 0A) in the guest: its sshd is ready for connections.
SSHD_LISTENING = (
    "until grep -qsE '^ *[0-9]+: [0-9A-F]+:0016 [0-9A-F]+:0000 0A ' /proc/net/tcp /proc/net/tcp6; do sleep 0.05; done"
)
SSHD_TIMEOUT_S = 60.0
RELEASE_TIMEOUT_S = 60.0  # for an ended QEMU's last thread to let go of its files
RESUME_NOTE = "\n--- vexfs-vmtest: the boot above was saved as the ready snapshot; resumed from it ---\n"


class NotRunning(GuestUnreachable, UserError):
    """The VM is not running: a user's command is told to start it (a UserError), a run that was using it has
    lost its guest (a MachineError: the guest is replaced, or the tests not run are errors)."""


@dataclass(frozen=True)
class RamFile:
    """Guest RAM kept in a file: shared while a template is captured into it, else mapped privately
    (copy-on-write: pages load when touched, writes stay in this VM) for a restore."""

    path: Path
    shared: bool


@dataclass(frozen=True)
class Launch:
    """Everything one QEMU start needs; turned into a command line by qemu_command."""

    vm_dir: Path
    kernel: Path
    initrd: Path
    accel: str
    cpus: int
    memory_mib: int
    ssh_port: int
    public_key: Path
    ram: RamFile | None = None  # None: anonymous RAM, a plain boot
    extra_args: tuple[str, ...] = ()
    bios: str = ""  # a firmware file in QEMU's data folders (firmware.py); "": QEMU's default


def machine_args(launch: Launch) -> list[str]:
    """The emulated machine: what a template's device state only restores into (no file of any VM in it)."""
    cpu = "host" if launch.accel == "kvm" else "max"
    machine = "q35" if launch.ram is None else "q35,memory-backend=ram"
    bios = ["-bios", launch.bios] if launch.bios else []
    return [
        *bios, "-machine", machine, "-accel", launch.accel, "-cpu", cpu, "-smp", str(launch.cpus),
        "-m", str(launch.memory_mib), "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-device", "virtio-blk-pci,drive=disk0", "-device", "virtio-net-pci,netdev=net0,romfile=",
        "-device", "virtio-rng-pci", "-device", "virtio-serial-pci",
        "-device", f"virtserialport,chardev=agent,name={AGENT_PORT}", "-serial", "chardev:console",
    ]  # fmt: skip


def qemu_command(launch: Launch) -> list[str]:
    """The QEMU command line for one start; daemonized, monitor and agent on unix sockets in the VM dir."""
    vm = launch.vm_dir
    command = [
        "qemu-system-x86_64", "-name", f"vexfs-{vm.name}", *machine_args(launch),
        "-kernel", str(launch.kernel), "-initrd", str(launch.initrd), "-append", " ".join([KERNEL_ARGS, *launch.extra_args]),
        "-drive", f"file={vm / 'overlay.qcow2'},if=none,id=disk0,format=qcow2,cache=unsafe",
        "-netdev", f"user,id=net0,hostfwd=tcp:127.0.0.1:{launch.ssh_port}-:22",
        "-chardev", f"socket,id=agent,path={vm / 'agent.sock'},server=on,wait=off",
        "-chardev", f"file,id=console,path={vm / 'console.log'},append=on",
        "-qmp", f"unix:{vm / 'qmp.sock'},server=on,wait=off",
        "-fw_cfg", f"name=opt/vexfs/authorized_keys,file={launch.public_key}",
        "-pidfile", str(vm / "qemu.pid"), "-daemonize",
    ]  # fmt: skip
    if launch.ram is not None:
        share = "on" if launch.ram.shared else "off"
        memory = f"memory-backend-file,id=ram,size={launch.memory_mib}M,mem-path={launch.ram.path},share={share}"
        command += ["-object", memory]
        if not launch.ram.shared:
            command += ["-incoming", "defer"]
    return command


def exited(process: psutil.Process) -> bool:
    """Whether QEMU's main thread has ended. Its command line empties as it unmaps its memory, which under load
    takes seconds; its other threads may still hold its files then (see pidfile_released)."""
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def pidfile_released(path: Path) -> bool:
    """Whether no QEMU holds the lock on its pid file any more. A QEMU killed with 2 GiB of poisoned RAM in a shared
    file can show its main thread as a zombie while it still holds its files: a QEMU started for the same VM then
    failed with "Cannot lock pid file" (the capture's second boot, with lpj=, on a loaded host)."""
    try:
        with open(path, "rb+") as pidfile:
            fcntl.lockf(pidfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except FileNotFoundError:
        return True
    except (BlockingIOError, PermissionError):
        return False
    return True


class QemuMachine(RecordedMachine):
    """A VM run by QEMU with no daemon; see the module docstring."""

    provider = "qemu"
    has_snapshots = True

    def __init__(self, settings: Settings, record: VmRecord) -> None:
        super().__init__(settings, record)
        self._agent = agent.shared(self.dir, self.commands_log, self.slowdown)

    @staticmethod
    def require_host_tools(settings: Settings) -> None:
        host_checks.require_tool("qemu-system-x86_64")
        host_checks.require_tool("qemu-img")

    @staticmethod
    def prepare_host(settings: Settings) -> list[str]:
        """Nothing to change: ./setup installed what the provider needs; check it is all there."""
        host_checks.require_host_tools("qemu")
        return []

    def _save(self) -> None:
        save(self.dir, self.record)

    @property
    def overlay(self) -> Path:
        return self.dir / "overlay.qcow2"

    def ssh_target(self, user: str = GUEST_USER) -> SshTarget:
        key = keys.ensure_key(self.settings.state_dir)
        return SshTarget("127.0.0.1", self.record.ssh_port, user, key, self.slowdown)

    def pid(self) -> int | None:
        """QEMU's pid while it runs this VM, else None."""
        try:
            pid = int((self.dir / "qemu.pid").read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ValueError):
            return None
        return pid if str(self.overlay).encode() in cmdline else None

    def running(self) -> bool:
        return self.pid() is not None

    def _launch(self, ram: RamFile | None = None, more_args: tuple[str, ...] = ()) -> Launch:
        box = self.box
        key = keys.public_key(keys.ensure_key(self.settings.state_dir))
        return Launch(
            self.dir, box.kernel, box.initrd, self.record.accel, self.record.cpus, self.record.memory_mib,
            self.record.ssh_port, key, ram, (*self.debug_args(), *more_args), firmware.bios(firmware.data_dirs()),
        )  # fmt: skip

    def template(self) -> Template:
        """The ready template this VM restores from (captured on first need), keyed by the machine it restores
        into: RAM in a file, wherever that file is."""
        fingerprint = keys.fingerprint(keys.ensure_key(self.settings.state_dir))
        restoring = self._launch(RamFile(Path("memory.ram"), shared=False))
        return templates.for_vm(
            self.record, self.box, fingerprint, [KERNEL_ARGS, *restoring.extra_args, *machine_args(restoring)]
        )

    def up(self, cold: bool = False) -> None:
        """Restore the VM from its ready template (or boot it: a halted VM, or cold=True)."""
        if self.running():
            return
        template = self.template()
        if self.overlay.exists():
            self._start(self._launch())  # a halted VM boots its own disk again
        elif cold and template.exists():
            self._new_overlay(self.box.disk)
            self._start(self._launch())
        else:
            self._from_template(template)

    def _new_overlay(self, backing: Path) -> None:
        self.overlay.unlink(missing_ok=True)
        command = ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(backing), "-F", "qcow2", str(self.overlay)]
        subprocess.run(command, check=True, capture_output=True)

    def _from_template(self, template: Template) -> None:
        """Restore from template, capturing it first from a fresh boot when nobody has yet."""
        if not template.exists():
            with templates.lock(template):
                if not template.exists():
                    self._capture(template)
        self._restore(template)

    def _restore(self, template: Template) -> None:
        """A new overlay on the template's disk, its RAM mapped privately, its device state loaded, the clock set."""
        self._new_overlay(template.disk)
        boot_log = template.console.read_text(errors="replace") if template.console.exists() else ""
        self.console_log.write_text(boot_log + RESUME_NOTE)
        self._start(self._launch(RamFile(template.memory, shared=False)), template)

    def _start(self, launch: Launch, template: Template | None = None) -> None:
        """Start QEMU on a free SSH port (restoring template's device state when given) and wait until the
        agent answers; on failure QEMU is stopped and the console kept."""
        for _ in range(PORT_ATTEMPTS):
            self.record = self.record.with_port(ports.free_port())
            launch = replace(launch, ssh_port=self.record.ssh_port)
            (self.dir / "qmp.sock").unlink(missing_ok=True)
            done = subprocess.run(qemu_command(launch), capture_output=True, text=True, stdin=subprocess.DEVNULL)
            if done.returncode == 0:
                break
            if "host forwarding rule" not in done.stderr:
                raise MachineError(f"QEMU did not start: {done.stderr.strip().splitlines()[-1:]}")
        else:
            raise MachineError(f"QEMU found no free SSH port after {PORT_ATTEMPTS} tries")
        self._save()
        self._drop_sessions()
        try:
            if template is not None:
                with Qmp(self.dir / "qmp.sock") as monitor:
                    monitor.load_devices(template.devices, self.settings.boot_timeout_s * self.slowdown)
            self._wait_ready()
            if template is None:
                self._wait_for_sshd()
            else:
                self._set_clock()
        except MachineError:
            self._stop(keep_disk=template is None)
            raise

    def _wait_ready(self) -> None:
        """Until the agent answers: init starts it once the boot script is done (or at once, restored); until SSH
        answers while another process holds the agent."""
        deadline = time.monotonic() + self.settings.boot_timeout_s * self.slowdown
        try:
            if self._agent.claim():
                self._agent.wait_until_ready(deadline)
            else:
                self._session(sudo=True).wait_until_ready(deadline)
        except GuestUnreachable as error:
            raise GuestUnreachable(f"{error}; console: {self._console_tail()}") from None

    def _wait_for_sshd(self) -> None:
        """Until the booted guest's sshd listens. Init starts it beside the agent, so the agent may answer first; a
        template captured then would give every VM restored from it a moment when SSH connections are reset."""
        timeout = SSHD_TIMEOUT_S * self.slowdown
        try:
            self.run(SSHD_LISTENING, timeout=timeout, sudo=True)
        except CommandTimedOut:
            raise GuestUnreachable(
                f"the guest's sshd did not listen within {timeout:g} s; console: {self._console_tail()}"
            ) from None

    def _set_clock(self) -> None:
        """The host's time in a restored guest, which wakes with its template's."""
        if self._agent.claim():
            self._agent.set_clock(time.time())
        else:
            self.run(f"date -u -s @{time.time():.3f} >/dev/null", timeout=30, sudo=True)

    def log_files(self) -> list[Path]:
        """What to keep with a run's results: the serial console and every command run."""
        return [self.console_log, self.dir / "commands.log"]

    def _console_tail(self, lines: int = 3) -> str:
        tail = " | ".join(line.strip() for line in self.console_text().splitlines()[-lines:])
        return f"{tail} (full log: {self.console_log})"

    def _capture(self, template: Template) -> None:
        """Boot a fresh disk with RAM in the template's file, then keep disk, RAM and device state as the template."""
        with templates.capture_into(template) as partial:
            ram = RamFile(partial.memory, shared=True)
            self._new_overlay(self.box.disk)
            self._start(self._launch(ram))
            lpj = calibration.boot_cpu_lpj_if_uneven(self.run(calibration.COMMAND, timeout=30, sudo=True).stdout)
            if lpj is not None:  # see calibration.py: boot again, every vCPU's delay loop the boot CPU's
                self._stop(keep_disk=False)
                self.console_log.write_text("")
                self._new_overlay(self.box.disk)
                self._start(self._launch(ram, (f"lpj={lpj}",)))
            self.run("sync", timeout=60 * self.slowdown, sudo=True)
            self._drop_sessions()
            with Qmp(self.dir / "qmp.sock") as monitor:
                monitor.save_devices(partial.devices, CAPTURE_TIMEOUT_S * self.slowdown)
            self._stop(keep_disk=True)
            atomic_write(partial.console, self.console_text())
            os.replace(self.overlay, partial.disk)

    def _stop(self, keep_disk: bool, grace_s: float = 10.0) -> None:
        """Stop QEMU: a monitor quit when its disk is kept (then SIGKILL if it lingers), else SIGKILL at once."""
        self._drop_sessions()
        pid = self.pid()
        if pid is None:
            return
        try:
            process = psutil.Process(pid)
        except psutil.NoSuchProcess:
            return
        if keep_disk:
            try:
                with Qmp(self.dir / "qmp.sock", timeout=5) as monitor:
                    monitor.execute("quit")
            except (OSError, QmpError):
                pass
            deadline = time.monotonic() + grace_s
            while not exited(process) and time.monotonic() < deadline:
                time.sleep(0.05)
        if not exited(process):
            process.kill()
            while not exited(process):
                time.sleep(0.01)
        deadline = time.monotonic() + RELEASE_TIMEOUT_S
        while not pidfile_released(self.dir / "qemu.pid") and time.monotonic() < deadline:
            time.sleep(0.05)

    def _drop_sessions(self) -> None:
        self._agent.close()
        super()._drop_sessions()

    def _session(self, sudo: bool = False) -> SshSession:
        """An SSH connection to the QEMU running now: one another process restarted listens on a port of its own,
        saved in the VM's record, and what this process had opened to the old one leads nowhere."""
        try:
            saved = load(self.settings, self.name)
        except UserError:
            saved = self.record  # gone or unreadable: the call fails as it would have
        if saved.ssh_port != self.record.ssh_port:
            self.record = saved
            super()._drop_sessions()
        return super()._session(sudo)

    def _require_running(self) -> None:
        self.require_folder()
        if not self.running():
            raise NotRunning(f"VM {self.name!r} is not running: `invoke vm.up --name {self.name}`")

    def run(self, command: str, timeout: float, sudo: bool = False) -> CommandResult:
        """Over the agent; over SSH while another process holds the agent."""
        self._require_running()
        if self._agent.claim():
            return self._agent.run(command, timeout, "root" if sudo else GUEST_USER)
        return self._session(sudo).run(command, timeout)

    def interrupt(self) -> None:
        self._agent.interrupt()
        super().interrupt()

    def put(self, local: Path, remote: str) -> None:
        self._require_running()
        if self._agent.claim():
            return self._agent.put(local, remote, GUEST_USER)
        self._session().put(local, remote)

    def get(self, remote: str, local: Path) -> None:
        self._require_running()
        if self._agent.claim():
            return self._agent.get(remote, local, GUEST_USER)
        self._session().get(remote, local)

    def reset(self) -> None:
        """Roll the VM back to its ready template: disk and memory, whatever the guest was doing.

        A new QEMU process restores the template: the guest's TSC then continues from the template's,
        as a migrated guest's does, so the restored kernel sees no time jump (and reports no RCU stall
        that no module caused); its clock is set from the host's.
        """
        self.replace()

    def use_debug(self, tier: str) -> None:
        """Run in another debug tier from now on: a fresh guest from that tier's ready template."""
        if tier == self.record.debug:
            return
        self.record = self.record.with_debug(tier)
        self._save()
        self.replace()

    def replace(self) -> None:
        """A fresh guest in place of this one: QEMU killed, overlay thrown away, restored from the template."""
        self.require_folder()
        self._stop(keep_disk=False)
        self.overlay.unlink(missing_ok=True)
        self.up()

    def halt(self) -> None:
        """Stop the VM and keep its disk; the next `up` boots it again."""
        if self.running():
            try:
                self.run("sync", timeout=15)
            except MachineError:
                pass
        self._stop(keep_disk=True)

    def destroy(self) -> None:
        """Stop QEMU and delete everything the VM had."""
        self._stop(keep_disk=False)
        remove_tree(self.dir)

    def status(self) -> MachineStatus:
        pid = self.pid()
        box = Path(self.record.box).name
        details = {
            "console": str(self.console_log),
            "cpus": str(self.record.cpus),
            "memory": f"{self.record.memory_mib} MiB",
        }
        if pid is None:
            return MachineStatus(
                self.name, self.provider, "halted", self.record.kernel_line, box, self.record.accel, "", details
            )
        ssh = f"127.0.0.1:{self.record.ssh_port}"
        details["pid"] = str(pid)
        return MachineStatus(
            self.name, self.provider, "running", self.record.kernel_line, box, self.record.accel, ssh, details
        )
