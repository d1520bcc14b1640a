"""A ready kernel the user brings (`--kernel-image`): a distribution's or a build's .deb packages, checked.

A kernel is one `linux-image-<release>` package (or its `-unsigned` twin) and `linux-headers-<release>` of the
same version, with the packages of that kernel they depend on (Debian's linux-headers-<release>-common and
linux-kbuild-<version>): given as files, or folders of .deb files. Nothing else is taken: a .rpm, a bare
bzImage, a meta-package such as linux-image-amd64 are refused with what to give instead.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from toolkit import host_checks, kernels
from toolkit.errors import UserError
from toolkit.kernels import KernelLine

_IMAGE = re.compile(r"linux-image-(\d[a-z0-9.+~-]*?)(?:-unsigned)?")
# the packages of one kernel that its image and headers depend on, which the user gives with them
_KERNEL_PACKAGE = re.compile(r"linux-(?:image|headers|kbuild)-\d\S*")
FLAG = "--kernel-image"
_DEBIAN_MARK = re.compile(r"[+~-]((?:deb|bpo)\d+)")
DEB_MAGIC = b"!<arch>\ndebian-binary"


@dataclass(frozen=True)
class DebPackage:
    """One .deb file: its package name, version and the names each clause of its Depends allows."""

    path: Path
    name: str
    version: str
    depends: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class KernelImage:
    """A ready kernel's packages: its release (`uname -r`), their version, and a key of their content."""

    release: str
    version: str
    packages: tuple[Path, ...]
    key: str

    @property
    def line(self) -> KernelLine:
        """image-<x.y.z>[-<Debian mark>]-<key>: short enough for a matrix VM's name, the mark keeping the suite."""
        numbers = re.match(r"\d+\.\d+(?:\.\d+)?", self.release).group(0)  # type: ignore[union-attr]
        mark = _DEBIAN_MARK.search(self.release) or _DEBIAN_MARK.search(self.version)
        return kernels.select(f"image-{numbers}{f'-{mark.group(1)}' if mark else ''}-{self.key}")


def deb_files(texts: Sequence[str]) -> list[Path]:
    """The .deb files the paths name (a folder: the .deb files in it); a UserError for anything else."""
    found: list[Path] = []
    for text in texts:
        if not text.strip():
            raise UserError(f"{FLAG} is empty: give .deb files or a folder of them, e.g. {FLAG} ~/kernels/6.12/")
        if ".." in Path(text).parts:
            raise UserError(f"{FLAG} {text!r} goes up with '..': give the path without it")
        path = Path(text).expanduser().resolve()
        if path.is_dir():
            debs = sorted(path.glob("*.deb"))
            if not debs:
                raise UserError(f"{FLAG} {text!r} is a folder without .deb files: give the folder of the kernel's "
                                "linux-image and linux-headers packages")  # fmt: skip
            found += debs
        elif not path.is_file():
            raise UserError(f"{FLAG} {text!r} does not exist: give .deb files or a folder of them")
        elif path.suffix != ".deb":
            raise UserError(f"{FLAG} {text!r} is not a .deb package: only Debian packages are taken (linux-image and "
                            "linux-headers .deb files); build a bzImage from its tree with --kernel-tree instead")  # fmt: skip
        else:
            found.append(path)
    if not found:
        raise UserError(f"{FLAG} names no package: give .deb files or a folder of them")
    return sorted(set(found))


def read_deb(path: Path) -> DebPackage:
    """The control fields of a .deb file; a UserError when it is not one."""
    with open(path, "rb") as start:
        if start.read(len(DEB_MAGIC)) != DEB_MAGIC:
            raise UserError(f"{FLAG} {str(path)!r} is not a .deb package (no Debian archive inside): give linux-image "
                            "and linux-headers .deb files")  # fmt: skip
    dpkg_deb = host_checks.require_tool("dpkg-deb")
    done = subprocess.run([dpkg_deb, "--field", str(path), "Package", "Version", "Depends"], capture_output=True,
                          text=True)  # fmt: skip
    fields = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    if done.returncode != 0 or "Package" not in fields:
        raise UserError(f"{FLAG} {str(path)!r} is not a readable .deb package: give linux-image and linux-headers .deb "
                        "files")  # fmt: skip
    clauses = tuple(
        tuple(re.split(r"[\s(:]", alternative.strip(), maxsplit=1)[0] for alternative in clause.split("|"))
        for clause in fields.get("Depends", "").split(",")
        if clause.strip()
    )
    return DebPackage(path, fields["Package"], fields.get("Version", ""), clauses)


def kernel_of(packages: Sequence[DebPackage]) -> tuple[str, str]:
    """(release, version) of the one kernel the packages are: an image, its headers of the same version, and the
    kernel packages they depend on; a UserError saying what is missing or does not belong."""
    images = [package for package in packages if package.name.startswith("linux-image-")]
    if len(images) != 1:
        names = ", ".join(package.name for package in images) or "none"
        raise UserError(f"{FLAG} needs one linux-image package, not {names}: give one kernel's image and headers")
    image = images[0]
    match = _IMAGE.fullmatch(image.name)
    if not match:
        raise UserError(f"{image.path.name} is not a kernel image (a meta-package?): give the linux-image-<release> "
                        "package it depends on (apt-get download linux-image-<release>)")  # fmt: skip
    release = match.group(1)
    headers = next((package for package in packages if package.name == f"linux-headers-{release}"), None)
    if headers is None:
        raise UserError(f"{FLAG}: the headers of {release} are missing: add linux-headers-{release}_{image.version}"
                        f"_*.deb (apt-get download linux-headers-{release}), modules are built against them")  # fmt: skip
    if headers.version != image.version:
        raise UserError(f"{FLAG}: linux-headers-{release} is version {headers.version}, the image {image.version}: "
                        "give the headers of the same version")  # fmt: skip
    given = {package.name for package in packages}
    for package in packages:
        if package is not image and not _KERNEL_PACKAGE.fullmatch(package.name):
            raise UserError(f"{FLAG}: {package.path.name} is not a package of a kernel: give only the kernel's "
                            "linux-image, linux-headers and linux-kbuild packages")  # fmt: skip
        for clause in package.depends:
            kernel_names = [name for name in clause if _KERNEL_PACKAGE.fullmatch(name)]
            if kernel_names and not given.intersection(clause):
                raise UserError(f"{FLAG}: {package.name} needs {kernel_names[0]}: add its .deb (apt-get download "
                                f"{kernel_names[0]})")  # fmt: skip
    return release, image.version


def inspect(texts: Sequence[str]) -> KernelImage:
    """The kernel --kernel-image gives; a UserError for packages that are not one kernel's image and headers."""
    packages = [read_deb(path) for path in deb_files(texts)]
    release, version = kernel_of(packages)
    digest = hashlib.sha256()
    for package in packages:
        with open(package.path, "rb") as content:
            digest.update(hashlib.file_digest(content, "sha256").digest())
    return KernelImage(release, version, tuple(package.path for package in packages), digest.hexdigest()[:6])
