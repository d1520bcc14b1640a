"""The filesystem domain: a filesystem (a module's, by default kernel/vexfs, or tmpfs or ext4 built into
the kernel) put through build, mount_cycles, posix_ops, data_integrity, xattrs_and_vectors, stress,
limits and memory, in the guest.

Declared here for the commands; the tests and how they find their subject: domain.py.
"""

from __future__ import annotations

from toolkit.domains.declaration import Declaration
from toolkit.domains.filesystem.options import FsOptions

DECLARATION = Declaration(
    name="filesystem",
    summary="a filesystem (a module's, or tmpfs/ext4): mounts, POSIX operations, data integrity, xattrs and "
    "vectors, stress, limits, memory",
    options=FsOptions,
    quick={"mount_cycles": 3, "stress_s": 5},
)
