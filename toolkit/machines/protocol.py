"""The Machine protocol every provider implements, and the records and errors it speaks in."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from toolkit.boxes.store import Box
    from toolkit.config import Settings
    from toolkit.machines.ssh import SshTarget
    from toolkit.machines.vm_record import VmRecord


@dataclass(frozen=True)
class CommandResult:
    """What one guest command did."""

    command: str
    exit_status: int
    stdout: str
    stderr: str
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def tail(self, lines: int = 10) -> str:
        text = (self.stdout + self.stderr).rstrip()
        return "\n".join(text.splitlines()[-lines:])


class MachineError(Exception):
    """The guest did not do what was asked: carries the command and what it printed."""

    def __init__(self, message: str, command: str = "", output_tail: str = "") -> None:
        super().__init__(message)
        self.command = command
        self.output_tail = output_tail


class CommandTimedOut(MachineError):
    """A guest command ran past its timeout; the connection is dropped, the guest may be wedged."""


class CommandInterrupted(MachineError):
    """A guest command given up before its timeout (`Machine.interrupt`): the kernel had reported the guest stuck.
    The connection is dropped; whatever the command started may still run in the guest."""


class GuestUnreachable(MachineError):
    """The guest does not answer over SSH (not booted, crashed or wedged)."""


@dataclass(frozen=True)
class MachineStatus:
    """What `vm.status` shows."""

    name: str
    provider: str
    state: str
    kernel_line: str = ""
    box: str = ""
    accel: str = ""
    ssh: str = ""
    details: dict[str, str] = field(default_factory=dict)

    def to_dict(self, problem: str = "") -> dict[str, str]:
        """What `vm.status --json` prints for the VM (stable keys; problem: why its record cannot be read)."""
        return {"name": self.name, "provider": self.provider, "state": self.state, "kernel_line": self.kernel_line,
                "accel": self.accel, "ssh": self.ssh, "box": self.box, "problem": problem}  # fmt: skip


class Machine(Protocol):
    """A VM a test or command can drive: boot it, run commands, move files, read its logs, roll it back.

    Both providers (qemu, vagrant) satisfy it; callers use nothing else.
    """

    name: str
    provider: str
    record: VmRecord
    has_snapshots: bool  # reset is a quick rollback (else it replaces the guest)

    @property
    def box(self) -> Box: ...

    @property
    def sysroot(self) -> Path | None:
        """The guest's root filesystem tree on the host (for native builds in a chroot), if there is one."""
        ...

    @property
    def console_log(self) -> Path: ...

    def up(self, cold: bool = False) -> None: ...

    def running(self) -> bool: ...

    def run(self, command: str, timeout: float, sudo: bool = False) -> CommandResult: ...

    def interrupt(self) -> None:
        """From another thread: give up the command in flight, whose `run` then raises CommandInterrupted."""
        ...

    def put(self, local: Path, remote: str) -> None: ...

    def get(self, remote: str, local: Path) -> None: ...

    def ssh_target(self, user: str = ...) -> SshTarget: ...

    def kernel_log(self) -> str: ...

    def console_text(self) -> str: ...

    def log_files(self) -> list[Path]: ...

    def reset(self) -> None: ...

    def replace(self) -> None: ...

    def use_debug(self, tier: str) -> None:
        """Boot in another debug tier (toolkit/debug_tiers.py) from now on; nothing when it already does."""
        ...

    def halt(self) -> None: ...

    def destroy(self) -> None: ...

    def status(self) -> MachineStatus: ...


class Provider(Protocol):
    """A provider's class: what the host needs for it, and its machines, new or recorded."""

    provider: str

    def require_host_tools(self, settings: Settings) -> None:
        """Check what the provider needs on the host; changes nothing (UserError saying how to fix)."""
        ...

    def prepare_host(self, settings: Settings) -> list[str]:
        """Install and start what the provider needs on the host; what it changed (`invoke setup`)."""
        ...

    def define(self, settings: Settings, name: str, box: Box) -> Machine: ...

    def __call__(self, settings: Settings, record: VmRecord) -> Machine: ...
