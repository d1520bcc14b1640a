"""What a VM is, kept in its own directory as machine.json, whatever provider runs it."""

from __future__ import annotations

import datetime
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from toolkit.boxes.store import Box
from toolkit.config import Settings
from toolkit.errors import UserError
from toolkit.files import atomic_write
from toolkit.machines import accel

RECORD = "machine.json"


@dataclass(frozen=True)
class VmRecord:
    name: str
    provider: str
    kernel_line: str
    box: str
    accel: str
    cpus: int
    memory_mib: int
    created: str
    ssh_port: int = 0

    @classmethod
    def new(cls, settings: Settings, name: str, provider: str, kernel_line: str, box: Path, accel: str) -> VmRecord:
        created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        return cls(name, provider, kernel_line, str(box), accel, settings.cpus, settings.memory_mib, created)

    def with_port(self, port: int) -> VmRecord:
        return replace(self, ssh_port=port)


def vms_dir(settings: Settings) -> Path:
    return settings.state_dir / "vms"


def vm_dir(settings: Settings, name: str) -> Path:
    return vms_dir(settings) / name


def exists(settings: Settings, name: str) -> bool:
    return (vm_dir(settings, name) / RECORD).is_file()


def load(settings: Settings, name: str) -> VmRecord:
    try:
        return VmRecord(**json.loads((vm_dir(settings, name) / RECORD).read_text()))
    except FileNotFoundError:
        raise UserError(f"no VM called {name!r}: start one with `invoke vm.up --name {name}`") from None


def save(directory: Path, record: VmRecord) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write(directory / RECORD, json.dumps(asdict(record), indent=2) + "\n")


def machine_names(settings: Settings) -> list[str]:
    root = vms_dir(settings)
    return sorted(p.name for p in root.iterdir() if (p / RECORD).is_file()) if root.is_dir() else []


def define_vm(settings: Settings, name: str, provider: str, box: Box) -> VmRecord:
    """The record of the VM called name: the existing one (for the same box and provider) or a new one."""
    if exists(settings, name):
        known = load(settings, name)
        _require_same_box(known, box.path, provider)
        return known
    chosen = accel.accelerator(settings.state_dir, box.kernel, box.initrd)
    record = VmRecord.new(settings, name, provider, box.kernel_line, box.path, chosen)
    save(vm_dir(settings, name), record)
    return record


def _require_same_box(record: VmRecord, box: Path, provider: str) -> None:
    if record.box != str(box) or record.provider != provider:
        raise UserError(
            f"VM {record.name!r} exists with kernel {record.kernel_line} on {record.provider}: "
            f"`invoke vm.destroy --name {record.name}` first, or pick another --name"
        )
