"""A Debian root tree made by mmdebstrap without root, its files owned as the guest's are in the user namespace.

mmdebstrap makes the tree in its `unshare` mode. For root, which needs no user namespace, it writes the tree in
place. For a user it maps ids its own way (its namespace's root is the first subordinate id), so it writes a
tarball, unpacked in the user namespace of `toolkit.user_namespace`, where the tree's root is this user. The
tarball's device nodes are left out: a user namespace cannot make them, and the guest's /dev is the kernel's
devtmpfs (chroots get theirs from toolkit/chroot.sh). Passing the tarball costs about a minute on a loaded
2-core host, which root is spared.

dpkg writes the tree without an fsync per file (`force-unsafe-io`): the tree is scratch until the build that asked
for it is complete, and an interrupted build makes it again. On a loaded 2-core host that saves a fifth of
mmdebstrap's time for a box.

mmdebstrap makes the tree in a folder of its own under $TMPDIR (else /tmp), where its namespace's root, one of
the user's subordinate ids, may write: not in the user's cache, which may lie in a home no other id may enter.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from toolkit import host_checks, user_namespace

# Runs a command as the step named, raising the caller's error when it fails.
Run = Callable[[list[str], str], object]
# dpkg's options while mmdebstrap installs (kept in the tree's /etc/dpkg/dpkg.cfg.d for later installs).
DPKG_OPTIONS = ("--dpkgopt=force-unsafe-io",)
# The most a tree of the toolkit takes in mmdebstrap's temporary folder (a box's takes 1.1 GiB).
SCRATCH_GIB = 3


def require_scratch_space(why: str) -> None:
    """Room for mmdebstrap's tree in the temporary folder, where an ordinary user's is made, else a UserError."""
    if os.geteuid() == 0:
        return
    where = Path(tempfile.gettempdir())
    how = "or set TMPDIR to a folder on a bigger disk that any user may enter"
    host_checks.require_free_space(where, SCRATCH_GIB, f"{why} (mmdebstrap's scratch tree)", how)


def make(mmdebstrap: list[str], suite: str, mirror: str, rootfs: Path, run: Run) -> None:
    """rootfs, a new folder, made by mmdebstrap (its command and options before the suite) from mirror."""
    options = [*mmdebstrap, *DPKG_OPTIONS, "--mode=unshare", suite]
    if os.geteuid() == 0:  # root's namespace keeps the real owners: straight into rootfs, no tarball to pass
        run([*options, str(rootfs), mirror], "mmdebstrap")
        return
    tarball = rootfs.with_name(f"{rootfs.name}.tar")
    try:
        run([*options, str(tarball), mirror], "mmdebstrap")
        rootfs.mkdir()
        unpack = ["tar", "-xf", str(tarball), "-C", str(rootfs), "--numeric-owner", "--exclude=./dev/*"]
        run(user_namespace.command(*unpack), "unpack the tree")
    finally:
        tarball.unlink(missing_ok=True)
