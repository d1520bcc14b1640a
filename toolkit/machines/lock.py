"""One user of a VM at a time: a lock file in the VM's directory naming its holder.

The lock is an advisory flock, so it goes with its holder, even one killed with SIGKILL; the
file says who holds it (pid and what for) so a second run can say whom it waits for. Within
one process the lock is re-entrant (a run that resets its own VM does not lock itself out).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from toolkit.errors import UserError

LOCK_FILE = "lock"
_held: dict[Path, tuple[IO[str], int]] = {}
_guard = threading.Lock()


def holder(vm_dir: Path) -> str:
    """Who holds (or last held) the VM's lock, as its lock file says."""
    try:
        return (vm_dir / LOCK_FILE).read_text().strip() or "another process"
    except OSError:
        return "another process"


def is_free(vm_dir: Path) -> bool:
    """True when nobody holds the VM's lock now."""
    path = vm_dir / LOCK_FILE
    if not path.exists():
        return True
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
    return True


def _acquire(path: Path, name: str, purpose: str) -> IO[str]:
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UserError(
            f"VM {name!r} is in use by {holder(path.parent)}: wait for it to finish, or use another VM with --name NAME"
        ) from None
    handle.truncate(0)
    handle.write(f"pid {os.getpid()} ({purpose})\n")
    handle.flush()
    return handle


@contextlib.contextmanager
def held(vm_dir: Path, name: str, purpose: str) -> Iterator[None]:
    """Hold the VM's lock for the block; UserError at once when another process holds it.

    A folder made only to hold the lock (the VM was never made) goes with it.
    """
    made = not vm_dir.exists()
    vm_dir.mkdir(parents=True, exist_ok=True)
    key = vm_dir.resolve()
    with _guard:
        handle, depth = _held.get(key) or (_acquire(key / LOCK_FILE, name, purpose), 0)
        _held[key] = (handle, depth + 1)
    try:
        yield
    finally:
        with _guard:
            handle, depth = _held.pop(key)
            if depth > 1:
                _held[key] = (handle, depth - 1)
            else:
                handle.close()
                if made and [path.name for path in key.glob("*")] == [LOCK_FILE]:
                    shutil.rmtree(key, ignore_errors=True)
