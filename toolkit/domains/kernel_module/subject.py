"""The module under test in its guest: load/unload helpers, kernel-log marks, recovery."""

from __future__ import annotations

import errno
import os
import secrets
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from toolkit import kernel_log
from toolkit.domains.kernel_module.build import BuildOutcome, BuiltModule
from toolkit.machines.base import CommandResult, Machine, MachineError

GUEST_DIR = "/root/vexfs-vmtest"
MOUNT_POINT = "/mnt/vexfs-vmtest"
# The kernel reports hangs itself: hung tasks after 10 s, soft lockups after 2 x 5 s.
WATCHDOG_SYSCTLS = {
    "kernel.hung_task_timeout_secs": "10",
    "kernel.hung_task_warnings": "-1",
    "kernel.watchdog_thresh": "5",
    "kernel.panic_on_oops": "0",
    "kernel.printk": "7 4 1 7",
}


ERRNO_NAMES = {os.strerror(number): name for number, name in errno.errorcode.items()}


def with_errno(message: str) -> str:
    """insmod's message with the errno's name added: 'No such device' -> 'No such device (ENODEV)'."""
    for text, name in ERRNO_NAMES.items():
        if message.rstrip().endswith(text):
            return f"{message.rstrip()} ({name})"
    return message.strip()


@dataclass(frozen=True)
class ModuleOptions:
    """How to test: which source, which module, its parameters, limits."""

    source_dir: Path
    module: str | None = None
    params: tuple[str, ...] = ()
    build_in: str = "chroot"
    cycles: int = 20
    load_timeout_s: float = 25.0
    watch_s: float = 12.0
    build_timeout_s: float = 600.0


@dataclass
class ModuleUnderTest:
    """One built module, its guest, and what the tests learn about it as they go."""

    machine: Machine
    options: ModuleOptions
    build: BuildOutcome
    module: BuiltModule | None
    kernel_release: str
    work_dir: Path
    filesystems: list[str] = field(default_factory=list)
    last_marker: str = ""

    @property
    def name(self) -> str:
        return self.module.name if self.module else (self.options.module or self.options.source_dir.name)

    @property
    def guest_ko(self) -> str:
        return f"{GUEST_DIR}/{self.name}.ko"

    def insmod_command(self, ko: str | None = None, params: tuple[str, ...] | None = None) -> str:
        args = " ".join(shlex.quote(p) for p in (self.options.params if params is None else params))
        return f"insmod {ko or self.guest_ko} {args}".strip()

    # guest plumbing

    def root(self, command: str, timeout: float = 60.0) -> CommandResult:
        return self.machine.run(command, timeout=timeout, sudo=True)

    def prepare(self) -> None:
        """Arm the watchdogs and put the .ko in place (again after every rollback)."""
        settings = " ".join(f"{key}={shlex.quote(value)}" for key, value in WATCHDOG_SYSCTLS.items())
        self.root(f"sysctl -q -w {settings} && mkdir -p {GUEST_DIR} {MOUNT_POINT}")
        if self.module:
            self.machine.put(self.module.path, f"/tmp/{self.name}.ko")
            self.root(f"mv /tmp/{self.name}.ko {self.guest_ko}")

    def mark(self, label: str) -> str:
        """Write a unique line into the kernel log; problems are looked for after it."""
        marker = f"vexfs-vmtest: {label} {secrets.token_hex(4)}"
        self.root(f"echo {shlex.quote(marker)} > /dev/kmsg")
        self.last_marker = marker
        return marker

    def log_since(self, marker: str) -> list[str]:
        """Kernel messages after marker: from dmesg, or from the console if the guest does not answer."""
        try:
            return kernel_log.lines_after(self.machine.kernel_log(), marker)
        except MachineError:
            return kernel_log.lines_after(self.machine.console_text(), marker)

    def problems_since(self, marker: str) -> list[kernel_log.Problem]:
        return kernel_log.classify(self.log_since(marker))

    def loaded(self) -> bool:
        return self.root(f"grep -q '^{self.name} ' /proc/modules").ok

    def module_state(self) -> str:
        """live, coming, going, or absent."""
        result = self.root(f"cat /sys/module/{self.name}/initstate 2>/dev/null || echo absent")
        return result.stdout.strip() or "absent"

    def unload_quietly(self) -> None:
        """Leave the module unloaded (its filesystems unmounted first), whatever a test left behind."""
        if self.loaded():
            unmount = f"umount -a -t {','.join(self.filesystems)} 2>/dev/null; " if self.filesystems else ""
            self.root(f"{unmount}rmmod {self.name}", timeout=30)

    def exercise_commands(self) -> str:
        """Shell that uses what the module registered: each filesystem type mounted, read, unmounted."""
        steps = [
            f"mount -t {fs} vexfs-vmtest {MOUNT_POINT} && ls -la {MOUNT_POINT} >/dev/null"
            f" && find {MOUNT_POINT} -type f -exec cat {{}} + >/dev/null; umount {MOUNT_POINT}"
            for fs in self.filesystems
        ]
        return " && ".join(steps) or "true"

    # what the domain runner needs

    def evidence(self) -> list[str]:
        """Problem excerpts since the last mark, from the console (which works even when the guest does not)."""
        problems = kernel_log.classify(kernel_log.lines_after(self.machine.console_text(), self.last_marker))
        return [line for problem in problems for line in problem.excerpt]

    def healthy(self) -> bool:
        try:
            answer = self.root("echo ok", timeout=10)
        except MachineError:
            return False
        return answer.stdout.strip() == "ok" and self.module_state() in ("absent", "live")

    def recover(self) -> str:
        """Roll the guest back to its ready snapshot, or replace it if that fails; then prepare again."""
        try:
            self.machine.reset()
            how = "guest rolled back to its ready snapshot"
        except MachineError:
            self.machine.replace()
            how = "guest replaced"
        self.prepare()
        return how
