"""What a box is made of, and the cache key that names it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from toolkit.boxes import kernel_config
from toolkit.kernels import KernelLine

GUEST_FILES = Path(__file__).with_name("guest")
# mksh's static build (dietlibc): root's login shell, as sshd and the agent start one per command, and the
# shell of the small scripts run after every test; ~40-100 ms of dynamic linking less each under TCG.
STATIC_SHELL = "/usr/lib/diet/bin/mksh"
# Raised whenever the build code changes what a box holds (layout, initramfs, kernel extraction):
# boxes are keyed on it and on the recipe and guest files, never on Python source text.
LAYOUT_VERSION = 3

# Paths dpkg leaves out of the box: documentation, manual pages and translations, which no test reads (the
# copyright files stay). 100 MiB less to unpack and to copy into the disk image.
LEFT_OUT = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*")
KEPT = ("/usr/share/doc/*/copyright",)

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
    "e2fsprogs",
    "attr",
    "fio",
    "stress-ng",
)


@dataclass(frozen=True)
class BoxRecipe:
    """A box for one kernel line: Debian's stock kernel (or, for a variant, one built from its source with
    the profile's config), its headers, a toolchain and sshd."""

    line: KernelLine
    packages: tuple[str, ...] = PACKAGES
    disk_gib: int = 8

    def key(self) -> str:
        """A short digest of everything that shapes the box: the recipe, its layout version and the guest files."""
        files = {path.name: path.read_text() for path in sorted(GUEST_FILES.iterdir())}
        recipe = {"suite": self.line.suite, "packages": self.packages, "disk_gib": self.disk_gib,
                  "layout": LAYOUT_VERSION, "left_out": LEFT_OUT, "kept": KEPT}  # fmt: skip
        if self.line.own:
            recipe["own"] = self.line.name
        if self.line.profile:
            recipe["profile"] = self.line.profile
            files.update(kernel_config.digest_input(self.line.profile))
        digest = hashlib.sha256(json.dumps({"recipe": recipe, "files": files}, sort_keys=True).encode())
        return digest.hexdigest()[:12]

    def dpkg_options(self) -> list[str]:
        """mmdebstrap's options for dpkg that shape the box's tree: what it leaves out, and keeps of that."""
        return [*(f"--dpkgopt=path-exclude={path}" for path in LEFT_OUT),
                *(f"--dpkgopt=path-include={path}" for path in KEPT)]  # fmt: skip

    @property
    def name(self) -> str:
        if self.line.own:
            return f"{self.line.name}-{self.key()}"
        profile = f"-{self.line.profile}" if self.line.profile else ""
        return f"{self.line.suite}{profile}-{self.key()}"
