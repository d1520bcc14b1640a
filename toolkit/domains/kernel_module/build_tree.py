"""A module's build tree kept between runs, one per box, kernel and source directory: after an edit,
make rebuilds only what the edit changed.

The tree holds a copy of the sources and the objects of the last build. Each run syncs it:
a file whose content changed is copied in stamped now (newer than any object, whatever its
own mtime), a file gone from the source goes from the tree too. A build that never ended
(killed, timed out) may have left a truncated object: the next one starts from an empty tree.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from toolkit.files import remove_tree

# What a build makes, or a checkout carries, that is not a source of the module.
ARTEFACTS = ("*.ko", "*.o", "*.mod", "*.mod.c", ".*.cmd", "modules.order", "Module.symvers", ".git", ".tmp_versions")
TREES = "module-builds"


def tree_for(sysroot: Path, release: str, source_dir: Path) -> Path:
    """The kept tree of source_dir's build for release, beside the box whose root is sysroot (it goes with it)."""
    key = hashlib.sha256(f"{source_dir.resolve()}\0{release}".encode()).hexdigest()[:12]
    plain = re.sub(r"[^A-Za-z0-9._-]", "_", source_dir.name)  # it becomes make's M=: no spaces, no quotes
    return sysroot.parent / TREES / f"{plain}-{key}"


def _sources(source_dir: Path) -> list[str]:
    """Every file and link of source_dir that is not an artefact, relative to it."""
    found = []
    for folder, subdirs, files in os.walk(source_dir):
        linked = {name for name in subdirs if (Path(folder) / name).is_symlink()}  # copied as links, not walked
        subdirs[:] = sorted(name for name in subdirs if name not in linked and not _artefact(name))
        for name in sorted({*files, *linked}):
            if not _artefact(name):
                found.append(str((Path(folder) / name).relative_to(source_dir)))
    return found


def _artefact(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in ARTEFACTS)


def _same(source: Path, copy: Path) -> bool:
    if source.is_symlink() or copy.is_symlink():
        return source.is_symlink() and copy.is_symlink() and os.readlink(source) == os.readlink(copy)
    return copy.is_file() and source.stat().st_size == copy.stat().st_size and source.read_bytes() == copy.read_bytes()


def _copy(source: Path, copy: Path) -> None:
    copy.parent.mkdir(parents=True, exist_ok=True)
    if copy.is_symlink() or copy.exists():
        copy.unlink()
    if source.is_symlink():
        copy.symlink_to(os.readlink(source))
    else:
        shutil.copyfile(source, copy)
        shutil.copymode(source, copy)


def sync(source_dir: Path, tree: Path) -> None:
    """Make tree's sources source_dir's: changed and new ones copied in, stamped now; ones removed there go."""
    listing = tree.parent / f"{tree.name}.sources"
    previous = set(json.loads(listing.read_text())) if listing.exists() and tree.is_dir() else set()
    current = _sources(source_dir)
    for gone in previous - set(current):
        (tree / gone).unlink(missing_ok=True)
    for relative in current:
        if not _same(source_dir / relative, tree / relative):
            _copy(source_dir / relative, tree / relative)
    listing.write_text(json.dumps(current))


@dataclass(frozen=True)
class HeldTree:
    """A tree held for one build; `ended` says its make ended by itself (else the next build starts afresh)."""

    path: Path

    @property
    def unfinished(self) -> Path:
        return self.path.parent / f"{self.path.name}.unfinished"

    def ended(self) -> None:
        self.unfinished.unlink(missing_ok=True)


@contextlib.contextmanager
def building(tree: Path) -> Iterator[HeldTree]:
    """The tree held for one build (others of the same tree wait), emptied first when the last build's make
    never ended."""
    tree.parent.mkdir(parents=True, exist_ok=True)
    held = HeldTree(tree)
    with open(tree.parent / f"{tree.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if held.unfinished.exists():
            remove_tree(tree)
            (tree.parent / f"{tree.name}.sources").unlink(missing_ok=True)
        tree.mkdir(exist_ok=True)
        held.unfinished.touch()
        yield held
