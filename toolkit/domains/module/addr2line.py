"""addr2line on a built module: source lines for offsets in its code sections, read from the .ko's DWARF.

A .ko is a relocatable object: each code section starts at 0, so an address is a section and an offset in it
(`addr2line -j SECTION`). The box's binutils run, in the chroot the module was built in (they know the guest's
architecture); without a box, the host's. Every offset of one section goes in one call, every section in one
command, under a timeout.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shlex
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from toolkit import process_group, user_namespace

TIMEOUT_S = 30.0
SECTION_MARK = "@section "  # printed before each section's answers
ADDRESS = re.compile(r"^0x[0-9a-f]+$")
UNKNOWN_FILE = "??"


@dataclass(frozen=True)
class SourceLine:
    """One frame of addr2line's answer: a function, and the file and line its code came from."""

    function: str
    file: str
    line: int


class Addr2lineFailed(Exception):
    """addr2line could not be run, or did not finish in time."""


def script(ko: str, offsets: Mapping[str, list[int]]) -> str:
    """The shell command asking for every section's offsets: `-a` heads each answer with its offset, `-i` gives
    the inlining chain, innermost first."""
    calls = [
        f"echo {shlex.quote(SECTION_MARK + section)}; addr2line -e {shlex.quote(ko)} -a -f -i -j "
        f"{shlex.quote(section)} {' '.join(f'{offset:#x}' for offset in wanted)}"
        for section, wanted in sorted(offsets.items())
    ]
    return "; ".join(["set -e", *calls])


def parse(output: str) -> dict[tuple[str, int], tuple[SourceLine, ...]]:
    """(section, offset) -> its chain of frames, innermost first; frames addr2line knows nothing of (`??:0`)
    left out, and lines that are none of its answers ignored."""
    found: dict[tuple[str, int], tuple[SourceLine, ...]] = {}
    section, key = "", None
    lines = output.splitlines()
    index = 0
    while index < len(lines):
        text = lines[index].strip()
        index += 1
        if text.startswith(SECTION_MARK):
            section, key = text[len(SECTION_MARK) :], None
        elif ADDRESS.match(text) and section:
            key = (section, int(text, 16))
            found[key] = ()
        elif key is not None and index < len(lines):
            file, _, number = lines[index].strip().rpartition(":")
            index += 1
            line = number.split()[0] if number.split() else ""
            if file and file != UNKNOWN_FILE and line.isdigit() and int(line):
                found[key] = (*found[key], SourceLine(text, file, int(line)))
    return found


def source_lines(
    ko: Path, offsets: Mapping[str, list[int]], sysroot: Path | None
) -> dict[tuple[str, int], tuple[SourceLine, ...]]:
    """The frames of each (section, offset) of ko, by the box's addr2line in sysroot (the host's without one)."""
    if not offsets:
        return {}
    if sysroot is None:
        if shutil.which("addr2line") is None:
            raise Addr2lineFailed("no box to take addr2line from, and the host has none (binutils)")
        return _answer(["sh", "-c", script(str(ko), offsets)])
    inside = f"/mnt/vexfs-vmtest-symbols-{secrets.token_hex(4)}"
    (sysroot / inside.lstrip("/")).mkdir(parents=True)
    command = user_namespace.in_chroot(sysroot, "sh", "-c", script(f"{inside}/{ko.name}", offsets),
                                       binds=((ko.parent, inside),))  # fmt: skip
    try:
        return _answer(command)
    finally:
        with contextlib.suppress(OSError):
            (sysroot / inside.lstrip("/")).rmdir()


def _answer(command: list[str]) -> dict[tuple[str, int], tuple[SourceLine, ...]]:
    try:
        status, output = process_group.run(command, TIMEOUT_S)
    except OSError as error:
        raise Addr2lineFailed(str(error)) from None
    if status == process_group.TIMED_OUT:
        raise Addr2lineFailed(f"addr2line did not finish within {TIMEOUT_S:g} s")
    if status != 0:
        said = output.strip().splitlines()
        raise Addr2lineFailed(f"addr2line exited {status}" + (f": {said[-1]}" if said else ""))
    return parse(output)
