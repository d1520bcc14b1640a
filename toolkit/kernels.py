"""The catalogue of Debian kernel lines a VM can run, and their built variants (`6.1-debug`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from toolkit.errors import UserError

# A profile names a kernel built from the line's Debian source with kernel/configs/<profile>.config,
# and how much slower its checkers make a guest (every guest timeout is scaled by it).
PROFILES = {"debug": 4.0}


@dataclass(frozen=True)
class KernelLine:
    """One Debian kernel line: the suite whose stock kernel it is, or, with a profile, a kernel built from its source."""

    name: str
    suite: str
    aliases: tuple[str, ...] = ()
    profile: str = ""
    own: bool = False  # a kernel the user brought (toolkit/own_kernels.py), not Debian's

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, self.suite, *self.aliases)

    @property
    def slowdown(self) -> float:
        """The factor by which this line's kernel is slower than a stock one."""
        return PROFILES.get(self.profile, 1.0)

    @property
    def base(self) -> KernelLine:
        """The stock line this one is built from (itself when it is a stock line)."""
        return select(self.name.removesuffix(f"-{self.profile}")) if self.profile else self

    def variant(self, profile: str) -> KernelLine:
        if profile not in PROFILES:
            raise UserError(f"unknown kernel profile {profile!r}: choose one of {', '.join(PROFILES)}")
        return KernelLine(f"{self.name}-{profile}", self.suite, profile=profile)


CATALOGUE: tuple[KernelLine, ...] = (
    KernelLine("5.10", "bullseye"),
    KernelLine("6.1", "bookworm"),
    KernelLine("6.12", "trixie"),
    KernelLine("7.x", "sid", aliases=("7", "unstable")),
)

DEFAULT = "6.1"

# A kernel the user brought: tree-<version>-<key> (a tree), image-<version>[-debNN]-<key> (packages); key: 6 hex digits.
_OWN_NAME = re.compile(r"(tree|image)-(\d+\.\d+[0-9a-z.-]*)-[0-9a-f]{6}")
# Debian's mark of a suite in a kernel's version or release: 6.12.95-1~bpo12+1, 6.12.95+deb12-amd64.
_DEBIAN_MARK = re.compile(r"[+~-](?:bpo|deb)(\d+)")
DEBIAN_RELEASES = {"11": "bullseye", "12": "bookworm", "13": "trixie"}


def _version(text: str) -> tuple[int, int]:
    major, minor = re.match(r"(\d+)\.?(\d*)", text).groups()  # type: ignore[union-attr]
    return int(major), int(minor or 0)


def nearest_suite(version: str) -> str:
    """The suite whose userland and toolchain suit a kernel: the one Debian's mark in its version names (~bpo12,
    +deb12), else the newest line not newer than it (the oldest line for an older kernel)."""
    mark = _DEBIAN_MARK.search(version)
    if mark and mark.group(1) in DEBIAN_RELEASES:
        return DEBIAN_RELEASES[mark.group(1)]
    older = [line for line in CATALOGUE if _version(line.name.replace("x", "0")) <= _version(version)]
    return (older or list(CATALOGUE[:1]))[-1].suite


def own_line(name: str) -> KernelLine | None:
    """The line of a kernel the user brought, by its name (its suite follows from the version in it); None else."""
    match = _OWN_NAME.fullmatch(name)
    return KernelLine(name, nearest_suite(match.group(2)), own=True) if match else None


def select(name: str) -> KernelLine:
    """The kernel line named by its version or its Debian suite, with `-<profile>` for a built variant."""
    wanted = name.strip().lower()
    own = own_line(wanted)
    if own:
        return own
    for line in CATALOGUE:
        if wanted in line.names:
            return line
        for profile in PROFILES:
            if wanted in (f"{n}-{profile}" for n in line.names):
                return line.variant(profile)
    known = ", ".join(f"{line.name} ({line.suite})" for line in CATALOGUE)
    variants = ", ".join(f"{DEFAULT}-{p}" for p in PROFILES)
    raise UserError(f"unknown kernel line {name!r}: choose one of {known}, or a built variant such as {variants}")


def select_many(names: str) -> list[KernelLine]:
    """Kernel lines from a comma-separated list (versions or suites), in catalogue order, variants after their line,
    kernels the user brought last."""
    chosen = {select(name) for name in names.split(",") if name.strip()}
    if not chosen:
        raise UserError("no kernel line given: name one or more, e.g. --kernels 6.1,6.12")
    own = sorted((line for line in chosen if line.own), key=lambda line: line.name)
    return [line for line in every_line() if line in chosen] + own


def every_line() -> list[KernelLine]:
    """Every stock line, each followed by its built variants."""
    return [v for line in CATALOGUE for v in (line, *(line.variant(p) for p in PROFILES))]
