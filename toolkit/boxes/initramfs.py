"""A tiny initramfs for direct kernel boot: busybox, the root-disk drivers, one init script.

Stock Debian kernels build virtio and ext4 as modules, so the kernel needs them before it
can mount the box's disk. Debian's own initramfs does that too but takes seconds to unpack
and probe under TCG; this one holds only what the box needs.
"""

from __future__ import annotations

import gzip
import io
import lzma
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import UserError

BOOT_MODULES = (
    "virtio_pci",
    "virtio_blk",
    "crc32c_generic",
    "crc32c_intel",
    "ext4",
    "virtio_net",
    "qemu_fw_cfg",
    "virtio_rng",
    "virtio_console",
)
INIT_SCRIPT = Path(__file__).with_name("guest") / "initramfs-init"


@dataclass(frozen=True)
class CpioEntry:
    """One member of a newc cpio archive."""

    name: str
    mode: int
    data: bytes = b""


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)


def cpio_newc(entries: list[CpioEntry]) -> bytes:
    """The entries as a newc ("070701") cpio archive, as the kernel unpacks it."""
    out = io.BytesIO()
    for inode, entry in enumerate([*entries, CpioEntry("TRAILER!!!", 0)], start=1):
        name = entry.name.encode() + b"\0"
        fields = (inode, entry.mode, 0, 0, 1, 0, len(entry.data), 0, 0, 0, 0, len(name), 0)
        header = b"070701" + b"".join(b"%08X" % value for value in fields)
        out.write(header + name + _pad(len(header) + len(name)))
        out.write(entry.data + _pad(len(entry.data)))
    return out.getvalue()


def module_index(modules_dir: Path) -> dict[str, tuple[str, list[str]]]:
    """Module name -> (path relative to modules_dir, paths of its dependencies), from modules.dep."""
    index: dict[str, tuple[str, list[str]]] = {}
    for line in (modules_dir / "modules.dep").read_text().splitlines():
        path, _, deps = line.partition(":")
        name = Path(path).name.split(".ko")[0].replace("-", "_")
        index[name] = (path, deps.split())
    return index


def load_order(wanted: tuple[str, ...], index: dict[str, tuple[str, list[str]]]) -> list[str]:
    """Module paths to insmod, dependencies first; built-in modules are simply absent."""
    by_path = {path: deps for path, deps in index.values()}
    ordered: list[str] = []

    def visit(path: str) -> None:
        if path in ordered:
            return
        for dep in by_path.get(path, []):
            visit(dep)
        ordered.append(path)

    for name in wanted:
        if name in index:
            visit(index[name][0])
    return ordered


def _decompressed(path: Path) -> bytes:
    """Module bytes as busybox insmod needs them (it cannot decompress)."""
    if path.suffix == ".xz":
        return lzma.decompress(path.read_bytes())
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes())
    if path.suffix == ".zst":
        if not shutil.which("zstd"):
            raise UserError("zstd is needed to unpack this kernel's modules: run ./setup (or apt-get install zstd)")
        return subprocess.run(["zstd", "-dc", str(path)], check=True, capture_output=True).stdout
    return path.read_bytes()


def build(rootfs: Path, kernel_release: str) -> bytes:
    """The gzip-compressed initramfs for the box whose root filesystem tree is rootfs."""
    modules_dir = rootfs / "lib/modules" / kernel_release
    order = load_order(BOOT_MODULES, module_index(modules_dir))
    entries = [CpioEntry(d, 0o40755) for d in ("bin", "dev", "proc", "sys", "modules", "newroot")]
    entries.append(CpioEntry("bin/busybox", 0o100755, (rootfs / "bin/busybox").read_bytes()))
    entries.append(CpioEntry("init", 0o100755, INIT_SCRIPT.read_bytes()))
    names = []
    for path in order:
        name = Path(path).name.split(".ko")[0] + ".ko"
        names.append(name)
        entries.append(CpioEntry(f"modules/{name}", 0o100644, _decompressed(modules_dir / path)))
    entries.append(CpioEntry("modules/order", 0o100644, "".join(f"{n}\n" for n in names).encode()))
    return gzip.compress(cpio_newc(entries), compresslevel=6)
