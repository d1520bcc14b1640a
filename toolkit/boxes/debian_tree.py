"""A Debian root tree made by mmdebstrap without root, its files owned as the guest's are in the user namespace.

mmdebstrap makes the tree as a tarball in a namespace of its own (root's, or this user's with its subordinate
ids); the tarball is unpacked in the user namespace of `toolkit.user_namespace`, where the tree's root is this
user. The tarball's device nodes are left out: a user namespace cannot make them, and the guest's /dev is the
kernel's devtmpfs (chroots get theirs from toolkit/chroot.sh).

mmdebstrap makes the tree in a folder of its own under $TMPDIR (else /tmp), where its namespace's root, one of
the user's subordinate ids, may write: not in the user's cache, which may lie in a home no other id may enter.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from toolkit import host_checks, user_namespace

# Runs a command as the step named, raising the caller's error when it fails.
Run = Callable[[list[str], str], object]
# The most a tree of the toolkit takes in mmdebstrap's temporary folder (a box's takes 1.1 GiB).
SCRATCH_GIB = 3


def require_scratch_space(why: str) -> None:
    """Room for mmdebstrap's tree in the temporary folder, else a UserError."""
    where = Path(tempfile.gettempdir())
    how = "or set TMPDIR to a folder on a bigger disk that any user may enter"
    host_checks.require_free_space(where, SCRATCH_GIB, f"{why} (mmdebstrap's scratch tree)", how)


def make(mmdebstrap: list[str], suite: str, mirror: str, rootfs: Path, run: Run) -> None:
    """rootfs, a new folder, made by mmdebstrap (its command and options before the suite) from mirror."""
    tarball = rootfs.with_name(f"{rootfs.name}.tar")
    try:
        run([*mmdebstrap, "--mode=unshare", suite, str(tarball), mirror], "mmdebstrap")
        rootfs.mkdir()
        unpack = ["tar", "-xf", str(tarball), "-C", str(rootfs), "--numeric-owner", "--exclude=./dev/*"]
        run(user_namespace.command(*unpack), "unpack the tree")
    finally:
        tarball.unlink(missing_ok=True)
