"""What a VM is, kept in its own directory as machine.json, whatever provider runs it."""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path

from toolkit.boxes.store import Box
from toolkit.config import Settings
from toolkit.errors import UserError
from toolkit.files import atomic_write
from toolkit.machines import accel

RECORD = "machine.json"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
NAME_MAX = 40
# The longest path QEMU listens on in a VM's folder (its agent and monitor sockets): a unix socket's
# path holds at most 107 bytes.
SOCKET = "agent.sock"
SOCKET_PATH_MAX = 107


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
    debug: str = "off"  # the debug tier it boots with (toolkit/debug_tiers.py); records before tiers booted plain
    libvirt_uri: str = ""  # the libvirt host a vagrant VM runs on; "": the configured one (records before hosts)

    @classmethod
    def new(cls, settings: Settings, name: str, provider: str, kernel_line: str, box: Path, accel: str) -> VmRecord:
        created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        uri = settings.libvirt_uri if provider == "vagrant" else ""
        return cls(
            name, provider, kernel_line, str(box), accel, settings.cpus, settings.memory_mib, created, 0, settings.debug,
            uri,
        )  # fmt: skip

    def with_port(self, port: int) -> VmRecord:
        return replace(self, ssh_port=port)

    def with_debug(self, tier: str) -> VmRecord:
        return replace(self, debug=tier)


def vms_dir(settings: Settings) -> Path:
    return settings.state_dir / "vms"


def checked_name(settings: Settings, name: str) -> str:
    """name, when it can name a VM: a folder of its own in vms/ (no `/`, `.`, `..`, nothing a shell or a flag
    reads otherwise) whose sockets' paths QEMU can listen on; a UserError else."""
    if not NAME.fullmatch(name) or len(name) > NAME_MAX:
        raise UserError(
            f"VM name {name!r} is not allowed: use 1 to {NAME_MAX} letters, digits, '.', '_' or '-', starting with "
            "a letter or digit (e.g. --name dev-6.1)"
        )
    socket = vms_dir(settings) / name / SOCKET
    if len(bytes(socket)) > SOCKET_PATH_MAX:
        raise UserError(
            f"VM {name!r} would listen on {socket}, {len(bytes(socket))} bytes, and a socket's path takes at most "
            f"{SOCKET_PATH_MAX}: use a shorter --name, or a shorter state_dir (VEXFS_STATE_DIR)"
        )
    return name


def vm_dir(settings: Settings, name: str) -> Path:
    """The VM's own folder, vms/<name>/ (a name that could lead anywhere else is refused)."""
    return vms_dir(settings) / checked_name(settings, name)


def exists(settings: Settings, name: str) -> bool:
    return (vm_dir(settings, name) / RECORD).is_file()


class CorruptRecord(UserError):
    """A VM whose machine.json cannot be read as a record (cut short, edited, from another version)."""

    def __init__(self, name: str, path: Path, problem: str) -> None:
        super().__init__(f"VM {name!r} has a corrupt record {path} ({problem}): remove it with {destroy_hint(name)}")
        self.name = name
        self.path = path
        self.problem = problem


def destroy_hint(name: str) -> str:
    return f"`invoke vm.destroy --name {name}`"


def _problem(data: object) -> str | None:
    """What keeps data from being a VmRecord (missing keys, wrong types), None when nothing does."""
    if not isinstance(data, dict):
        return "not a JSON object"
    for field in fields(VmRecord):
        if field.name not in data:
            if field.default is MISSING:
                return f"no {field.name!r}"
            continue
        value = data[field.name]
        wanted = int if field.type == "int" else str
        if type(value) is not wanted:
            return f"{field.name!r} is {value!r:.40}, not a {wanted.__name__}"
    return None


def load(settings: Settings, name: str) -> VmRecord:
    """The record of the VM called name; a UserError naming what to do when there is none or it is corrupt."""
    path = vm_dir(settings, name) / RECORD
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"no VM called {name!r}: start one with `invoke vm.up --name {name}`") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CorruptRecord(name, path, f"not JSON: {error}") from None
    except OSError as error:
        raise UserError(f"cannot read {path} ({error.strerror}): fix its permissions") from None
    problem = _problem(data)
    if problem:
        raise CorruptRecord(name, path, problem)
    known = {field.name for field in fields(VmRecord)}
    return VmRecord(**{key: value for key, value in data.items() if key in known})


def save(directory: Path, record: VmRecord) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write(directory / RECORD, json.dumps(asdict(record), indent=2) + "\n")


def machine_names(settings: Settings) -> list[str]:
    """The VMs recorded in vms/ (a folder whose name no VM can have is none of ours)."""
    root = vms_dir(settings)
    found = root.iterdir() if root.is_dir() else ()
    return sorted(p.name for p in found if NAME.fullmatch(p.name) and (p / RECORD).is_file())


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
