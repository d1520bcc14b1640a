"""load, unload and lifecycle_stress: the module's life in the guest, step by step."""

from __future__ import annotations

from typing import Any

from toolkit import kernel_log
from toolkit.domains.base import Verdict
from toolkit.domains.guest import parameters_verdict
from toolkit.domains.module.subject import ModuleUnderTest, with_errno

SLAB_GROWTH_LIMIT_KIB = 4096


# A module's init that keeps insmod longer than the hung-task threshold the guests run with is a hang
# the kernel may not report: a preemptible kernel (7.x) never sees a CPU stuck in a busy loop.
SLOW_INIT_S = 10.0


class Load:
    name = "load"
    needs = ("build",)

    def run(self, subject: ModuleUnderTest) -> Verdict:
        before = subject.probe()
        step = subject.guest.step("insmod", subject.insmod_command(), subject.options.load_timeout_s, judge=False)
        load_ms = step.result.duration_s * 1000
        if not step.ok:
            output = step.result.stderr or step.result.stdout
            said = kernel_log.parameter_complaints(step.log, subject.name)
            why = f" (the kernel: {said[0]})" if said else ""
            return Verdict.failed(
                f"insmod failed: {with_errno(output)}{why}", step.log, exit_status=step.result.exit_status
            )
        subject.guest.judge(step, "loading")
        ignored = parameters_verdict("loading", step.log, subject.name)
        if ignored:
            subject.unload_quietly()  # loaded all the same: the tests after it start without it
            return ignored
        after = subject.probe()
        if after.get("loaded") != "1" or after.get("state") != "live":
            return Verdict.failed(
                f"insmod succeeded but the module is {after.get('state')} (in /proc/modules: {after.get('loaded')})",
                step.log,
            )
        taint = int(after.get("taint", "0"))
        unexpected = kernel_log.unexpected_taint(int(before.get("taint", "0")), taint)
        subject.filesystems = sorted(set(after["filesystems"].split()) - set(before["filesystems"].split()))
        metrics: dict[str, Any] = {
            "load_ms": round(load_ms),
            "taint": taint,
            "taint_flags": kernel_log.taint_flags(taint),
            "filesystems": subject.filesystems,
            "sections": {name: f"{address:#x}" for name, address in sorted(subject.sections.items())},
            "key_metric": f"{load_ms:.0f} ms",
        }
        if unexpected:
            return Verdict.failed(
                f"loading tainted the kernel: {', '.join(unexpected)}", step.log, guest_dirty=True, **metrics
            )
        limit_s = SLOW_INIT_S * subject.guest.slowdown
        if load_ms > limit_s * 1000:
            return Verdict.failed(
                f"insmod took {load_ms / 1000:.1f} s: init kept the loading task busy past the hung-task threshold "
                f"({limit_s:g} s), though the kernel reported nothing (a preemptible kernel does not see a busy loop)",
                step.log,
                **metrics,
            )
        flags = "".join(flag[0] for flag in kernel_log.taint_flags(taint)) or "none"
        registers = f"; registers filesystem {', '.join(subject.filesystems)}" if subject.filesystems else ""
        return Verdict.passed(f"loaded in {load_ms:.0f} ms; taint {flags}{registers}", **metrics)


class Unload:
    name = "unload"
    needs = ("load",)

    def run(self, subject: ModuleUnderTest) -> Verdict:
        step = subject.guest.step("rmmod", f"rmmod {subject.name}", subject.options.load_timeout_s, judge=False)
        result = step.result
        how = "was killed" if result.exit_status < 0 or result.exit_status > 128 else f"exited {result.exit_status}"
        subject.guest.judge(step, f"rmmod {how} and the kernel")
        unload_ms = result.duration_s * 1000
        after = subject.probe()
        if not result.ok:
            holders = after.get("holders", "").strip() or "none"
            return Verdict.failed(
                f"rmmod failed: {with_errno(result.stderr or result.stdout)} "
                f"(refcnt {after.get('refcnt') or '?'}, holders {holders})",
                guest_dirty=True,
            )
        if after.get("loaded") == "1":
            return Verdict.failed(
                f"rmmod succeeded but the module is still there ({after.get('state')})", guest_dirty=True
            )
        return Verdict.passed(
            f"unloaded in {unload_ms:.0f} ms", unload_ms=round(unload_ms), key_metric=f"{unload_ms:.0f} ms"
        )


class LifecycleStress:
    name = "lifecycle_stress"
    needs = ("unload",)

    def run(self, subject: ModuleUnderTest) -> Verdict:
        cycles = subject.options.cycles
        timeout = subject.options.load_timeout_s + cycles * 10
        step = subject.guest.step(
            f"{cycles} load/unload cycles", subject.script("cycles.sh", CYCLES=cycles), timeout, judge=False
        )
        values = step.values()
        done = int(values.get("cycles", "0"))
        growth = int(values.get("slab_kib", "0"))
        per_cycle_ms = step.result.duration_s * 1000 / max(done, 1)
        metrics: dict[str, Any] = {
            "cycles": done,
            "ms_per_cycle": round(per_cycle_ms),
            "slab_growth_kib": growth,
            "key_metric": f"{done}x, {per_cycle_ms:.0f} ms/cycle",
        }
        subject.guest.judge(step, f"cycle {done} of {cycles}", **metrics)
        if "failed" in values:
            return Verdict.failed(
                f"{values['failed']} failed in cycle {done} of {cycles}: {step.result.stderr.strip()}",
                guest_dirty=True,
                **metrics,
            )
        if growth > SLAB_GROWTH_LIMIT_KIB:
            return Verdict.failed(
                f"unreclaimable slab grew by {growth} KiB over {done} cycles", guest_dirty=True, **metrics
            )
        return Verdict.passed(f"{done} load/unload cycles, {per_cycle_ms:.0f} ms each, slab {growth:+d} KiB", **metrics)
