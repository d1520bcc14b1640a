"""error_handling: mistakes made on purpose must fail cleanly, with an errno and no kernel problem.

On kernels with fault injection (debug kernels) the load is also run with its Nth slab
allocation failing, N = 1, 2, ... until a load no longer reaches N, then the same with its Nth
page allocation: every such load must fail with an errno or succeed, with no kernel report;
kmemleak must then find nothing the failed loads left behind, and a normal load must still work.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from toolkit import kernel_log
from toolkit.boxes.recipe import STATIC_SHELL
from toolkit.domains.base import Verdict
from toolkit.domains.guest import GUEST_DIR
from toolkit.domains.module import kmemleak
from toolkit.domains.module.subject import ModuleUnderTest

FAULT_LIMIT = 2000
ATTEMPT = re.compile(r"^attempt (?P<n>\d+) injected=(?P<injected>[01])(?: own=\d+/\d+)? result=(?P<result>.*)$")
COMPLETE = re.compile(r"^complete (\d+)$")
UNREACHED = re.compile(r"^unreached (\d+) of (\d+)$")  # the module's allocation K of T: never failed
LEFT_LOADED = "vexfs-vmtest: loaded="  # mistake.sh's last line: whether the mistake left the module loaded
NUMERIC_TYPES = ("byte", "short", "ushort", "int", "uint", "long", "ulong", "ullong", "hexint", "bool", "invbool")


@dataclass(frozen=True)
class Check:
    """One deliberate mistake: the guest commands, and what a clean failure looks like."""

    name: str
    command: str
    expect: Callable[[int, str, bool], str | None]


def _must_fail_with(*texts: str) -> Callable[[int, str, bool], str | None]:
    def expect(status: int, output: str, loaded: bool) -> str | None:
        if status == 0:
            return "succeeded"
        if loaded:
            return f"failed ({output.strip()}) but left the module loaded"
        if not any(text in output for text in texts):
            return f"failed without the expected reason ({' or '.join(texts)}): {output.strip()}"
        return None

    return expect


def _must_succeed(status: int, output: str, loaded: bool) -> str | None:
    return None if status == 0 else f"failed: {output.strip()}"


def checks(subject: ModuleUnderTest) -> list[Check]:
    name, ko = subject.name, shlex.quote(subject.guest_ko)
    corrupt = f"{GUEST_DIR}/corrupt.ko"
    found = [
        Check("rmmod of an absent module", f"rmmod {name}", _must_fail_with("not currently loaded", "No such file")),
        Check(
            "double insmod",
            f"{subject.insmod_command()} && {{ {subject.insmod_command()}; rc=$?; rmmod {name}; exit $rc; }}",
            _must_fail_with("File exists"),
        ),
        Check(
            "truncated .ko",
            f"head -c 4096 {ko} > {corrupt} && insmod {corrupt}",
            _must_fail_with("Invalid module format", "Exec format error", "Invalid argument", "No such file"),
        ),
        Check(
            "garbage .ko",
            f"head -c 65536 /dev/urandom > {corrupt} && insmod {corrupt}",
            _must_fail_with(
                "Invalid module format", "Exec format error", "Invalid argument", "Bad message", "No such file"
            ),
        ),
        Check(
            "unknown parameter (ignored by the kernel)",
            f"{subject.insmod_command(params=(*subject.options.params, 'vexfs_vmtest_no_such_parameter=1'))} && rmmod {name}",
            _must_succeed,
        ),
    ]
    assert subject.module is not None
    for parameter, kind in sorted(subject.module.parameters.items()):
        if kind in NUMERIC_TYPES:
            params = (*subject.options.params, f"{parameter}=not-a-number")
            found.append(
                Check(
                    f"{kind} parameter {parameter}=not-a-number",
                    subject.insmod_command(params=params),
                    _must_fail_with("Invalid argument", "Invalid parameters"),
                )
            )
    return found


@dataclass(frozen=True)
class FaultSweep:
    """What loading under fault injection showed."""

    site: str
    mode: str
    attempts: int
    last: int  # the highest N failed
    failed_loads: int
    tolerated: int
    unreached: tuple[str, ...]  # "K of T": the module's own allocations no load failed
    problem: str | None
    evidence: tuple[str, ...] = ()

    @property
    def outcome(self) -> str:
        what = MODES.get(self.mode, MODES["load-nth"]).format(last=self.last)
        counts = f"{self.attempts} loads, {what}: {self.failed_loads} failed cleanly, {self.tolerated} loaded anyway"
        if self.unreached:
            counts += f"; the module's own allocation {', '.join(self.unreached)} never failed"
        return f"{self.site}: {self.problem or counts}"


@dataclass(frozen=True)
class NoSweep:
    """A kind of allocation this kernel's fault injection cannot fail as the sweep needs, and why."""

    site: str
    reason: str
    problem: None = None
    evidence: tuple[str, ...] = ()

    @property
    def outcome(self) -> str:
        return f"{self.site}: not swept ({self.reason})"


# What fault-sweep.sh fails, one kind at a time (mixed, the Nth call would be another allocation each load),
# and how it could on this kernel (its `mode=` line).
SITES = {"slab": "slab allocation", "pages": "page allocation"}
MODES = {
    "module-nth": "the module's own allocation 1..{last} failing in turn",
    "load-nth": "allocation 1..{last} of the load failing in turn",
}
MODE = re.compile(r"^mode=(\S+)$")


