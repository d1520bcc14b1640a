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
ALLOCATED = re.compile(r"\bjiffies (\d+)")  # its `comm "insmod", pid 126, jiffies 4294719239` line
NOTED = re.compile(r"^jiffies (\d+)$", re.MULTILINE)  # common.sh's note_jiffies
# a backtrace line: `[<ffffffffc0210021>] ` before the frame up to 6.x, the frame alone since (7.x)
FRAME = r"^\s*(?:\[<[0-9a-f]+>\]\s+)?"
NAMED_FRAME = re.compile(FRAME + r"(?P<symbol>[\w.]+\+0x[0-9a-f]+/0x[0-9a-f]+) \[(?P<module>\w+)\]")
BARE_FRAME = re.compile(FRAME + r"(?P<address>0x[0-9a-f]{16})\s*$")
# An exited process's kernel stack waits in a per-CPU cache, unwiped, and kmemleak scans it: a stale pointer
# there (the loader's, to what a failed load left) hid leaks from most scans on 7.x. New processes on each
# CPU take those stacks, zeroed. kmemleak reports only objects older than 5 s; two scans settle objects
# still in flight; what was read is cleared, so the next scan reports only what leaked since.
WIPE_CACHED_STACKS = (
    "for cpu in $(seq 0 $(($(nproc --all) - 1))); do taskset -c $cpu sh -c 'for i in 1 2 3 4; do /bin/true; done'; done"
)
SCAN = (
    f"k=/sys/kernel/debug/kmemleak; [ -e $k ] || exit 3; sleep 6; {WIPE_CACHED_STACKS}; "
    "echo scan > $k; echo scan > $k; cat $k; echo clear > $k"
)


@dataclass(frozen=True)
class LeakedObject:
    address: str
    size: int
    lines: tuple[str, ...]

    @property
    def jiffies(self) -> int | None:
        """When it was allocated, by the kernel's clock (None when its report does not say)."""
        return next((int(found[1]) for line in self.lines if (found := ALLOCATED.search(line))), None)


def since(earlier: int | None, output: str) -> int | None:
    """The kernel's clock as the first of a subject's scripts began: earlier's, or this one's (its `jiffies N`
    line). A rollback turns the clock back with kmemleak's objects, so the earliest reading holds; objects one of
    the subject's tests left and a later scan found stay its own. None when no script could read the clock."""
    found = NOTED.search(output)
    clocks = [clock for clock in (earlier, int(found[1]) if found else None) if clock is not None]
    return min(clocks) if clocks else None


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


def attributed(
    report: list[str], module: str, site_of: Callable[[int], str | None], since: int | None
) -> list[tuple[str, LeakedObject]]:
    """(allocation site, object) for each leaked object the module allocated, since the kernel's clock read since
    where known: an object allocated before came from another module's code, which a module loaded later may sit
    where it was."""
    fresh = (leak for leak in objects(report) if since is None or leak.jiffies is None or leak.jiffies >= since)
    leaks = ((allocation_site(leak, module, site_of), leak) for leak in fresh)
    return [(site, leak) for site, leak in leaks if site]
