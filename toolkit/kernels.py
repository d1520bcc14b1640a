"""The catalogue of Debian kernel lines a VM can run."""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.errors import UserError


@dataclass(frozen=True)
class KernelLine:
    """One Debian kernel line: the suite whose stock kernel it is."""

    name: str
    suite: str
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, self.suite, *self.aliases)


CATALOGUE: tuple[KernelLine, ...] = (
    KernelLine("5.10", "bullseye"),
    KernelLine("6.1", "bookworm"),
    KernelLine("6.12", "trixie"),
    KernelLine("7.x", "sid", aliases=("7", "unstable")),
)

DEFAULT = "6.1"


def select(name: str) -> KernelLine:
    """The kernel line named by its version or its Debian suite."""
    wanted = name.strip().lower()
    for line in CATALOGUE:
        if wanted in line.names:
            return line
    known = ", ".join(f"{line.name} ({line.suite})" for line in CATALOGUE)
    raise UserError(f"unknown kernel line {name!r}: choose one of {known}")


def select_many(names: str) -> list[KernelLine]:
    """Kernel lines from a comma-separated list (versions or suites), in catalogue order, no repeats."""
    chosen = {select(name) for name in names.split(",") if name.strip()}
    if not chosen:
        raise UserError("no kernel line given: name one or more, e.g. --kernels 6.1,6.12")
    return [line for line in CATALOGUE if line in chosen]
