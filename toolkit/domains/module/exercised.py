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

DEVICES = ("chardev", "blockdev", "netdev")  # said path by path; other paths (files) are said together
LINE = "exercised "  # how a user's report starts (scripts/common.sh use_surface)
SOURCE_IOCTL = "ioctl "
MISUSE = ("ioctl bad pointer", "ioctl unknown")
NOT_REFUSED = ("ok", "blocked", "busy", "different", "late")  # how operations ended that no driver refused
NET = "/sys/class/net/"


@dataclass(frozen=True)
class PathReport:
    """What exercising one path did: operations by kind, how they ended (`read:ok`, `write:EINVAL`...), the bytes
    the completed ones moved (`read whole`, `verify region`) and a block device's size."""

    path: str
    kind: str
    counts: Mapping[str, int]
    outcomes: Mapping[str, int] = field(default_factory=dict)
    moved: Mapping[str, int] = field(default_factory=dict)
    size: int = 0

    @property
    def is_device(self) -> bool:
        return self.kind in DEVICES

    def summary(self) -> str:
        """`/dev/x: 22 opens, 8 reads, 4 writes, 4 ioctls from the source x 4 calls, 6 with bad pointers`;
        `/dev/b: 21 opens, 2 reads of all 8 MiB, 2 regions of 64 KiB written and verified`; `net n0: link up/down
        2 times, 12 packets sent, 54 attribute reads`."""
        said = {"blockdev": self._block, "netdev": self._net}.get(self.kind, self._device)()
        name = f"net {self.path[len(NET) :]}" if self.kind == "netdev" and self.path.startswith(NET) else self.path
        refused = sum(n for outcome, n in self.outcomes.items() if outcome.rpartition(":")[2] not in NOT_REFUSED)
        return f"{name}: {', '.join(said) or 'nothing could be done'}" + (f" ({refused} refused)" if refused else "")

    def _ok(self, operation: str) -> int:
        return self.outcomes.get(f"{operation}:ok", 0)

    def _device(self) -> list[str]:
        counts = dict(self.counts)
        commands = [op for op in counts if op.startswith(SOURCE_IOCTL) and op not in MISUSE]
        said = [counted(counts[op], op) for op in ("open", "read", "write", "lseek", "poll", "mmap") if counts.get(op)]
        if commands:
            calls = sum(counts[op] for op in commands)
            said.append(
                f"{counted(len(commands), 'ioctl')} from the source x {counted(calls // len(commands), 'call')}"
            )
        if counts.get("ioctl bad pointer"):
            said.append(f"{counts['ioctl bad pointer']} with bad pointers")
        if counts.get("ioctl unknown"):
            said.append(f"{counted(counts['ioctl unknown'], 'unknown ioctl')}")
        return said

    def _block(self) -> list[str]:
        """Opens, whole reads (`2 reads of all 8 MiB`), regions written and read back the same, regions left alone
        because the device was in use."""
        said = [counted(self.counts["open"], "open")] if self.counts.get("open") else []
        reads, written, verified = self._ok("read whole"), self._ok("write region"), self._ok("verify region")
        if reads:
            each = self.moved.get("read whole", 0) // reads
            whole = f"all {size(each)}" if each >= self.size else f"the first {size(each)} of {size(self.size)}"
            said.append(f"{counted(reads, 'read')} of {whole}")
        late = self.outcomes.get("read whole:late", 0)
        if late:
            said.append(f"{counted(late, 'read')} stopped at the time budget")
        if written and verified == written:
            region = size(self.moved.get("verify region", 0) // verified)
            said.append(f"{counted(written, 'region')} of {region} written and verified")
        elif written:
            said.append(f"{counted(written, 'region')} written, {verified} read back the same")
        busy = self.outcomes.get("write region:busy", 0)
        if busy:
            said.append(f"{counted(busy, 'region')} not written: the device is in use")
        if self.counts.get("ioctl unknown"):
            said.append(counted(self.counts["ioctl unknown"], "unknown ioctl"))
        return said

    def _net(self) -> list[str]:
        """Links up and down, frames sent, attributes read."""
        ups, downs, sends = self.counts.get("link up", 0), self.counts.get("link down", 0), self.counts.get("send", 0)
        said = []
        if ups == downs and ups:
            said.append(f"link up/down {counted(ups, 'time')}")
        elif ups or downs:
            said.append(f"link up {counted(ups, 'time')}, down {counted(downs, 'time')}")
        if sends:
            sent = self._ok("send")
            said.append(f"{counted(sent, 'packet')} sent" if sent == sends else f"{sent} of {sends} packets sent")
        if self.counts.get("read"):
            said.append(counted(self.counts["read"], "attribute read"))
        return said


def size(count: int) -> str:
    """Bytes in the largest binary unit that divides them: `8 MiB`, `64 KiB`, `1000 bytes`."""
    for unit, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if count >= unit and count % unit == 0:
            return f"{count // unit} {name}"
    return counted(count, "byte")


def counted(number: int, thing: str) -> str:
    """`1 open`, `22 opens`."""
    return f"{number} {thing}" if number == 1 else f"{number} {thing}s"


def walked(report: Mapping[str, Mapping[str, object]]) -> list[PathReport]:
    """The paths of a walk's report (`paths`: path -> kind, counts, outcomes, and bytes and size when any)."""
    return [PathReport(path, str(entry["kind"]), entry["counts"], entry.get("outcomes", {}),  # type: ignore[arg-type]
                       entry.get("bytes", {}), int(entry.get("size", 0)))  # type: ignore[arg-type, call-overload]
            for path, entry in report.items()]  # fmt: skip


@dataclass(frozen=True)
class Use:
    """What several users did, summed: rounds of each, operations per path, and what they found wrong (a block
    device's region that read back different)."""

    users: int
    rounds: tuple[int, ...]
    paths: tuple[PathReport, ...]
    wrong: tuple[str, ...] = ()

    def said(self) -> str:
        return said(self.paths)

    def wrong_said(self) -> str:
        """The first thing the users found wrong, and how many more ("" when none)."""
        if not self.wrong:
            return ""
        more = f" (and {len(self.wrong) - 1} more)" if len(self.wrong) > 1 else ""
        return f"{self.wrong[0]}{more}"


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
    outcomes: dict[str, Counter[str]] = {}
    moved: dict[str, Counter[str]] = {}
    kinds: dict[str, str] = {}
    sizes: Counter[str] = Counter()
    wrong: list[str] = []
    for line in output.splitlines():
        if not line.startswith(LINE):
            continue
        try:
            report = json.loads(line[len(LINE) :])
        except json.JSONDecodeError:
            continue
        rounds.append(int(report["rounds"]))
        wrong += report.get("wrong", [])
        for path, entry in report["paths"].items():
            kinds[path] = entry["kind"]
            counts.setdefault(path, Counter()).update(entry["counts"])
            outcomes.setdefault(path, Counter()).update(entry.get("outcomes", {}))
            moved.setdefault(path, Counter()).update(entry.get("bytes", {}))
            sizes[path] = max(sizes[path], int(entry.get("size", 0)))
    paths = tuple(PathReport(path, kinds[path], dict(counts[path]), dict(outcomes[path]), dict(moved[path]),
                             sizes[path]) for path in sorted(counts))  # fmt: skip
    return Use(len(rounds), tuple(rounds), paths, tuple(wrong))


def totals(reports: Iterable[PathReport]) -> dict[str, dict[str, int]]:
    """Operations per path, for a verdict's metrics."""
    return {report.path: dict(report.counts) for report in reports}
