"""The qemu provider: a box booted by QEMU directly, through a throw-away qcow2 overlay.

Each VM has its own directory (overlay, console log, monitor socket, command log) and its
own SSH port on 127.0.0.1. The first boot of a box saves a `ready` snapshot inside the
overlay and keeps a copy of that overlay as a template, so later VMs of the same box
resume from it in under a second instead of booting.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from toolkit import host
from toolkit.boxes.store import Box
from toolkit.config import Settings
from toolkit.errors import UserError
from toolkit.files import atomic_write, remove_tree
from toolkit.machines import keys, ports
from toolkit.machines.base import CommandResult, GuestUnreachable, MachineError, MachineStatus
from toolkit.machines.qmp import Qmp, QmpError
from toolkit.machines.record import VmRecord, save
from toolkit.machines.recorded import GUEST_USER, RecordedMachine
from toolkit.machines.ssh import SshTarget

SNAPSHOT = "ready"
READY_MARKER = "vexfs-vmtest: guest ready"
KERNEL_ARGS = (
    "console=ttyS0,115200 root=/dev/vda rw vexfs.init=/usr/lib/vexfs-vmtest/init "
    "mitigations=off tsc=reliable no_timer_check cryptomgr.notests quiet"
)
PORT_ATTEMPTS = 5
RESUME_NOTE = "\n--- vexfs-vmtest: the boot above was saved as the ready snapshot; resumed from it ---\n"


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
    resume: bool
    extra_args: tuple[str, ...] = ()


def qemu_command(launch: Launch) -> list[str]:
    """The QEMU command line for one start; daemonized, monitor on a unix socket in the VM dir."""
    vm = launch.vm_dir
    cpu = "host" if launch.accel == "kvm" else "max"
    command = [
        "qemu-system-x86_64", "-name", f"vexfs-{vm.name}", "-machine", "q35", "-accel", launch.accel,
        "-cpu", cpu, "-smp", str(launch.cpus), "-m", str(launch.memory_mib),
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-kernel", str(launch.kernel), "-initrd", str(launch.initrd), "-append", " ".join([KERNEL_ARGS, *launch.extra_args]),
        "-drive", f"file={vm / 'overlay.qcow2'},if=none,id=disk0,format=qcow2,cache=unsafe",
        "-device", "virtio-blk-pci,drive=disk0",
        "-netdev", f"user,id=net0,hostfwd=tcp:127.0.0.1:{launch.ssh_port}-:22",
        "-device", "virtio-net-pci,netdev=net0,romfile=",
        "-device", "virtio-rng-pci",
        "-chardev", f"file,id=console,path={vm / 'console.log'},append=on", "-serial", "chardev:console",
        "-qmp", f"unix:{vm / 'qmp.sock'},server=on,wait=off",
        "-fw_cfg", f"name=opt/vexfs/authorized_keys,file={launch.public_key}",
        "-pidfile", str(vm / "qemu.pid"), "-daemonize",
    ]  # fmt: skip
    if launch.resume:
        command += ["-loadvm", SNAPSHOT]
    return command


def template_path(record: VmRecord, box: Box, key: Path, boot_args: tuple[str, ...]) -> Path:
    """The ready overlay for this box and machine shape (SSH key and the tier's boot arguments: the snapshot
    holds both).

    It lives in the box's directory, so removing the box removes it too.
    """
    args = hashlib.sha256(" ".join(boot_args).encode()).hexdigest()[:8]
    shape = f"{record.accel}-{record.cpus}c-{record.memory_mib}m-{keys.fingerprint(key)}-{record.debug}-{args}"
    return box.path / "ready" / f"{shape}.qcow2"


class QemuMachine(RecordedMachine):
    """A VM run by QEMU with no daemon; see the module docstring."""

    provider = "qemu"
    has_snapshots = True

    @staticmethod
    def require_host_tools(settings: Settings) -> None:
        host.require_tool("qemu-system-x86_64")
        host.require_tool("qemu-img")

    @staticmethod
    def prepare_host(settings: Settings) -> list[str]:
        """Nothing to change: ./setup installed QEMU; check it is there."""
        QemuMachine.require_host_tools(settings)
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

    def up(self, cold: bool = False) -> None:
        """Resume the VM from its box's ready snapshot (or boot it: first time, halted VM, cold=True)."""
        if self.running():
            return
        key = keys.ensure_key(self.settings.state_dir)
        template = template_path(self.record, self.box, key, self.debug_args())
        if not self.overlay.exists() and template.exists() and not cold:
            shutil.copyfile(template, self.overlay)
            boot_log = template.with_suffix(".console.log")
            if boot_log.exists():
                self.console_log.write_text(boot_log.read_text(errors="replace") + RESUME_NOTE)
            self._start(resume=True)
            return
        if not self.overlay.exists():
            backing = ["-b", str(self.box.disk), "-F", "qcow2"]
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", *backing, str(self.overlay)], check=True)
        self._start(resume=False)
        if not template.exists():
            self._save_ready_template(template)

    def _start(self, resume: bool) -> None:
        """Start QEMU on a free port and wait for SSH; on failure QEMU is stopped and the console kept."""
        key = keys.ensure_key(self.settings.state_dir)
        box = self.box
        for _ in range(PORT_ATTEMPTS):
            self.record = self.record.with_port(ports.free_port())
            launch = Launch(
                self.dir, box.kernel, box.initrd, self.record.accel, self.record.cpus, self.record.memory_mib,
                self.record.ssh_port, keys.public_key(key), resume, self.debug_args(),
            )  # fmt: skip
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
            self._wait_ready(console_marker=not resume)
            if resume:
                self._set_clock()
        except MachineError:
            self._stop()
            raise

    def _wait_ready(self, console_marker: bool) -> None:
        boot_timeout_s = self.settings.boot_timeout_s * self.slowdown
        deadline = time.monotonic() + boot_timeout_s
        if console_marker:
            while READY_MARKER not in self.console_text():
                if not self.running():
                    raise GuestUnreachable(f"QEMU exited during boot: {self._console_tail()}")
                if time.monotonic() > deadline:
                    raise GuestUnreachable(f"guest not ready after {boot_timeout_s:g} s: {self._console_tail()}")
                time.sleep(0.1)
        try:
            self._session(sudo=True).wait_until_ready(deadline)
        except GuestUnreachable as error:
            raise GuestUnreachable(f"{error}; console: {self._console_tail()}") from None

    def log_files(self) -> list[Path]:
        """What to keep with a run's results: the serial console and every command run."""
        return [self.console_log, self.dir / "commands.log"]

    def _console_tail(self, lines: int = 3) -> str:
        tail = " | ".join(line.strip() for line in self.console_text().splitlines()[-lines:])
        return f"{tail} (full log: {self.console_log})"

    def _set_clock(self) -> None:
        """A restored guest wakes with the clock of its snapshot: set it from the host."""
        self.run(f"date -s @{time.time():.3f} >/dev/null", timeout=30 * self.slowdown, sudo=True)

    def _save_ready_template(self, template: Path) -> None:
        """Snapshot the freshly booted guest, keep the overlay as the box's template, then resume."""
        self.run("sync", timeout=60)
        self._drop_sessions()
        with Qmp(self.dir / "qmp.sock") as monitor:
            monitor.human(f"savevm {SNAPSHOT}")
        self._stop()
        template.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(template.with_suffix(".console.log"), self.console_text())
        partial = template.with_name(f".{template.name}.{os.getpid()}")
        shutil.copyfile(self.overlay, partial)
        os.replace(partial, template)
        self._start(resume=True)

    def _stop(self, grace_s: float = 10.0) -> None:
        """Stop QEMU: monitor quit, then SIGKILL if it lingers."""
        self._drop_sessions()
        pid = self.pid()
        if pid is None:
            return
        try:
            with Qmp(self.dir / "qmp.sock", timeout=5) as monitor:
                monitor.execute("quit")
        except (OSError, QmpError):
            pass
        deadline = time.monotonic() + grace_s
        while self.pid() is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.pid() is not None:
            os.kill(pid, signal.SIGKILL)
            while self.pid() is not None:
                time.sleep(0.05)

    def _require_running(self) -> None:
        if not self.running():
            raise UserError(f"VM {self.name!r} is not running: `invoke vm.up --name {self.name}`")

    def run(self, command: str, timeout: float, sudo: bool = False) -> CommandResult:
        self._require_running()
        return self._session(sudo).run(command, timeout)

    def put(self, local: Path, remote: str) -> None:
        self._require_running()
        self._session().put(local, remote)

    def get(self, remote: str, local: Path) -> None:
        self._require_running()
        self._session().get(remote, local)

    def reset(self) -> None:
        """Roll the VM back to its ready snapshot: disk and memory, whatever the guest was doing.

        A new QEMU process resumes the snapshot: `loadvm` inside the running process would keep
        the guest's TSC running forward from its current value, so the restored kernel would see
        time jump and report RCU stalls that no module caused.
        """
        self._stop(grace_s=2.0)
        self._start(resume=True)

    def use_debug(self, tier: str) -> None:
        """Run in another debug tier from now on: a fresh guest from that tier's ready snapshot."""
        if tier == self.record.debug:
            return
        self.record = self.record.with_debug(tier)
        self._save()
        self.replace()

    def replace(self) -> None:
        """A fresh guest in place of this one: QEMU stopped, overlay thrown away, started from the template."""
        self._stop(grace_s=2.0)
        self.overlay.unlink(missing_ok=True)
        self.up()

    def halt(self) -> None:
        """Stop the VM and keep its disk; the next `up` boots it again."""
        if self.running():
            try:
                self.run("sync", timeout=15)
            except MachineError:
                pass
        self._stop()

    def destroy(self) -> None:
        """Stop QEMU and delete everything the VM had."""
        self._stop(grace_s=2.0)
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
