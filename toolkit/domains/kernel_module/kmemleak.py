"""kmemleak (debug kernels): scan, read its report, and keep the unreferenced objects a module allocated.

A leaked object's backtrace names the module while it is loaded (`leaky_init+0x21/0x40 [leaky]`);
once it is unloaded its code is gone and the frames are bare addresses, which the caller
attributes (by the code ranges recorded at load, or to the module area when only one module
came and went).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from toolkit.domains.guest import Guest

OBJECT = re.compile(r"^unreferenced object (0x[0-9a-f]+) \(size (\d+)\):")
NAMED_FRAME = re.compile(r"\] (?P<symbol>[\w.]+\+0x[0-9a-f]+/0x[0-9a-f]+) \[(?P<module>\w+)\]")
BARE_FRAME = re.compile(r"\] (?P<address>0x[0-9a-f]{16})\s*$")
# kmemleak reports only objects older than 5 s; two scans settle objects still in flight; what was read is
# cleared, so the next scan reports only what leaked since
SCAN = (
    "k=/sys/kernel/debug/kmemleak; [ -e $k ] || exit 3; sleep 6; echo scan > $k; echo scan > $k; cat $k; "
    "echo clear > $k"
)


@dataclass(frozen=True)
class LeakedObject:
    address: str
    size: int
    lines: tuple[str, ...]


def scan(guest: Guest, timeout: float) -> list[str] | None:
    """kmemleak's report after fresh scans, or None when the kernel has no kmemleak."""
    report = guest.root(SCAN, timeout=timeout)
    return None if report.exit_status == 3 else report.stdout.splitlines()


def objects(report: list[str]) -> list[LeakedObject]:
    """Each unreferenced object of a report, with its lines (comm, hex dump, backtrace)."""
    found: list[LeakedObject] = []
    for line in report:
        match = OBJECT.match(line.strip())
        if match:
            found.append(LeakedObject(match[1], int(match[2]), (line.rstrip(),)))
        elif found and line.strip():
            last = found[-1]
            found[-1] = LeakedObject(last.address, last.size, (*last.lines, line.rstrip()))
    return found


def allocation_site(leak: LeakedObject, module: str, site_of: Callable[[int], str | None]) -> str | None:
    """The first backtrace frame that is the module's: named with it, or a bare address site_of places."""
    for line in leak.lines:
        named = NAMED_FRAME.search(line)
        if named and named["module"] == module:
            return named["symbol"].split("/")[0]
        bare = BARE_FRAME.search(line)
        if bare and (site := site_of(int(bare["address"], 16))):
            return site
    return None


def attributed(report: list[str], module: str, site_of: Callable[[int], str | None]) -> list[tuple[str, LeakedObject]]:
    """(allocation site, object) for each leaked object the module allocated."""
    leaks = ((allocation_site(leak, module, site_of), leak) for leak in objects(report))
    return [(site, leak) for site, leak in leaks if site]
