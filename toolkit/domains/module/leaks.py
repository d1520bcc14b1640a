"""memory_leak: what the module allocated and never freed between load and unload.

Stock kernels have no kmemleak, so the kmem tracepoints are recorded from before insmod to
after rmmod; allocations are paired with frees by pointer, and those left unpaired whose
call site lies in the module's code (section addresses read at load time, sizes and
symbols from the .ko) are the module's leaks. Debug kernels add kmemleak: after the unload it
scans memory and its unreferenced objects whose backtrace leads to the module's code are leaks too.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from toolkit import kernel_log, report_titles
from toolkit.domains.base import Verdict
from toolkit.domains.module import elf, exercised, kmemleak, workload
from toolkit.domains.module.subject import ModuleUnderTest
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


def site_in(ranges: list[CodeRange], address: int, symbols: list[elf.Symbol]) -> str | None:
    """The module function an address lies in (symbol+offset), if it lies in one of the module's code ranges."""
    for code in ranges:
        offset = code.offset_of(address)
        if offset is not None:
            return _symbolize(offset, code.section, symbols)
    return None


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
            site = site_in(ranges, int(allocation.call_site, 16), symbols)
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
        step = subject.guest.step("load, exercise and unload under tracing", command, timeout, judge=False)
        if not step.ok:
            subject.guest.judge(step)
            return Verdict.failed(
                f"load/unload under tracing failed (exit {step.result.exit_status}): {step.result.stderr.strip()}",
                guest_dirty=True,
            )
        reported = [line.split() for line in step.result.stdout.splitlines()]
        overrun = next((int(words[1]) for words in reported if words[:1] == ["overrun"]), 0)
        ranges = [CodeRange(words[1], int(words[2], 16), code[words[1]]) for words in reported
                  if words[:1] == ["section"] and len(words) == 3]  # fmt: skip
        subject.sections.update({code_range.section: code_range.start for code_range in ranges})
        local = subject.work_dir / f"{name}-memory_leak.trace"
        subject.guest.get(trace_file, local)
        trace = local.read_text(errors="replace")
        symbols = list(subject.module.symbols)
        leaks = attribute(unfreed(trace), name, ranges, symbols)
        report = kmemleak.scan(subject.guest, timeout=subject.options.load_timeout_s * 4 + 60)
        subject.kmemleak_since = kmemleak.since(subject.kmemleak_since, step.result.stdout)
        unreferenced = kmemleak.attributed(
            report or [], name, lambda address: site_in(ranges, address, symbols), subject.kmemleak_since
        )
        events = sum(1 for line in trace.splitlines() if EVENT.match(line))
        call_sites = [f"{leak.call_site}: {leak.count} x, {leak.bytes} bytes" for leak in leaks]
        leaked_objects, leaked_bytes = sum(leak.count for leak in leaks), sum(leak.bytes for leak in leaks)
        metrics: dict[str, Any] = {
            "method": "kmem tracepoints" + (" + kmemleak" if report is not None else ""),
            "events": events, "overrun": overrun, "leaked_objects": leaked_objects, "leaked_bytes": leaked_bytes,
            "call_sites": call_sites, "key_metric": f"{leaked_bytes} B leaked",
        }  # fmt: skip
        if report is not None:
            metrics["kmemleak_objects"] = len(unreferenced)
        kmemleak_sites = sorted({site for site, _ in unreferenced})
        kmemleak_lines = [line for _, leak in unreferenced[:10] for line in leak.lines]
        use = exercised.use_of(step.result.stdout)
        used = "; ".join(
            part for part in (use.said(), workload.said(step.result.stdout, subject.workload_name)) if part
        )
        window = f"between insmod and rmmod: {used}" if used else ""
        metrics["exercised"] = exercised.totals(use.paths)
        found = [f"leaked {leaked_objects} objects, {leaked_bytes} bytes: {'; '.join(call_sites)}"] if leaks else []
        if unreferenced:
            found.append(f"kmemleak: {len(unreferenced)} unreferenced objects allocated at {', '.join(kmemleak_sites)}")
        if use.wrong:
            found.append(use.wrong_said())
        workload_failed = workload.failure(step.result.stdout, step.result.stderr, subject.workload_name)
        if workload_failed:
            found.append(workload_failed)
        if "use_failed" in step.values():  # the use the filesystem domain gives (its churn): not done, or not all
            last = (step.result.stderr.strip().splitlines() or [""])[-1]
            found.append(f"the use of the module in the trace failed (exit {step.values()['use_failed']})"
                         + (f": {last}" if last else ""))  # fmt: skip
        if step.problems and not found:
            subject.guest.judge(step)
        if overrun:
            return Verdict(Status.ERROR, f"trace buffer overran ({overrun} events lost): result unreliable", metrics)
        if step.problems:  # e.g. slub's "Objects remaining in CACHE on __kmem_cache_shutdown()" at rmmod
            found.append(f"the kernel: {step.problems[0].title}")
        if found:
            evidence = [line for leak in leaks for line in leak.trace_lines[:20]] + kmemleak_lines
            evidence += [line for problem in step.problems[:1] for line in problem.excerpt]
            sites = [leak.call_site for leak in leaks] + kmemleak_sites
            titles = [*map(report_titles.leak, sites), *kernel_log.titles(step.problems)]
            return Verdict.failed("; ".join(found) + (f" ({window})" if window else ""), evidence, guest_dirty=True,
                                  report_titles=tuple(dict.fromkeys(titles)), **metrics)  # fmt: skip
        return Verdict.passed(f"no leaks: {events} allocation/free events paired" + (f" ({window})" if window else ""),
                              **metrics)  # fmt: skip
