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
OS_RELEASE_VARIABLE = "VEXFS_OS_RELEASE"  # another os-release file to read, as ./setup does (for tests)
# Where daemons and administration commands live when this user's PATH leaves them out.
SYSTEM_COMMANDS = "/usr/local/sbin:/usr/sbin:/sbin"
NO_PACKAGE = "-"  # in a distribution's column: none brings it; a Vagrant plugin, `vagrant plugin install` brings it
# Each distribution by the words of os-release's ID and ID_LIKE that name it or one like it; its install command.
DISTRIBUTIONS = {"debian": ("debian", "ubuntu"), "fedora": ("fedora", "rhel", "centos"), "arch": ("arch",)}
INSTALLERS = {"debian": "sudo apt-get install", "fedora": "sudo dnf install", "arch": "sudo pacman -S"}


def locate(need: str) -> str | None:
    """Where need is: a command on PATH or in the system's sbin folders, or the file itself for an absolute path;
    None when it is not here."""
    if need.startswith("/"):
        return need if Path(need).exists() else None
    return shutil.which(need) or shutil.which(need, path=SYSTEM_COMMANDS)


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

    def package(self, distribution: str) -> str:
        """Its package on distribution ('debian', 'fedora' or 'arch'); NO_PACKAGE for a plugin none brings."""
        return str(getattr(self, distribution))


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
        return " ".join(dict.fromkeys(_package_or_plugin(tool, distribution) for tool in tools))

    return f"{names('debian')} (Debian/Ubuntu), {names('fedora')} (Fedora) or {names('arch')} (Arch)"


def _package_or_plugin(tool: HostTool, distribution: str) -> str:
    package = tool.package(distribution)
    return f"`vagrant plugin install {tool.need}`" if package == NO_PACKAGE else package


def distribution() -> str | None:
    """'debian', 'fedora' or 'arch': this host's distribution or the one it is like (os-release's ID, ID_LIKE;
    VEXFS_OS_RELEASE names another file, as for ./setup); None for any other."""
    path = Path(os.environ.get(OS_RELEASE_VARIABLE) or "/etc/os-release")
    try:
        fields = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    except OSError:
        return None
    words = " ".join(fields.get(key, "").strip("\"' ") for key in ("ID", "ID_LIKE")).split()
    return next((name for word in words for name, known in DISTRIBUTIONS.items() if word in known), None)


def install_command(tools: list[HostTool]) -> str:
    """How to install tools on this host: 'sudo dnf install vagrant libvirt-client' (a Vagrant plugin that no package
    brings: ', then vagrant plugin install NAME'); on another distribution, every distribution's packages."""
    found = distribution()
    if found is None:
        return f"install {packages(tools)}"
    packaged = list(dict.fromkeys(tool.package(found) for tool in tools if tool.package(found) != NO_PACKAGE))
    plugins = [tool.need for tool in tools if tool.package(found) == NO_PACKAGE]
    steps = [f"{INSTALLERS[found]} {' '.join(packaged)}"] if packaged else []
    steps += [f"vagrant plugin install {' '.join(plugins)}"] if plugins else []
    return ", then ".join(steps)
