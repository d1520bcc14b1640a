"""The machines a run tests on: named, brought up clean, their logs kept, and given back (rolled back or
destroyed) when the run stops."""

from __future__ import annotations

import contextlib
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit import kernel_log
from toolkit.config import Settings
from toolkit.errors import UserError
from toolkit.host_capacity import require_free_cpu, require_host_capacity
from toolkit.kernels import KernelLine
from toolkit.machines import registry
from toolkit.machines.leftovers import MATRIX_PREFIX, SECOND_GUEST_PREFIX
from toolkit.machines.protocol import Machine, MachineError
from toolkit.progress import Progress

if TYPE_CHECKING:
    from toolkit.machines.qemu.provider import QemuMachine  # loaded with the provider, when a VM is made


def matrix_vm(line: KernelLine, name: str | None = None) -> str:
    """The VM a matrix run gives a line: matrix-LINE, or matrix-NAME-LINE for a run given a name."""
    return f"{MATRIX_PREFIX}{f'{name}-' if name else ''}{line.name}"


def bring_up(machine: Machine, settings: Settings, progress: Progress) -> None:
    """Start the VM (in the run's debug tier), or check the one already running: a guest left dirty by an
    earlier command is rolled back."""
    if machine.record.debug != settings.debug:
        require_host_capacity(settings)
        with progress.step(f"VM {machine.name} from debug tier {machine.record.debug} to {settings.debug}"):
            machine.use_debug(settings.debug)
        return
    if not machine.running():
        require_host_capacity(settings)
        with progress.step(f"VM {machine.name} up"):
            machine.up()
        return
    reason = dirty_reason(machine)
    if reason:
        with progress.step(f"VM {machine.name} was left {reason}: rolling it back to its ready snapshot"):
            machine.reset()


def dirty_reason(machine: Machine) -> str:
    """Why a running VM is unfit for a run (it does not answer, out-of-tree modules are loaded, its kernel
    logged a problem), or "" when it is clean."""
    probe = "grep -c '(.*O.*)' /proc/modules; dmesg"
    try:
        result = machine.run(probe, timeout=30, sudo=True)
    except MachineError as error:
        return f"unreachable ({error})"
    count, _, log = result.stdout.partition("\n")
    if count.strip() not in ("", "0"):
        return f"with {count.strip()} out-of-tree module(s) loaded"
    problems = kernel_log.classify(log.splitlines())
    return f"dirty ({problems[0].title})" if problems else ""


def keep_logs(machine: Machine, out: Path) -> None:
    logs = out / "vm"
    logs.mkdir(parents=True, exist_ok=True)
    for log in machine.log_files():
        if log.exists():
            shutil.copyfile(log, logs / log.name)


def abandon(settings: Settings, vm_name: str, existed: bool) -> None:
    """After an interruption: a VM the run created goes; one that was there is rolled back (or goes)."""
    try:
        machine = registry.open_existing(settings, vm_name)
    except UserError:
        return
    if existed and machine.has_snapshots:
        try:
            machine.reset()
            return
        except MachineError:
            pass
    machine.destroy()


def destroy_quietly(settings: Settings, vm_name: str) -> None:
    """Destroy a VM of this run's (one another process holds is not ours to destroy)."""
    try:
        registry.destroy(settings, vm_name)
    except (UserError, MachineError):
        pass


class SecondMachine:
    """The VM a test run's second guest runs on (toolkit/domains/lanes.py): restored from the first's ready snapshot
    when started, destroyed when stopped (from any thread, once), its logs kept in out/second-guest/."""

    def __init__(self, settings: Settings, first: QemuMachine, out: Path) -> None:
        self.settings, self.out = settings, out
        self.first = first
        self.name = f"{SECOND_GUEST_PREFIX}{first.name}"
        self.held = contextlib.ExitStack()
        self.guard = threading.Lock()
        self.machine: Machine | None = None
        self.stopped = False

    def reserve(self) -> None:
        """Its name taken and the VM defined; a UserError when the host has no CPU to spare or no room for it, or
        it cannot be called so."""
        with self.guard:
            if self.stopped:
                raise UserError("the run ended before its second guest started")
            first = self.first.pid()
            require_free_cpu([first] if first is not None else [])
            require_host_capacity(self.settings)
            self.held.enter_context(registry.locked(self.settings, registry.checked_name(self.settings, self.name),
                                                    "a test run's second guest"))  # fmt: skip
            self.machine = registry.define(self.settings, self.name)

    def up(self) -> Machine:
        """The reserved VM up."""
        assert self.machine is not None, "reserve() first"
        self.machine.up()
        return self.machine

    def interrupt(self) -> None:
        """From another thread: the command of the VM in flight given up (its `run` returns now)."""
        if self.machine is not None:
            self.machine.interrupt()

    def stop(self) -> None:
        with self.guard:
            if self.stopped:
                return
            self.stopped = True
        if self.machine is not None:
            keep_logs(self.machine, self.out / "second-guest")
            destroy_quietly(self.settings, self.name)
        self.held.close()
