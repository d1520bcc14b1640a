"""hang_detection: the module loaded and used for `watch_s` without a break, with the kernel's own watchdogs armed.

The hung-task detector (10 s) and the soft-lockup watchdog (2 x 5 s) are tightened in the
guest for the whole session, so the kernel itself reports a task stuck in the module or a CPU
it keeps busy, in whichever test it happens. When concurrency already kept the module loaded
and busy that long with a clean kernel log, that was the watch; otherwise the module is loaded,
used and unloaded here. Every step has a timeout; a wedged guest is rolled back to its ready
snapshot by the runner.
"""

from __future__ import annotations

from typing import Any

from toolkit.domains.base import Verdict
from toolkit.domains.guest import Step
from toolkit.domains.kernel_module.lifecycle import SLOW_INIT_S
from toolkit.domains.module import exercised, workload
from toolkit.domains.module.subject import WATCHDOG_SYSCTLS, ModuleUnderTest, with_errno


class HangDetection:
    name = "hang_detection"
    needs = ("build",)
    uses = ("concurrency",)  # its watch (subject.watched_s, subject.use) when it ran first; else this test watches

    def run(self, subject: ModuleUnderTest) -> Verdict:
        options, guest = subject.options, subject.guest
        armed = guest.root("sysctl -n kernel.hung_task_timeout_secs kernel.watchdog_thresh").stdout.split()
        metrics: dict[str, Any] = {
            "hung_task_timeout_s": armed[0] if armed else "?",
            "watchdog_thresh_s": armed[1] if len(armed) > 1 else "?",
            "watch_s": options.watch_s,
        }
        expected = [WATCHDOG_SYSCTLS["kernel.hung_task_timeout_secs"], WATCHDOG_SYSCTLS["kernel.watchdog_thresh"]]
        if armed != expected:
            return Verdict.error(f"watchdogs not armed as expected: {armed} != {expected}", **metrics)
        if subject.watched_s >= options.watch_s:
            metrics.update(watched_s=subject.watched_s, watched_in="concurrency",
                           key_metric=f"{subject.watched_s:.0f} s watched")  # fmt: skip
            return Verdict.passed(
                f"no hung task, soft lockup or RCU stall in {subject.watched_s:.0f} s with the module loaded without a "
                f"break while concurrency's users ran ({subject.use}; hung_task_timeout {armed[0]} s, "
                f"watchdog_thresh {armed[1]} s)",
                **metrics,
            )
        subject.unload_quietly()
        subject.note_surface()
        load = guest.step("insmod", subject.insmod_command(), options.load_timeout_s, **metrics)
        if not load.ok:
            output = load.result.stderr or load.result.stdout
            return Verdict.skipped(f"nothing to watch: insmod failed at once: {with_errno(output)}")
        if load.result.duration_s > SLOW_INIT_S * guest.slowdown:
            return Verdict.failed(
                f"insmod blocked for {load.result.duration_s:.1f} s, past the hung-task threshold "
                f"({SLOW_INIT_S * guest.slowdown:g} s): a hang the kernel did not report",
                load.log,
                guest_dirty=True,
                **metrics,
            )
        use = f"using the module for {options.watch_s:g} s"
        watch = guest.step(use, subject.script("watch.sh", WATCH_S=int(options.watch_s)),
                           options.watch_s + options.load_timeout_s, **metrics)  # fmt: skip
        if not watch.ok:
            return step_failed(use, watch, metrics)
        used = exercised.use_of(watch.result.stdout)
        wrong = used.wrong_said() or workload.failure(watch.result.stdout, watch.result.stderr, subject.workload_name)
        if wrong:
            return Verdict.failed(f"{use}: {wrong}", guest_dirty=True, **metrics)
        said = watched_use(used, watch.result.stdout, subject.filesystems, subject.workload_name)
        unload = guest.step("rmmod", f"rmmod {subject.name}", options.load_timeout_s, **metrics)
        if not unload.ok:
            return step_failed("rmmod", unload, metrics)
        elapsed = load.result.duration_s + watch.result.duration_s + unload.result.duration_s
        metrics["key_metric"] = f"{elapsed:.0f} s watched"
        return Verdict.passed(
            f"no hung task, soft lockup or RCU stall in {elapsed:.0f} s with the module loaded ({said}; "
            f"hung_task_timeout {armed[0]} s, watchdog_thresh {armed[1]} s)",
            **metrics,
        )


def step_failed(what: str, step: Step, metrics: dict[str, Any]) -> Verdict:
    output = step.result.stderr or step.result.stdout
    return Verdict.failed(f"{what} failed: {with_errno(output)}", guest_dirty=True, **metrics)


def watched_use(used: exercised.Use, output: str, filesystems: list[str], workload_name: str) -> str:
    """What watch.sh did with the module, with counts, or that it found nothing to use."""
    done = [
        used.said(),
        f"its {', '.join(filesystems)} mounted and read once a second" if filesystems else "",
        workload.said(output, workload_name),
    ]
    said = "; ".join(part for part in done if part)
    return said or "nothing it exposes to use: it only stayed loaded"
