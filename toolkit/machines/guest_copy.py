"""Copying one file between the host and a guest, written scp's way: the guest's side is `:PATH`.

`:PATH` is the guest's path (relative to the vagrant user's home; `:` alone is that home). A
destination that is a folder, or ends in `/`, gets the file under its own name. The copy goes
through the machine's SSH session, bounded like every transfer.
"""

from __future__ import annotations

import os
import posixpath
import shlex
from dataclasses import dataclass
from pathlib import Path

from toolkit import host_checks
from toolkit.errors import UserError
from toolkit.machines.protocol import Machine

GUEST = ":"
USAGE = "`invoke vm.copy FILE :GUEST_PATH` or `invoke vm.copy :GUEST_PATH LOCAL_PATH`"


@dataclass(frozen=True)
class Copy:
    """One file to copy, into the guest or out of it."""

    to_guest: bool
    local: Path
    remote: str

    @classmethod
    def parse(cls, source: str, destination: str) -> Copy:
        """The copy `vm.copy SOURCE DESTINATION` asks for; exactly one side is the guest's (`:PATH`)."""
        if not source or not destination:
            raise UserError(f"vm.copy needs a source and a destination: {USAGE}")
        if source.startswith(GUEST) == destination.startswith(GUEST):
            raise UserError(f"one side of vm.copy is the guest's, written :PATH, the other the host's: {USAGE}")
        if source.startswith(GUEST):
            return cls(False, Path(destination).expanduser(), source[1:] or ".")
        return cls(True, Path(source).expanduser(), destination[1:] or ".")

    def check_host_side(self) -> None:
        """What can be known wrong before the guest is asked: a source file missing, not a file or unreadable; a
        destination whose folder is missing or cannot be written."""
        try:
            problem = self._source_problem() if self.to_guest else self._destination_problem()
        except (OSError, ValueError) as error:  # a name too long, a folder this user may not look into
            problem = f"{self.local}: {getattr(error, 'strerror', None) or error}"
        if problem:
            raise UserError(problem)

    def _source_problem(self) -> str | None:
        if self.local.is_dir():
            return f"{self.local}: is a folder: vm.copy copies one file (tar a folder first)"
        if not self.local.exists():
            return f"{self.local}: no such file"
        if not self.local.is_file():
            return f"{self.local}: is not a regular file (a device, a pipe or a socket): vm.copy copies one file"
        if not os.access(self.local, os.R_OK):
            return f"{self.local}: cannot be read: fix its permissions or copy a file you can read"
        return None

    def _destination_problem(self) -> str | None:
        folder = self.local if self.local.is_dir() else self.local.parent
        if not folder.is_dir():
            return f"{folder}: no such folder on the host to copy into"
        fix = "give a destination in a folder you can write"
        reason = host_checks.unwritable_reason(folder)
        if reason:
            return f"{self.local} cannot be written: {reason}: {fix}"
        if folder != self.local and self.local.exists() and not os.access(self.local, os.W_OK):
            return f"{self.local} cannot be written: it is not writable: {fix}"
        return None


def _guest_kind(machine: Machine, path: str) -> tuple[str, str]:
    """What the guest has at path and at its folder: each "dir", "file" or "none" (one round trip)."""
    probe = "; ".join(
        f"if [ -d {shlex.quote(p)} ]; then echo dir; elif [ -e {shlex.quote(p)} ]; then echo file; else echo none; fi"
        for p in (path, posixpath.dirname(path.rstrip("/")) or ".")
    )
    kind, folder = machine.run(probe, timeout=30).stdout.split()
    return kind, folder


def copy(machine: Machine, request: Copy) -> str:
    """Copy the file (its host side checked first: `check_host_side`); what went where, as one line.
    UserError when the guest's side is missing."""
    kind, folder = _guest_kind(machine, request.remote)
    if request.to_guest:
        if kind == "dir":
            remote = posixpath.join(request.remote, request.local.name)
        elif folder == "dir" and not request.remote.endswith("/"):
            remote = request.remote
        else:
            missing = request.remote if request.remote.endswith("/") else posixpath.dirname(request.remote)
            raise UserError(f"{machine.name}:{request.remote}: the guest has no folder {missing}")
        machine.put(request.local, remote)
        return f"copied {request.local} to {machine.name}:{remote}"
    if kind != "file":
        what = "is a folder: vm.copy copies one file" if kind == "dir" else "the guest has no such file"
        raise UserError(f"{machine.name}:{request.remote}: {what}")
    local = request.local / posixpath.basename(request.remote) if request.local.is_dir() else request.local
    machine.get(request.remote, local)
    return f"copied {machine.name}:{request.remote} to {local}"
