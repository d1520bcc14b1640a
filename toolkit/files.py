"""File-system helpers shared by boxes, machines and results: atomic writes, safe removal, locks."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from toolkit import user_namespace
from toolkit.errors import UserError

SHARED_MODE = 0o644


def as_named(path: Path) -> str:
    """path as a user at the command line names it: relative to the working directory when under it."""
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write path whole or not at all: a temp file beside it, fsynced, then renamed over it.

    The file is readable by everyone (0644), like a file written the usual way: results and
    logs are read by other users and by CI (mkstemp alone would make it 0600).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), SHARED_MODE)
            out.write(raw)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_output(path: Path, data: str | bytes, flag: str = "--output") -> None:
    """atomic_write to a path the user named: a UserError saying why when it cannot be written."""
    try:
        atomic_write(path, data)
    except OSError as error:
        raise UserError(
            f"cannot write {path} ({error.strerror}): give {flag} a file in a directory you can write"
        ) from None


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below path, deepest first."""
    root = path.resolve()
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = Path(line.split()[1].replace("\\040", " "))
        if point == root or root in point.parents:
            points.append(point)
    return sorted(points, key=lambda p: len(p.parts), reverse=True)


def remove_tree(path: Path) -> None:
    """Remove a directory tree, first unmounting anything mounted inside it (a chroot's /proc, /dev); a Debian
    tree an ordinary user made, whose folders other ids of its user namespace own, is removed in that namespace."""
    if not path.exists():
        return
    for point in mounts_under(path):
        subprocess.run(["umount", "--lazy", str(point)], check=True)
    try:
        shutil.rmtree(path)
    except PermissionError:
        user_namespace.remove(path)


@contextlib.contextmanager
def locked(lock_path: Path, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive advisory lock on lock_path for the duration of the block (BlockingIOError at once
    when another holds it and not wait)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        yield
