"""What the host needs, found by command, and the package that brings each on Debian/Ubuntu, Fedora and Arch.

The table is host_tools.txt, which ./setup reads too: it runs before the toolkit is installed.
"""

from __future__ import annotations

import functools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

TABLE = Path(__file__).with_name("host_tools.txt")
# What mmdebstrap verifies Debian's mirror with when the host's apt trusts no Debian key (any host but Debian's).
DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


# Where system commands (mkfs.ext4, chroot) are, though an ordinary user's PATH may not list them.
SYSTEM_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def locate(need: str) -> str | None:
    """Where need is: a command on PATH or in the system's sbin folders, or the file itself for an absolute path;
    None when it is not here."""
    if need.startswith("/"):
        return need if Path(need).exists() else None
    return shutil.which(need, path=os.pathsep.join([os.environ.get("PATH", os.defpath), *SYSTEM_DIRS]))


@dataclass(frozen=True)
class HostTool:
    """A command the toolkit runs (or a file it reads, for an absolute path) and its packages."""

    need: str
    needed_by: str
    debian: str
    fedora: str
    arch: str

    def present(self) -> bool:
        return locate(self.need) is not None


def parse(text: str) -> dict[str, HostTool]:
    """The table's rows by need; blank lines and # comments skipped."""
    rows = [line.split() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return {row[0]: HostTool(*row) for row in rows}


@functools.cache
def table() -> dict[str, HostTool]:
    return parse(TABLE.read_text())


def missing(needed_by: str) -> list[HostTool]:
    """What the table lists for needed_by ('qemu', 'vagrant') that this host lacks."""
    return [tool for tool in table().values() if tool.needed_by == needed_by and not tool.present()]


def packages(tools: list[HostTool]) -> str:
    """What to install for tools: 'qemu-utils zstd (Debian/Ubuntu), qemu-img zstd (Fedora) or qemu-img zstd (Arch)'."""

    def names(distribution: str) -> str:
        return " ".join(dict.fromkeys(getattr(tool, distribution) for tool in tools))

    return f"{names('debian')} (Debian/Ubuntu), {names('fedora')} (Fedora) or {names('arch')} (Arch)"
