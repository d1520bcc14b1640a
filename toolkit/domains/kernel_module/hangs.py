"""hang_detection: the module loaded, used and unloaded with the kernel's own watchdogs armed.

The hung-task detector (10 s) and the soft-lockup watchdog (2 x 5 s) are tightened in the
guest, so the kernel itself reports a task stuck in the module or a CPU it keeps busy. Every
step has a timeout; a wedged guest is rolled back to its ready snapshot by the runner.
"""

from __future__ import annotations

import time

from toolkit.domains.base import Verdict
from toolkit.domains.kernel_module import verdicts
from toolkit.domains.kernel_module.subject import WATCHDOG_SYSCTLS, ModuleUnderTest, with_errno
from toolkit.machines.base import CommandTimedOut
from toolkit.results.records import Status


class HangDetection:
    name = "hang_detection"
    needs = ("build",)

    def run(self, subject: ModuleUnderTest) -> Verdict:
        options = subject.options
        armed = subject.root("sysctl -n kernel.hung_task_timeout_secs kernel.watchdog_thresh").stdout.split()
        metrics = {
            "hung_task_timeout_s": armed[0] if armed else "?",
            "watchdog_thresh_s": armed[1] if len(armed) > 1 else "?",
            "watch_s": options.watch_s,
        }
        expected = [WATCHDOG_SYSCTLS["kernel.hung_task_timeout_secs"], WATCHDOG_SYSCTLS["kernel.watchdog_thresh"]]
        if armed != expected:
            return Verdict(Status.ERROR, f"watchdogs not armed as expected: {armed} != {expected}", metrics)
        subject.unload_quietly()
        marker = subject.mark("hang_detection")
        started = time.monotonic()
        steps = (
            ("insmod", subject.insmod_command(), options.load_timeout_s),
            (
                f"using the module for {options.watch_s:g} s",
                f"end=$(( $(date +%s) + {int(options.watch_s)} )); while [ $(date +%s) -lt $end ]; do"
                f" {subject.exercise_commands()} || exit 1; sleep 1; done",
                options.watch_s + options.load_timeout_s,
            ),
            ("rmmod", f"rmmod {subject.name}", options.load_timeout_s),
        )
        for what, command, timeout in steps:
            try:
                result = subject.root(command, timeout=timeout)
            except CommandTimedOut:
                return verdicts.hung(subject, marker, what, timeout, **metrics)
            problems = subject.problems_since(marker)
            if problems:
                return verdicts.from_problems(f"during {what}", problems, **metrics)
            if not result.ok and what == "insmod":
                return Verdict.skipped(
                    f"nothing to watch: insmod failed at once: {with_errno(result.stderr or result.stdout)}"
                )
            if not result.ok:
                return Verdict.failed(
                    f"{what} failed: {with_errno(result.stderr or result.stdout)}", guest_dirty=True, **metrics
                )
        elapsed = time.monotonic() - started
        metrics["key_metric"] = f"{elapsed:.0f} s watched"
        return Verdict.passed(
            f"no hung task, soft lockup or RCU stall in {elapsed:.0f} s with the module loaded and used "
            f"(hung_task_timeout {armed[0]} s, watchdog_thresh {armed[1]} s)",
            **metrics,
        )
