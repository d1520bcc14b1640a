"""commands.log, and what a guest call that went wrong says: the same whichever channel carried it
(the guest agent, or SSH)."""

from __future__ import annotations

import contextlib
import datetime
from pathlib import Path

from toolkit.machines.protocol import CommandInterrupted, CommandResult, CommandTimedOut, GuestUnreachable

TRANSFER_TIMEOUT_S = 300.0


class CommandLog:
    """Every guest command and transfer, one line each, appended to a VM's commands.log."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, line: str) -> None:
        """Append line; a log whose VM folder is gone (removed under a run) keeps nothing, and the run learns
        that the machine is lost from the machine itself."""
        stamp = datetime.datetime.now().isoformat(timespec="milliseconds")
        with contextlib.suppress(FileNotFoundError), open(self.path, "a") as out:
            out.write(f"{stamp} {line}\n")

    def finished(self, user: str, result: CommandResult) -> CommandResult:
        self.record(f"{user}: [{result.exit_status}] {result.duration_s:.3f}s {result.command}")
        return result

    def timed_out(self, user: str, command: str, timeout: float, tail: str) -> CommandTimedOut:
        """The command ran past its timeout and was stopped."""
        self.record(f"{user}: TIMEOUT after {timeout:g} s: {command}")
        return CommandTimedOut(f"guest command timed out after {timeout:g} s: {command}", command, tail[-2000:])

    def no_answer(self, user: str, command: str, timeout: float, waited: float) -> CommandTimedOut:
        """Nothing came back within the command's timeout and the slack after it: the guest may be wedged."""
        self.record(f"{user}: NO ANSWER within {waited:g} s: {command}")
        return CommandTimedOut(
            f"guest command timed out after {timeout:g} s and the guest stopped answering: {command}", command
        )

    def interrupted(self, user: str, command: str, seconds: float) -> CommandInterrupted:
        """The command was given up before its timeout (the kernel had reported the guest stuck)."""
        self.record(f"{user}: INTERRUPTED after {seconds:.1f} s: {command}")
        return CommandInterrupted(f"guest command given up after {seconds:.1f} s: {command}", command)

    def lost(self, user: str, command: str, error: object) -> GuestUnreachable:
        """The channel to the guest broke during the command."""
        self.record(f"{user}: LOST CONNECTION ({error}): {command}")
        return GuestUnreachable(f"lost the guest while running {command!r}: {error}", command)
