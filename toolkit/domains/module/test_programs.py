"""The programs a module's tests use, built by the tests' own Makefile (`make -C tests`, as kselftest builds
before it runs) before any script runs.

Built where the module was: with a chroot build, on the host in the module's kept build tree, with the box's
gcc and libc (the guest's), so the guest is given them built and a run after an edit makes only what changed;
with a guest build, in the guest's copy of the tests.
"""

from __future__ import annotations

import os
import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from toolkit import build_errors, process_group
from toolkit.domains.module import build, build_tree
from toolkit.files import remove_tree

MAKEFILE = "Makefile"
TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Made:
    """What `make -C tests` did: its exit status (TIMED_OUT past its timeout), what it printed, how long it took."""

    returncode: int
    output: str
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def failure(self, folder: str) -> str:
        """`tests/Makefile: make failed (exit 2): smoke.c:3: error: ...`"""
        lines = self.output.splitlines()
        said = build_errors.first_error(lines) or (lines[-1].strip() if lines else "it printed nothing")
        if self.returncode == process_group.TIMED_OUT:
            return f"{folder}/{MAKEFILE}: make did not end within {TIMEOUT_S:g} s: {said}"
        return f"{folder}/{MAKEFILE}: make failed (exit {self.returncode}): {said}"


def make_words(folder: str) -> list[str]:
    return ["env", "LC_ALL=C", "LANG=C", "make", f"-j{os.cpu_count() or 1}", "-C", folder]


def make_on_host(sysroot: Path, release: str, module_dir: Path, folder: str, into: Path) -> Made:
    """`make -C folder` (relative to module_dir) in the box's chroot, in the module's kept build tree (synced by
    the build just before), holding the tree like a build; the folder then copied to into/folder (its sources
    and what make built)."""
    tree = build_tree.tree_for(sysroot, release, module_dir)
    mount = build.mount_point(tree)
    with build_tree.building(tree, f"building {module_dir}/{folder} for {release}", TIMEOUT_S) as held:
        started = time.monotonic()
        returncode, output = build.make_in_tree(held, sysroot, make_words(f"{mount}/{folder}"), TIMEOUT_S)
        duration = time.monotonic() - started
        remove_tree(into / folder)
        shutil.copytree(tree / folder, into / folder, ignore=shutil.ignore_patterns(*build_tree.ARTEFACTS),
                        symlinks=True)  # fmt: skip
    return Made(returncode, output.replace(mount, str(module_dir)), duration)


def make_in_guest(folder: str) -> str:
    """The guest command running `make -C folder` (relative to the current directory)."""
    return " ".join(shlex.quote(word) for word in make_words(folder)) + " 2>&1"
