"""A module's build tree kept between runs, one per box, kernel and source directory: after an edit,
make rebuilds only what the edit changed.

The tree holds a copy of the sources and the objects of the last build. Each run syncs it:
a file whose content changed is copied in stamped now (newer than any object, whatever its
own mtime), a file gone from the source goes from the tree too. A build that never ended
(killed, timed out) may have left a truncated object: the next one starts from an empty tree.

One build at a time holds a tree (an flock beside it, its file naming the holder). make runs
in a session of its own: when the toolkit is killed (SIGKILL), make goes on. Its process
group and start time are recorded beside the tree while it runs, and the next build of the
tree ends that group, once it has proved the process is still that make, before it starts.
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
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

from toolkit import process_group
from toolkit.errors import UserError
from toolkit.files import atomic_write, remove_tree

# What a build makes, or a checkout carries, that is not a source of the module.
ARTEFACTS = ("*.ko", "*.o", "*.mod", "*.mod.c", ".*.cmd", "modules.order", "Module.symvers", ".git", ".tmp_versions")
TREES = "module-builds"


def tree_for(sysroot: Path, release: str, source_dir: Path) -> Path:
    """The kept tree of source_dir's build for release, beside the box whose root is sysroot (it goes with it)."""
    key = hashlib.sha256(f"{source_dir.resolve()}\0{release}".encode()).hexdigest()[:12]
    plain = re.sub(r"[^A-Za-z0-9._-]", "_", source_dir.name)  # it becomes make's M=: no spaces, no quotes
    return sysroot.parent / TREES / f"{plain}-{key}"


def sources(source_dir: Path) -> list[str]:
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
    """Make tree's sources source_dir's: changed and new ones copied in, stamped now; ones removed there go.

    The modules the last build linked go too (their objects stay, so make only links them again): a module the
    source no longer builds (renamed, or at another commit) is never taken for one it built."""
    listing = tree.parent / f"{tree.name}.sources"
    previous = set(json.loads(listing.read_text())) if listing.exists() and tree.is_dir() else set()
    current = sources(source_dir)
    for gone in previous - set(current):
        (tree / gone).unlink(missing_ok=True)
    for linked in tree.rglob("*.ko") if tree.is_dir() else ():
        linked.unlink()
    for relative in current:
        if not _same(source_dir / relative, tree / relative):
            _copy(source_dir / relative, tree / relative)
    listing.write_text(json.dumps(current))


@dataclass(frozen=True)
class HeldTree:
    """A tree held for one build. `running` records the build's make while it runs (its process group, its
    start time); `ended` says it ended by itself (else the next build starts afresh)."""

    path: Path

    @property
    def unfinished(self) -> Path:
        return self.path.parent / f"{self.path.name}.unfinished"

    @property
    def make(self) -> Path:
        return self.path.parent / f"{self.path.name}.make"

    def running(self, pid: int) -> None:
        """The make that pid leads (its own process group) runs in this tree: recorded until the build is over,
        so that the next build can end it if this one is killed and leaves it running."""
        with contextlib.suppress(psutil.NoSuchProcess):  # it ended already
            started = psutil.Process(pid).create_time()
            atomic_write(self.make, json.dumps({"pid": pid, "started": started, "tree": str(self.path)}))

    def ended(self) -> None:
        self.unfinished.unlink(missing_ok=True)


LEADERS = ("unshare", "sh", "chroot", "env", "make")  # what the build's first process runs, exec after exec
GONE_WAIT_S = 10.0


def _left_running(held: HeldTree) -> int | None:
    """The process group of the make an earlier build of this tree recorded and left running (its toolkit was
    killed), when it provably is that build's: its leader is the recorded process (same pid, same start time)
    running this tree's build; or, the leader gone, a process of its group and session started since runs a
    step of this tree's build (a compiler, a sub-make: the group's id cannot be reused while they hold it)."""
    try:
        record = json.loads(held.make.read_text())
        group, started = int(record["pid"]), float(record["started"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) != group or os.getsid(process.pid) != group:
                continue
            born, mentions = process.create_time(), any(held.path.name in arg for arg in process.cmdline())
            if process.pid == group:
                if abs(born - started) < 0.01 and process.name() in LEADERS and mentions:
                    return group
            elif born >= started - 0.01 and mentions:
                return group
        except (OSError, psutil.Error):
            continue
    return None


def _end_group(group: int) -> None:
    """SIGKILL to the process group; then a (bounded) wait until none of it runs on."""
    process_group.kill_group(group)
    deadline = time.monotonic() + GONE_WAIT_S
    while time.monotonic() < deadline and _group_runs(group):
        time.sleep(0.05)


def _group_runs(group: int) -> bool:
    for process in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if os.getpgid(process.pid) == group and process.status() != psutil.STATUS_ZOMBIE:
                return True
    return False


def _holder(lock: IO[str]) -> str:
    lock.seek(0)
    return lock.read().strip() or "another process"


def _lock(lock: IO[str], tree: Path, wait_s: float, say: Callable[[str], None]) -> None:
    """flock the tree's lock, waiting at most wait_s for the build that holds it (a UserError naming it then)."""
    deadline = time.monotonic() + wait_s
    waiting = False
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise UserError(
                    f"the module's build tree {tree} is in use by {_holder(lock)} for more than {wait_s:g} s: "
                    "wait for that build to end, or end it"
                ) from None
            if not waiting:
                say(f"waiting for the module's build tree, in use by {_holder(lock)}")
                waiting = True
        time.sleep(0.2)


@contextlib.contextmanager
def building(
    tree: Path, purpose: str = "a build", wait_s: float = 600.0, say: Callable[[str], None] = lambda line: None
) -> Iterator[HeldTree]:
    """The tree held for one build (another build of it waits up to wait_s, then a UserError naming the holder);
    an earlier build's make left running is ended first, and the tree emptied when the last make never ended."""
    tree.parent.mkdir(parents=True, exist_ok=True)
    held = HeldTree(tree)
    with open(tree.parent / f"{tree.name}.lock", "a+") as lock:
        _lock(lock, tree, wait_s, say)
        lock.truncate(0)
        lock.write(f"pid {os.getpid()} ({purpose})\n")
        lock.flush()
        orphan = _left_running(held)
        if orphan is not None:
            _end_group(orphan)
            say(f"a killed build had left its make running (process group {orphan}): ended it, building afresh")
        held.make.unlink(missing_ok=True)
        if orphan is not None or held.unfinished.exists():
            remove_tree(tree)
            (tree.parent / f"{tree.name}.sources").unlink(missing_ok=True)
        tree.mkdir(exist_ok=True)
        held.unfinished.touch()
        try:
            yield held
        finally:
            held.make.unlink(missing_ok=True)  # its make is over: ended, or killed with its group
