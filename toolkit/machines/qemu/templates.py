"""Ready templates: a freshly booted guest kept as a disk, its RAM and its device state, from which
VMs of the same shape restore in a fraction of a second.

A template is captured once per box and shape (accelerator, CPUs, memory, SSH key, debug tier,
and a digest of the boot arguments, the emulated hardware and the QEMU build: a restore only
works into the same machine; and of what a capture waits for). It lives in the box's `ready/`
folder, so removing the box removes it. Its files are never written once it is in place: VMs
map `memory.ram` privately (pages load lazily, writes stay in the VM), read `devices.state` as
an incoming migration and put a qcow2 overlay of their own on `disk.qcow2`. Any number of VMs
restore from one template at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from toolkit.boxes.store import Box
from toolkit.files import locked, remove_tree
from toolkit.machines.vm_record import VmRecord


@dataclass(frozen=True)
class Template:
    path: Path

    @property
    def disk(self) -> Path:
        return self.path / "disk.qcow2"

    @property
    def memory(self) -> Path:
        return self.path / "memory.ram"

    @property
    def devices(self) -> Path:
        """The device state (QEMU's migration stream without the RAM, which stays in `memory`)."""
        return self.path / "devices.state"

    @property
    def console(self) -> Path:
        """The boot's serial console log, which a restored VM's console log starts with."""
        return self.path / "console.log"

    def exists(self) -> bool:
        return self.devices.is_file()


# What a capture waits for before it saves the guest: templates captured before this changed are captured again.
CAPTURED_WHEN = "agent answers, sshd listens"


def qemu_build() -> str:
    """What tells one QEMU build from another without running it: its binary's size and change time."""
    binary = shutil.which("qemu-system-x86_64") or "qemu-system-x86_64"
    try:
        stat = os.stat(binary)
    except OSError:
        return "unknown"
    return f"{stat.st_size}-{stat.st_mtime_ns}"


def for_vm(record: VmRecord, box: Box, key_fingerprint: str, machine: list[str]) -> Template:
    """The template for a VM of this record's shape: machine is what the restore depends on (the boot
    arguments and the emulated hardware's command line)."""
    digest = hashlib.sha256(" ".join([*machine, qemu_build(), CAPTURED_WHEN]).encode()).hexdigest()[:8]
    shape = f"{record.accel}-{record.cpus}c-{record.memory_mib}m-{key_fingerprint}-{record.debug}-{digest}"
    return Template(box.path / "ready" / shape)


def lock(template: Template) -> contextlib.AbstractContextManager[None]:
    """Held while a template is captured: a VM that finds it missing waits here, then looks again."""
    return locked(template.path.with_name(f".{template.path.name}.lock"))


@contextlib.contextmanager
def capture_into(template: Template) -> Iterator[Template]:
    """A fresh partial template to capture into (hold `lock` meanwhile), renamed into place when the block
    ends normally and removed when it does not; what a killed capture left is removed first."""
    partial = Template(template.path.with_name(f".{template.path.name}.partial"))
    remove_tree(partial.path)
    partial.path.mkdir(parents=True)
    try:
        yield partial
        os.rename(partial.path, template.path)
    finally:
        remove_tree(partial.path)
