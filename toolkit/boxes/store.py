"""The box cache: where built boxes live, how they are found, listed and removed."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from toolkit.boxes.recipe import BoxRecipe
from toolkit.errors import UserError
from toolkit.files import atomic_write, locked, remove_tree

BOX_RECORD = "box.json"


@dataclass(frozen=True)
class Box:
    """A built box: a disk image, the kernel to boot it with, and its root filesystem tree."""

    path: Path
    name: str
    kernel_line: str
    suite: str
    kernel_release: str
    kernel_package_version: str
    built: str

    @property
    def disk(self) -> Path:
        return self.path / "box.img"

    @property
    def kernel(self) -> Path:
        """The uncompressed PVH kernel where there is one (no slow decompression under TCG), else bzImage."""
        uncompressed = self.path / "vmlinux"
        return uncompressed if uncompressed.exists() else self.path / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.path / "initrd.img"

    @property
    def rootfs(self) -> Path:
        return self.path / "rootfs"

    @property
    def kernel_config(self) -> Path:
        """The kernel's build configuration (/boot/config-<release> in the box)."""
        return self.rootfs / "boot" / f"config-{self.kernel_release}"

    def compiler(self) -> str:
        """The gcc that builds modules in the box, as its Debian package and version ("gcc-12 12.2.0-14");
        "" when the root filesystem does not say."""
        gcc = self.rootfs / "usr" / "bin" / "gcc"
        status = self.rootfs / "var" / "lib" / "dpkg" / "status"
        if not gcc.is_symlink() or not status.is_file():
            return ""
        package = os.readlink(gcc).rsplit("/", 1)[-1]
        for stanza in status.read_text(errors="replace").split("\n\n"):
            fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " ")
            if fields.get("Package") == package and "Version" in fields:
                return f"{package} {fields['Version']}"
        return package

    def describe(self) -> dict[str, str | int]:
        """What `box.list --json` prints for the box (stable keys)."""
        return {"name": self.name, "kernel_line": self.kernel_line, "suite": self.suite,
                "kernel_release": self.kernel_release, "kernel_package": self.kernel_package_version,
                "built": self.built, "size_bytes": self.size_bytes(), "path": str(self.path)}  # fmt: skip

    def size_bytes(self) -> int:
        return sum(p.stat().st_blocks * 512 for p in self.path.iterdir() if p.is_file())

    def save(self) -> None:
        record = {k: v for k, v in asdict(self).items() if k != "path"}
        atomic_write(self.path / BOX_RECORD, json.dumps(record, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Box:
        return cls(path=path, **json.loads((path / BOX_RECORD).read_text()))


def boxes_dir(cache_dir: Path) -> Path:
    return cache_dir / "boxes"


def list_boxes(cache_dir: Path) -> list[Box]:
    """Every complete box in the cache (half-built ones have no box.json and are not boxes)."""
    root = boxes_dir(cache_dir)
    if not root.is_dir():
        return []
    return [Box.load(p) for p in sorted(root.iterdir()) if (p / BOX_RECORD).is_file()]


def find(cache_dir: Path, recipe: BoxRecipe) -> Box | None:
    path = boxes_dir(cache_dir) / recipe.name
    return Box.load(path) if (path / BOX_RECORD).is_file() else None


def require(cache_dir: Path, recipe: BoxRecipe) -> Box:
    box = find(cache_dir, recipe)
    if box is None:
        raise UserError(
            f"no box for kernel {recipe.line.name} ({recipe.line.suite}): run `invoke box.build --kernel {recipe.line.name}`"
        )
    return box


def remove(box: Box) -> None:
    remove_tree(box.path)


def building_dir(cache_dir: Path, name: str) -> Path:
    """A scratch directory for one build; its name records the building process."""
    return boxes_dir(cache_dir) / f".building-{name}-{os.getpid()}"


def abandoned_builds(cache_dir: Path) -> list[Path]:
    """Scratch directories left by builds whose process is gone (killed, power lost)."""
    root = boxes_dir(cache_dir)
    scratches = sorted(root.glob(".building-*")) if root.is_dir() else []
    return [scratch for scratch in scratches if not _builder_alive(scratch.name.rsplit("-", 1)[-1])]


def _builder_alive(pid: str) -> bool:
    return pid.isdigit() and Path(f"/proc/{pid}").exists()


def abandoned_box_name(scratch: Path) -> str:
    """The box an abandoned build was making."""
    return scratch.name.removeprefix(".building-").rsplit("-", 1)[0]


def remove_abandoned_builds(cache_dir: Path) -> list[str]:
    """Remove the scratch directories of builds whose process is gone; the boxes they were for."""
    removed = abandoned_builds(cache_dir)
    for scratch in removed:
        remove_tree(scratch)
    return [abandoned_box_name(scratch) for scratch in removed]


def remove_logs_of_gone_boxes(cache_dir: Path, log_dir: Path) -> list[str]:
    """Build logs (log_dir/box-NAME.log) of boxes the cache no longer holds and no build is making; the names."""
    removed = []
    for log in sorted(log_dir.glob("box-*.log")) if log_dir.is_dir() else []:
        name = log.stem.removeprefix("box-")
        lock = boxes_dir(cache_dir) / f".{name}.lock"
        if (boxes_dir(cache_dir) / name / BOX_RECORD).is_file():
            continue
        try:
            with locked(lock, wait=False) if lock.exists() else contextlib.nullcontext():
                log.unlink()
        except BlockingIOError:
            continue
        removed.append(name)
    return removed
