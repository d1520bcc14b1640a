"""What scripts/exercise.py did to the paths a module exposes, said with counts.

The interfaces walk reports each path once with the outcome of every operation; the users of
concurrency, hang_detection and memory_leak print one `exercised JSON` line each (rounds, and
operations per path), summed here.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

DEVICES = ("chardev", "blockdev")
LINE = "exercised "  # how a user's report starts (scripts/common.sh use_surface)
SOURCE_IOCTL = "ioctl "
MISUSE = ("ioctl bad pointer", "ioctl unknown")


@dataclass(frozen=True)
class PathReport:
    """What exercising one path did: operations by kind, and how they ended (`read:ok`, `write:EINVAL`...)."""

    path: str
    kind: str
    counts: Mapping[str, int]
    outcomes: Mapping[str, int] = field(default_factory=dict)

    @property
    def is_device(self) -> bool:
        return self.kind in DEVICES

    def summary(self) -> str:
        """`/dev/x: 22 opens, 8 reads, 4 writes, 4 ioctls from the source x 4 calls, 6 with bad pointers`."""
        counts = dict(self.counts)
        commands = [op for op in counts if op.startswith(SOURCE_IOCTL) and op not in MISUSE]
        said = [counted(counts[op], op) for op in ("open", "read", "write", "lseek", "poll", "mmap") if counts.get(op)]
        if commands:
            calls = sum(counts[op] for op in commands)
            said.append(f"{counted(len(commands), 'ioctl')} from the source x {counted(calls // len(commands), 'call')}")
        if counts.get("ioctl bad pointer"):
            said.append(f"{counts['ioctl bad pointer']} with bad pointers")
        if counts.get("ioctl unknown"):
            said.append(f"{counted(counts['ioctl unknown'], 'unknown ioctl')}")
        refused = sum(n for outcome, n in self.outcomes.items() if not outcome.endswith((":ok", ":blocked")))
        return f"{self.path}: {', '.join(said) or 'nothing could be done'}" + (
            f" ({refused} refused)" if refused else ""
        )


def counted(number: int, thing: str) -> str:
    """`1 open`, `22 opens`."""
    return f"{number} {thing}" if number == 1 else f"{number} {thing}s"


def walked(report: Mapping[str, Mapping[str, object]]) -> list[PathReport]:
    """The paths of a walk's report (`paths`: path -> kind, counts, outcomes)."""
    return [PathReport(path, str(entry["kind"]), entry["counts"], entry.get("outcomes", {}))  # type: ignore[arg-type]
            for path, entry in report.items()]  # fmt: skip


@dataclass(frozen=True)
class Use:
    """What several users did, summed: rounds of each, and operations per path."""

    users: int
    rounds: tuple[int, ...]
    paths: tuple[PathReport, ...]

    def said(self) -> str:
        return said(self.paths)


def said(reports: Sequence[PathReport]) -> str:
    """Devices path by path; files together (`3 files read 600 times, written 40 times`)."""
    devices = [report.summary() for report in reports if report.is_device]
    files = [report for report in reports if not report.is_device]
    reads = sum(report.counts.get("read", 0) for report in files)
    writes = sum(report.counts.get("write", 0) for report in files)
    if files:
        written = f", written {counted(writes, 'time')}" if writes else ""
        devices.append(f"{counted(len(files), 'file')} read {counted(reads, 'time')}{written}")
    return "; ".join(devices)


def use_of(output: str) -> Use:
    """The users' `exercised JSON` lines in a script's output, summed."""
    rounds: list[int] = []
    counts: dict[str, Counter[str]] = {}
    kinds: dict[str, str] = {}
    for line in output.splitlines():
        if not line.startswith(LINE):
            continue
        try:
            report = json.loads(line[len(LINE) :])
        except json.JSONDecodeError:
            continue
        rounds.append(int(report["rounds"]))
        for path, entry in report["paths"].items():
            kinds[path] = entry["kind"]
            counts.setdefault(path, Counter()).update(entry["counts"])
    paths = tuple(PathReport(path, kinds[path], dict(counts[path])) for path in sorted(counts))
    return Use(len(rounds), tuple(rounds), paths)


def totals(reports: Iterable[PathReport]) -> dict[str, dict[str, int]]:
    """Operations per path, for a verdict's metrics."""
    return {report.path: dict(report.counts) for report in reports}
