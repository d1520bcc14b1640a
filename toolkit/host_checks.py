"""Checks of the host: tools present, root where needed, disk space, folders this user can read and write."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
from pathlib import Path

from toolkit import host_tools
from toolkit.errors import UserError

GIB = 1024**3


def require_tool(name: str) -> str:
    """The tool's path (a command, or a file named by its absolute path), or a UserError naming the package that
    brings it on each distribution."""
    path = host_tools.locate(name)
    if path is None:
        tool = host_tools.table().get(name)
        raise UserError(f"{name} not found: {_fix([tool]) if tool else 'install it'}")
    return path


def _fix(tools: list[host_tools.HostTool]) -> str:
    """How to get tools: ./setup installs the qemu provider's with apt-get; else their packages."""
    setup = "run ./setup as root, or " if all(tool.needed_by == "qemu" for tool in tools) else ""
    return f"{setup}install {host_tools.packages(tools)}"


def require_host_tools(needed_by: str) -> None:
    """Everything the table lists for needed_by is here, else one UserError naming all that is missing."""
    missing = host_tools.missing(needed_by)
    if missing:
        names = ", ".join(tool.need for tool in missing)
        raise UserError(f"{names} not found: {_fix(missing)}")


def require_root(why: str) -> None:
    if os.geteuid() != 0:
        raise UserError(f"{why} needs root: run it as root (sudo -E invoke ...)")


CACHE_SPACE = "invoke box.remove, or set VEXFS_CACHE_DIR to a bigger disk"


def require_free_space(path: Path, needed_gib: float, why: str, how: str = CACHE_SPACE) -> None:
    """Fail early when the file system holding path has less than needed_gib free (how: how to get more there)."""
    probe = path
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed_gib * GIB:
        raise UserError(
            f"{why} needs {needed_gib:g} GiB free in {probe}, only {free / GIB:.1f} GiB left: free space there ({how})"
        )


# The kernel's own views of itself: writable to root in places, yet they hold no files of ours.
PSEUDO_FILESYSTEMS = (Path("/proc"), Path("/sys"))


def nearest_existing(path: Path) -> Path:
    """path, or the closest of its parents that exists (OSError when one cannot be looked at)."""
    return next((place for place in (path, *path.parents) if place.exists()), Path("/"))


def unwritable_reason(folder: Path) -> str | None:
    """Why files cannot be made in folder, an existing directory: it is on the kernel's pseudo-filesystem, or this
    user may not write there (its permissions, a read-only mount); None when they can."""
    resolved = folder.resolve()
    pseudo = next((top for top in PSEUDO_FILESYSTEMS if resolved == top or top in resolved.parents), None)
    if pseudo is not None:
        return f"{pseudo} is the kernel's pseudo-filesystem, which holds no files"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{folder} is not writable by you ({whose(folder)}, or a read-only mount)"
    return None


def whose(path: Path) -> str:
    """path's owner and permissions as a message says them: "owned by root, mode 0700"."""
    found = path.lstat()
    try:
        owner = pwd.getpwuid(found.st_uid).pw_name
    except KeyError:  # a user id with no name on this host
        owner = f"user id {found.st_uid}"
    return f"owned by {owner}, mode {stat.S_IMODE(found.st_mode):04o}"


def unusable_reason(path: Path, write: bool) -> str | None:
    """Why this user cannot use path, an existing folder or file: they may not read it (look into it, for a
    folder), or not write it when write; None when they can. OSError when path cannot be looked at."""
    folder = path.is_dir()
    needed = os.R_OK | (os.X_OK if folder else 0)
    if not os.access(path, needed):
        return f"is not readable by you ({whose(path)})"
    if write and not os.access(path, os.W_OK | (os.X_OK if folder else 0)):
        return f"is not writable by you ({whose(path)})"
    return None
