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

from toolkit import kernel_log
from toolkit.domains import elf
from toolkit.domains.base import Verdict
from toolkit.domains.kernel_module import verdicts
from toolkit.domains.kernel_module.subject import ModuleUnderTest
from toolkit.machines.base import CommandTimedOut
from toolkit.results.records import Status

TRACING = "/sys/kernel/tracing"
ALLOC_EVENTS = ("kmalloc", "kmalloc_node", "kmem_cache_alloc", "kmem_cache_alloc_node")
FREE_EVENTS = ("kfree", "kmem_cache_free")
EVENT = re.compile(r"^\s*\S.*?-\d+\s+\[\d+\]\s+\S+\s+[\d.]+:\s+(?P<event>\w+):\s+(?P<fields>.*)$")
CALL_SITE = re.compile(r"call_site=(?P<site>\S+)(?: \[(?P<module>[^\]]+)\])?")
FIELD = re.compile(r"\b(ptr|bytes_alloc)=(\S+)")


@dataclass(frozen=True)
class Allocation:
    event: str
    ptr: str
    call_site: str
    module: str | None
    bytes_alloc: int
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
                match["event"], ptr, site["site"], site["module"], int(fields.get("bytes_alloc", 0)), line
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
            sizes[site] += allocation.bytes_alloc
            lines.setdefault(site, []).append(allocation.line.strip())
    return [Leak(site, count, sizes[site], tuple(lines[site])) for site, count in sites.most_common()]


def _events_script(enable: int) -> str:
    events = " ".join(f"{TRACING}/events/kmem/{name}/enable" for name in ALLOC_EVENTS + FREE_EVENTS)
    return f"for e in {events}; do [ -e $e ] && echo {enable} > $e; done"


class MemoryLeak:
    name = "memory_leak"
    needs = ("unload",)

    def run(self, subject: ModuleUnderTest) -> Verdict:
        assert subject.module is not None
        name, sections_dir = subject.name, f"/sys/module/{subject.name}/sections"
        code = subject.module.code_sections
        trace_file = "/tmp/vexfs-vmtest-trace"
        record = (
            f"echo 0 > {TRACING}/tracing_on; echo > {TRACING}/trace; echo 16384 > {TRACING}/buffer_size_kb;"
            f" {_events_script(1)}; echo 1 > {TRACING}/tracing_on;"
            f" {subject.insmod_command()} || {{ echo 0 > {TRACING}/tracing_on; {_events_script(0)}; exit 3; }};"
            f' for s in {" ".join(code)}; do echo "section $s $(cat {sections_dir}/$s 2>/dev/null)"; done;'
            f" {subject.exercise_commands()}; rmmod {name}; rc=$?;"
            f" echo 0 > {TRACING}/tracing_on; {_events_script(0)};"
            f" cat {TRACING}/trace > {trace_file}; chmod 644 {trace_file};"
            f" cat {TRACING}/per_cpu/cpu*/stats | awk '/^overrun/{{s+=$2}} END{{print \"overrun \" s+0}}';"
            f" echo > {TRACING}/trace; exit $rc"
        )
        marker = subject.mark("memory_leak")
        timeout = subject.options.load_timeout_s * 2 + 60
        try:
            result = subject.root(record, timeout=timeout)
        except CommandTimedOut:
            return verdicts.hung(subject, marker, "load, exercise and unload under tracing", timeout)
        problems = subject.problems_since(marker)
        if problems:
            return verdicts.from_problems("load/unload under tracing logged a problem", problems)
        if not result.ok:
            return Verdict.failed(
                f"load/unload under tracing failed (exit {result.exit_status}): {result.stderr.strip()}",
                guest_dirty=True,
            )
        reported = [line.split() for line in result.stdout.splitlines()]
        overrun = next((int(words[1]) for words in reported if words[:1] == ["overrun"]), 0)
        ranges = [CodeRange(words[1], int(words[2], 16), code[words[1]]) for words in reported
                  if words[:1] == ["section"] and len(words) == 3]  # fmt: skip
        local = subject.work_dir / f"{name}-memory_leak.trace"
        subject.machine.get(trace_file, local)
        trace = local.read_text(errors="replace")
        allocations = unfreed(trace)
        leaks = attribute(allocations, name, ranges, elf.function_symbols(subject.module.path))
        kmemleak = self._kmemleak(subject)
        events = sum(1 for line in trace.splitlines() if EVENT.match(line))
        metrics = {
            "method": "kmem tracepoints" + (" + kmemleak" if kmemleak is not None else ""),
            "events": events, "overrun": overrun, "leaked_objects": sum(leak.count for leak in leaks),
            "leaked_bytes": sum(leak.bytes for leak in leaks),
            "call_sites": [f"{leak.call_site}: {leak.count} x, {leak.bytes} bytes" for leak in leaks],
            "key_metric": f"{sum(leak.bytes for leak in leaks)} B leaked",
        }  # fmt: skip
        if overrun:
            return Verdict(Status.ERROR, f"trace buffer overran ({overrun} events lost): result unreliable", metrics)
        if leaks:
            sites = "; ".join(metrics["call_sites"])
            evidence = [line for leak in leaks for line in leak.trace_lines[:20]]
            return Verdict.failed(
                f"leaked {metrics['leaked_objects']} objects, {metrics['leaked_bytes']} bytes: {sites}",
                evidence,
                guest_dirty=True,
                **metrics,
            )
        if kmemleak:
            return verdicts.from_problems("kmemleak reports a leak", kernel_log.classify(kmemleak), **metrics)
        return Verdict.passed(f"no leaks: {events} allocation/free events paired", **metrics)

    @staticmethod
    def _kmemleak(subject: ModuleUnderTest) -> list[str] | None:
        """kmemleak's report after a scan, or None when the kernel has no kmemleak."""
        report = subject.root("k=/sys/kernel/debug/kmemleak; [ -e $k ] || exit 3; echo scan > $k; cat $k", timeout=120)
        return report.stdout.splitlines() if report.exit_status != 3 else None
