"""What a box is made of, and the cache key that names it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from toolkit.kernels import KernelLine

GUEST_FILES = Path(__file__).with_name("guest")
# The code that turns a recipe into a box: changing it changes what a box holds.
BUILD_CODE = tuple(Path(__file__).with_name(name) for name in ("build.py", "initramfs.py", "vmlinux.py"))

PACKAGES = (
    "linux-image-amd64",
    "linux-headers-amd64",
    "tiny-initramfs",
    "gcc",
    "make",
    "libc6-dev",
    "kmod",
    "openssh-server",
    "sudo",
    "busybox-static",
    "mksh",
    "iproute2",
    "procps",
    "psmisc",
    "udev",
    "systemd-sysv",
)


@dataclass(frozen=True)
class BoxRecipe:
    """A box for one kernel line: Debian's stock kernel, its headers, a toolchain and sshd."""

    line: KernelLine
    packages: tuple[str, ...] = PACKAGES
    disk_gib: int = 8

    def key(self) -> str:
        """A short digest of everything that shapes the box: recipe, guest files and build code."""
        files = {path.name: path.read_text() for path in (*sorted(GUEST_FILES.iterdir()), *BUILD_CODE)}
        recipe = {"suite": self.line.suite, "packages": self.packages, "disk_gib": self.disk_gib}
        digest = hashlib.sha256(json.dumps({"recipe": recipe, "files": files}, sort_keys=True).encode())
        return digest.hexdigest()[:12]

    @property
    def name(self) -> str:
        return f"{self.line.suite}-{self.key()}"
