"""A Debian root tree made by mmdebstrap without root, its files owned as the guest's are in the user namespace.

mmdebstrap makes the tree as a tarball in a namespace of its own (root's, or this user's with its subordinate
ids); the tarball is unpacked in the user namespace of `toolkit.user_namespace`, where the tree's root is this
user. The tarball's device nodes are left out: a user namespace cannot make them, and the guest's /dev is the
kernel's devtmpfs (chroots get theirs from toolkit/chroot.sh).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from toolkit import user_namespace

# Runs a command as the step named, raising the caller's error when it fails.
Run = Callable[[list[str], str], object]


def make(mmdebstrap: list[str], suite: str, mirror: str, rootfs: Path, run: Run) -> None:
    """rootfs, a new folder, made by mmdebstrap (its command and options before the suite) from mirror."""
    tarball = rootfs.with_name(f"{rootfs.name}.tar")
    try:
        # its own scratch tree beside rootfs, where the free space was checked, rather than in /tmp
        scratch = f"TMPDIR={rootfs.parent}"
        run(["env", scratch, *mmdebstrap, "--mode=unshare", suite, str(tarball), mirror], "mmdebstrap")
        rootfs.mkdir()
        unpack = ["tar", "-xf", str(tarball), "-C", str(rootfs), "--numeric-owner", "--exclude=./dev/*"]
        run(user_namespace.command(*unpack), "unpack the tree")
    finally:
        tarball.unlink(missing_ok=True)
