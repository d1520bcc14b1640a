"""memory_leak: what the module allocated and never freed between load and unload.

Stock kernels have no kmemleak, so the kmem tracepoints are recorded from before insmod to
after rmmod; allocations are paired with frees by pointer, and those left unpaired whose
call site lies in the module's code (section addresses read at load time, sizes and
symbols from the .ko) are the module's leaks. kmemleak is consulted too where it exists.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from toolkit import kernel_log
from toolkit.domains import elf
from toolkit.domains.base import Verdict
from toolkit.domains.guest import problem_verdict
from toolkit.domains.kernel_module.subject import ModuleUnderTest
from toolkit.results.records import Status

ALLOC_EVENTS = ("kmalloc", "kmalloc_node", "kmem_cache_alloc", "kmem_cache_alloc_node")
FREE_EVENTS = ("kfree", "kmem_cache_free")
EVENT = re.compile(r"^\s*\S.*?-\d+\s+\[\d+\]\s+\S+\s+[\d.]+:\s+(?P<event>\w+):\s+(?P<fields>.*)$")
CALL_SITE = re.compile(r"call_site=(?P<site>\S+)(?: \[(?P<module>[^\]]+)\])?")
FIELD = re.compile(r"\b(ptr|bytes_req|bytes_alloc)=(\S+)")


@dataclass(frozen=True)
class Allocation:
    event: str
    ptr: str
    call_site: str
    module: str | None
    bytes: int  # what the caller asked for (bytes_req): under slub_debug the object itself is bigger
    line: str


@dataclass(frozen=True)
class CodeRange:
    section: str
    start: int
    size: int

    def offset_of(self, address: int) -> int | None:
        return address - self.start if self.start <= address < self.start + self.size else None


@dataclass(frozen=True)
class Leak:
    call_site: str
    count: int
    bytes: int
    trace_lines: tuple[str, ...]


def unfreed(trace: str) -> list[Allocation]:
    """Allocations in a kmem trace that no later free in the trace released."""
    live: dict[str, Allocation] = {}
    for line in trace.splitlines():
        match = EVENT.match(line)
        if not match or match["event"] not in ALLOC_EVENTS + FREE_EVENTS:
            continue
        fields = dict(FIELD.findall(match["fields"]))
        ptr = fields.get("ptr", "")
        if match["event"] in FREE_EVENTS:
            live.pop(ptr, None)
            continue
        site = CALL_SITE.search(match["fields"])
        if site and ptr and ptr != "0000000000000000":
            live[ptr] = Allocation(
                match["event"],
                ptr,
                site["site"],
                site["module"],
                int(fields.get("bytes_req") or fields.get("bytes_alloc") or 0),
                line,
            )
    return list(live.values())


def _symbolize(offset: int, section: str, symbols: list[elf.Symbol]) -> str:
    candidates = [s for s in symbols if s.section == section and s.offset <= offset]
    best = max(candidates, key=lambda s: s.offset, default=None)
    return f"{best.name}+{offset - best.offset:#x}" if best else f"{section}+{offset:#x}"


def attribute(
    allocations: list[Allocation], module: str, ranges: list[CodeRange], symbols: list[elf.Symbol]
) -> list[Leak]:
    """The module's leaks, grouped by call site: by address range, or by name while it was still loaded."""
    sites: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    lines: dict[str, list[str]] = {}
    for allocation in allocations:
        site = None
        if allocation.module == module:
            site = allocation.call_site.split("/")[0]
        elif allocation.call_site.startswith("0x"):
            address = int(allocation.call_site, 16)
            for code in ranges:
                offset = code.offset_of(address)
                if offset is not None:
                    site = _symbolize(offset, code.section, symbols)
                    break
        if site:
            sites[site] += 1
            sizes[site] += allocation.bytes
            lines.setdefault(site, []).append(allocation.line.strip())
    return [Leak(site, count, sizes[site], tuple(lines[site])) for site, count in sites.most_common()]


class MemoryLeak:
    name = "memory_leak"
    needs = ("unload",)

    def run(self, subject: ModuleUnderTest) -> Verdict:
        assert subject.module is not None
        name, code = subject.name, subject.module.code_sections
        trace_file = "/tmp/vexfs-vmtest-trace"
        command = subject.script(
            "leak-trace.sh", EVENTS=" ".join(ALLOC_EVENTS + FREE_EVENTS), SECTIONS=" ".join(code), TRACE_OUT=trace_file
        )
        timeout = subject.options.load_timeout_s * 2 + 60
        step = subject.guest.step("load, exercise and unload under tracing", command, timeout)
        if not step.ok:
            return Verdict.failed(
                f"load/unload under tracing failed (exit {step.result.exit_status}): {step.result.stderr.strip()}",
                guest_dirty=True,
            )
        reported = [line.split() for line in step.result.stdout.splitlines()]
        overrun = next((int(words[1]) for words in reported if words[:1] == ["overrun"]), 0)
        ranges = [CodeRange(words[1], int(words[2], 16), code[words[1]]) for words in reported
                  if words[:1] == ["section"] and len(words) == 3]  # fmt: skip
        local = subject.work_dir / f"{name}-memory_leak.trace"
        subject.guest.machine.get(trace_file, local)
        trace = local.read_text(errors="replace")
        leaks = attribute(unfreed(trace), name, ranges, list(subject.module.symbols))
        kmemleak = self._kmemleak(subject)
        events = sum(1 for line in trace.splitlines() if EVENT.match(line))
        call_sites = [f"{leak.call_site}: {leak.count} x, {leak.bytes} bytes" for leak in leaks]
        leaked_objects, leaked_bytes = sum(leak.count for leak in leaks), sum(leak.bytes for leak in leaks)
        metrics: dict[str, Any] = {
            "method": "kmem tracepoints" + (" + kmemleak" if kmemleak is not None else ""),
            "events": events, "overrun": overrun, "leaked_objects": leaked_objects, "leaked_bytes": leaked_bytes,
            "call_sites": call_sites, "key_metric": f"{leaked_bytes} B leaked",
        }  # fmt: skip
        if overrun:
            return Verdict(Status.ERROR, f"trace buffer overran ({overrun} events lost): result unreliable", metrics)
        if leaks:
            evidence = [line for leak in leaks for line in leak.trace_lines[:20]]
            return Verdict.failed(
                f"leaked {leaked_objects} objects, {leaked_bytes} bytes: {'; '.join(call_sites)}",
                evidence,
                guest_dirty=True,
                **metrics,
            )
        if kmemleak:
            return problem_verdict("kmemleak reports a leak", kernel_log.classify(kmemleak), **metrics)
        return Verdict.passed(f"no leaks: {events} allocation/free events paired", **metrics)

    @staticmethod
    def _kmemleak(subject: ModuleUnderTest) -> list[str] | None:
        """kmemleak's report after a scan, or None when the kernel has no kmemleak."""
        command = "k=/sys/kernel/debug/kmemleak; [ -e $k ] || exit 3; echo scan > $k; cat $k"
        report = subject.guest.root(command, timeout=120)
        return report.stdout.splitlines() if report.exit_status != 3 else None