UNAVAILABLE = re.compile(r"^unavailable: (.+)$")


def fault_sweeps(subject: ModuleUnderTest) -> list[FaultSweep | NoSweep]:
    """A sweep per kind of allocation the kernel can fail, why not for a kind it cannot; none without fault
    injection."""
    found = (fault_sweep(subject, site) for site in SITES)
    return [sweep for sweep in found if sweep is not None]


def fault_sweep(subject: ModuleUnderTest, site: str) -> FaultSweep | NoSweep | None:
    """Loads with the Nth allocation of a kind failing (kernel problems raise a Finding); NoSweep when the
    kernel's fault injection cannot fail that kind, None when it has none."""
    command = subject.script("fault-sweep.sh", SITE=site, LIMIT=FAULT_LIMIT)
    timeout = subject.options.load_timeout_s * 40
    what = f"load with the Nth {SITES[site]} failing, N = 1, 2, ..."
    step = subject.guest.step(what, f"{command} 2>&1", timeout)
    lines = step.result.stdout.splitlines()
    if step.result.exit_status == 3:
        reason = next((m[1] for m in map(UNAVAILABLE.match, lines) if m), None)
        return NoSweep(site, reason) if reason else None
    mode = next((m[1] for m in map(MODE.match, lines) if m), "load-nth")
    attempts = [m for m in map(ATTEMPT.match, lines) if m]
    failed = sum(1 for m in attempts if m["result"] != "loaded")
    tolerated = sum(1 for m in attempts if m["injected"] == "1" and m["result"] == "loaded")
    complete = next((int(m[1]) for m in map(COMPLETE.match, lines) if m), None)
    last = complete - 1 if complete else max((int(m["n"]) for m in attempts), default=0)
    unreached = tuple(f"{m[1]} of {m[2]}" for m in map(UNREACHED.match, lines) if m)
    swept = functools.partial(FaultSweep, site, mode, len(attempts), last, failed, tolerated, unreached)
    if step.result.exit_status != 0 or complete is None:
        said = lines[-1] if lines else f"exit status {step.result.exit_status}"
        return swept(f"the sweep stopped: {said}", tuple(lines[-20:]))
    # before kmemleak scans: a load overwrites what the failed loads left in the loader's path (7.x: a stale
    # pointer there hid their leaks from most scans)
    normal = subject.guest.step("a normal load after the sweep", f"{subject.insmod_command()} 2>&1", timeout / 10)
    subject.unload_quietly()
    if not normal.ok:
        problem = f"a normal load failed after it: {normal.result.stdout}"
        return swept(problem)
    report = kmemleak.scan(subject.guest, timeout=timeout) or []
    subject.kmemleak_since = kmemleak.since(subject.kmemleak_since, step.result.stdout)
    leaks = kmemleak.attributed(report, subject.name, kernel_log.in_module_area, subject.kmemleak_since)
    if not leaks:
        return swept(None)
    began = kmemleak.since(None, step.result.stdout)  # this sweep's own start
    earlier = 0 if began is None else sum(1 for _, leak in leaks if leak.jiffies is not None and leak.jiffies < began)
    counts = [f"{len(leaks) - earlier} objects left behind by failed loads"] if earlier < len(leaks) else []
    if earlier:  # a stale reference hid them from the scans of the module's earlier tests
        counts.append(f"{earlier} objects the module left before this sweep began, found only by its scan")
    problem = f"kmemleak: {' and '.join(counts)} (allocated at {leaks[0][0]})"
    return swept(problem, tuple(line for _, o in leaks[:5] for line in o.lines))


class ErrorHandling:
    name = "error_handling"
    needs = ("unload",)

    def run(self, subject: ModuleUnderTest) -> Verdict:
        outcomes: dict[str, str] = {}
        wrong: list[str] = []
        for check in checks(subject):
            command = subject.script("mistake.sh", shell=STATIC_SHELL, MISTAKE=check.command)
            step = subject.guest.step(check.name, command, subject.options.load_timeout_s, checks=outcomes)
            output, reported, loaded = step.result.stdout.rpartition(LEFT_LOADED)
            if not reported:  # the script did not get that far
                output, loaded = step.result.stdout, "1" if subject.loaded() else "0"
            problem = check.expect(step.result.exit_status, output, loaded.strip() == "1")
            outcomes[check.name] = problem or (output.strip().splitlines() or ["ok"])[-1]
            if problem:
                wrong.append(f"{check.name}: {problem}")
        sweeps = fault_sweeps(subject)
        if sweeps:
            outcomes["fault injection"] = "; ".join(sweep.outcome for sweep in sweeps)
            wrong += [f"fault injection: {sweep.site}: {sweep.problem}" for sweep in sweeps if sweep.problem]
        metrics: dict[str, Any] = {
            "checks": outcomes,
            "key_metric": f"{len(outcomes) - len(wrong)}/{len(outcomes)} clean",
        }
        if wrong:
            evidence = [line for sweep in sweeps for line in sweep.evidence]
            return Verdict.failed("; ".join(wrong), evidence, guest_dirty=True, **metrics)
        return Verdict.passed(f"{len(outcomes)} deliberate mistakes all failed cleanly", **metrics)
