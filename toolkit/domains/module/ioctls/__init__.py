"""The ioctl commands a module's own sources define, with the numbers its switch sees.

A command is an object-like `#define NAME` in the module's .c and .h files whose value is one `_IO`, `_IOR`,
`_IOW`, `_IOWR` (or `_IOR_BAD`, `_IOW_BAD`, `_IOWR_BAD`, `_IOC`) call, directly or through the module's own
macros: an alias of another command, a wrapper that supplies the magic.

Its number comes from the compiler when a box's root filesystem is given (probe.py): a small C program per
command, built by the box's gcc in a chroot of it. Otherwise, and for what the compiler could not build, a small
evaluator works it out (evaluator.py): the _IOC encoding of include/uapi/asm-generic/ioctl.h (encoding.py; x86_64
uses it), the sizes of LP64 scalars, arrays, pointers, and of the structs and unions the sources define, laid out
as the x86_64 ABI does (layouts.py). What neither can evaluate is listed with the reason.

`#if 0` blocks are skipped; other conditions are not evaluated (preprocessor.py): every branch counts, and a type
whose fields differ between branches, or a macro defined differently in them, is unresolved (the compiler, in
user space, takes the branches a user program sees).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from toolkit.domains.module.ioctls.commands import commands_in
from toolkit.domains.module.ioctls.encoding import IoctlCommand
from toolkit.domains.module.ioctls.evaluator import evaluated
from toolkit.domains.module.ioctls.preprocessor import Macro
from toolkit.domains.module.ioctls.probe import compiled
from toolkit.domains.module.ioctls.sources import read_sources
from toolkit.errors import UserError

__all__ = ["IoctlCommand", "IoctlScan", "commands_in", "compiled", "evaluated", "read_sources", "scan"]


@dataclass(frozen=True)
class IoctlScan:
    """The commands a module's sources define, and one line per command that could not be evaluated, saying why."""

    commands: tuple[IoctlCommand, ...]
    unresolved: tuple[str, ...]


def scan(source_dir: Path, sysroot: Path | None = None) -> IoctlScan:
    """The ioctl commands source_dir's .c and .h files define. With sysroot (a box's root filesystem: gcc, the
    kernel's userspace headers) the numbers come from programs compiled and run in a chroot of it; the evaluator
    fills in what they could not build."""
    if not source_dir.is_dir():
        raise UserError(f"the module's source directory {source_dir} does not exist")
    sources = read_sources(source_dir)
    sites = commands_in(sources)
    values = evaluated(sources, sites)
    if sysroot is not None:
        values = _preferring_compiled(values, compiled(sources, sites, sysroot))
    return _result(sites, values)


def _preferring_compiled(evaluated: dict[Macro, int | str], compiled: dict[Macro, int | str]) -> dict[Macro, int | str]:
    merged: dict[Macro, int | str] = {}
    for site, value in evaluated.items():
        probed = compiled.get(site)
        if isinstance(probed, int) or isinstance(value, int):
            merged[site] = probed if isinstance(probed, int) else value
        else:
            merged[site] = f"{value} (compiled: {probed})" if probed else value
    return merged


def _result(sites: Sequence[Macro], values: dict[Macro, int | str]) -> IoctlScan:
    commands: dict[tuple[str, int], IoctlCommand] = {}
    unresolved = []
    for site in sites:
        value = values[site]
        if isinstance(value, int):
            commands.setdefault((site.name, value), IoctlCommand.decoded(site.name, value, site.where))
        else:
            unresolved.append(f"{site.name} ({site.where}): {value}")
    return IoctlScan(tuple(commands.values()), tuple(unresolved))
