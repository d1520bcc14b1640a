"""stress: stress-ng's filesystem stressors on the mount, in parallel, for a bounded time."""

from __future__ import annotations

import re
from typing import Any

from toolkit.domains.base import Verdict
from toolkit.domains.filesystem.subject import FilesystemUnderTest
from toolkit.domains.module.subject import WATCHDOG_SYSCTLS

# Those of them the box's stress-ng has are run (stress.sh asks it): names change between versions.
STRESSORS = ("dentry", "dir", "link", "symlink", "rename", "xattr", "metamix", "chmod", "utime", "fstat")
WORKERS = 2
# stress-ng's exit statuses that are no failure: success, and a stressor this filesystem cannot run
# (EOPNOTSUPP, such as xattr on an older tmpfs), which stress-ng skips.
CLEAN_EXITS = {0: "success", 3: "no resources for a stressor", 4: "a stressor not implemented here"}
# Under stress on an emulated CPU a task can wait its turn for more than the domain's 10 s (ext4's
# writepages lock behind a crowd of writers): the hung-task watchdog waits 60 s during the test, which
# a deadlock outlasts all the same (the step's own timeout is longer still).
HUNG_TASK_S = 60
HUNG_TASK = "kernel.hung_task_timeout_secs"
FAILED_LINE = re.compile(r"failed: (\d+)|unsuccessful run|FAIL|fail:", re.IGNORECASE)


def failures(output: str) -> list[str]:
    """stress-ng's own lines reporting failed stressors or operations."""
    found = []
    for line in output.splitlines():
        match = FAILED_LINE.search(line)
        if match and not (match.group(1) and int(match.group(1)) == 0):
            found.append(line.strip())
    return found


class Stress:
    name = "stress"
    needs = ("build",)

    def run(self, subject: FilesystemUnderTest) -> Verdict:
        skipped = subject.unwritable(self.name)
        if skipped:
            return skipped
        seconds = subject.options.stress_s
        run = (
            f'STRESSORS="{" ".join(STRESSORS)}" WORKERS={WORKERS} STRESS_S={seconds} sh "$(dirname "$FSOPS")/stress.sh"'
        )
        command = (f"sysctl -q -w {HUNG_TASK}={HUNG_TASK_S}; {subject.on_fs(run)}; status=$?; "
                   f"sysctl -q -w {HUNG_TASK}={WATCHDOG_SYSCTLS[HUNG_TASK]}; exit $status")  # fmt: skip
        step = subject.step(f"stress-ng for {seconds} s", command, seconds * 3 + 240)
        output = step.result.stdout
        chosen = next((line.split()[1:] for line in output.splitlines() if line.startswith("stressors")), [])
        metrics: dict[str, Any] = {
            "stressors": chosen, "workers": WORKERS, "seconds": seconds, "exit_status": step.result.exit_status,
            "key_metric": f"{len(chosen)} stressors x {WORKERS}, {seconds} s",
        }  # fmt: skip
        if not chosen:
            return Verdict.skipped(f"this stress-ng has none of the stressors {', '.join(STRESSORS)}")
        failed = failures(output)
        if step.result.exit_status not in CLEAN_EXITS or failed:
            what = failed[0] if failed else (output.strip().splitlines() or [""])[-1]
            return Verdict.failed(f"stress-ng exited {step.result.exit_status}: {what}", step.log,
                                  failures=failed[:20], **metrics)  # fmt: skip
        note = "" if step.result.exit_status == 0 else f" ({CLEAN_EXITS[step.result.exit_status]})"
        return Verdict.passed(
            f"{' '.join(chosen)}: {WORKERS} workers each for {seconds} s, no failed operation{note}", **metrics
        )
