"""What every provider's VM shares: its record and directory, its box, its console log, and
one persistent SSH connection per guest user."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from toolkit import debug_tiers, kernels
from toolkit.boxes.store import Box
from toolkit.config import Settings
from toolkit.machines.command_log import CommandLog
from toolkit.machines.protocol import CommandResult, GuestUnreachable
from toolkit.machines.ssh import GuestSessions, SshSession, SshTarget
from toolkit.machines.vm_record import RECORD, VmRecord, define_vm, vm_dir

GUEST_USER = "vagrant"


class RecordedMachine:
    """A VM recorded in its own directory and reached over SSH; providers add how it runs."""

    provider = ""

    def __init__(self, settings: Settings, record: VmRecord) -> None:
        self.settings = settings
        self.record = record
        self.name = record.name
        self.dir = vm_dir(settings, record.name)
        self.commands_log = CommandLog(self.dir / "commands.log")
        self._sessions = GuestSessions(self.ssh_target, self.commands_log)

    @classmethod
    def define(cls, settings: Settings, name: str, box: Box) -> Self:
        """The VM called name, recorded now for box unless it exists already."""
        return cls(settings, define_vm(settings, name, cls.provider, box))

    def ssh_target(self, user: str = GUEST_USER) -> SshTarget:
        raise NotImplementedError

    @property
    def slowdown(self) -> float:
        """How much slower than a stock kernel this VM's kernel answers (debug kernels): machine waits scale by it."""
        return kernels.select(self.record.kernel_line).slowdown

    def debug_args(self) -> tuple[str, ...]:
        """Boot arguments of the VM's debug tier for its box's kernel."""
        return tuple(debug_tiers.select(self.record.debug).kernel_args(self.box.kernel_config))

    @property
    def box(self) -> Box:
        return Box.load(Path(self.record.box))

    @property
    def sysroot(self) -> Path:
        return self.box.rootfs

    @property
    def console_log(self) -> Path:
        return self.dir / "console.log"

    def console_text(self) -> str:
        try:
            return self.console_log.read_text(errors="replace")
        except (FileNotFoundError, PermissionError):
            return ""

    def require_folder(self) -> None:
        """The machine is lost when its folder (its record, disk and sockets) was removed while this process used
        it: no guest is started there again."""
        if not (self.dir / RECORD).is_file():
            raise GuestUnreachable(f"VM {self.name!r} is lost: its folder {self.dir} was removed while it was in use")

    def _session(self, sudo: bool = False) -> SshSession:
        """One persistent connection per user; root's saves sudo's half second per command under TCG."""
        return self._sessions.get("root" if sudo else GUEST_USER)

    def _drop_sessions(self) -> None:
        self._sessions.close()

    def run(self, command: str, timeout: float, sudo: bool = False) -> CommandResult:
        raise NotImplementedError

    def interrupt(self) -> None:
        """From another thread: give up the command in flight (its `run` raises CommandInterrupted)."""
        self._sessions.interrupt()

    def kernel_log(self) -> str:
        return self.run("dmesg", timeout=30, sudo=True).stdout
