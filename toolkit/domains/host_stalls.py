"""A stall the host may have caused is not the subject's failure.

Under TCG a guest's vCPUs are host threads. On a host running more than it has CPUs, one of them can wait long
enough for the guest's watchdogs to report a soft lockup, an RCU stall or a hung task that no code of the
subject caused (a CPU spinning in smp_call_function for another that the host did not run). A test red only by
such reports, none of which has a frame of the subject's code (`func+0x15/0x40 [mymod]`), while the host's load
was above its CPU count, is an error saying so: it cannot be judged there. A report with the subject's code in
it, or from a host with room, stays the subject's failure.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

import psutil

from toolkit.results.records import Status

if TYPE_CHECKING:
    from toolkit.domains.base import Verdict  # base runs this on every red verdict

STALLS = frozenset({"soft_lockup", "hard_lockup", "rcu_stall", "hung_task"})


def host_load() -> tuple[float, int]:
    """The last minute's load and the CPUs."""
    return psutil.getloadavg()[0], psutil.cpu_count() or 1


def has_frame_of(lines: tuple[str, ...], module: str) -> bool:
    """Whether a stack in lines has a frame of module's code (`func+0x15/0x40 [module]`)."""
    frame = re.compile(rf"\+0x[0-9a-f]+/0x[0-9a-f]+ \[{re.escape(module)}\]")
    return any(frame.search(line) for line in lines)


def judged(verdict: Verdict, module: str, load: float, cpus: int) -> Verdict:
    """verdict, or an error when it is red only by stalls without module's code while the host was overloaded."""
    kinds = set(verdict.metrics.get("problems", ()))
    if verdict.status is not Status.FAILED or not kinds or not kinds <= STALLS or load <= cpus:
        return verdict
    if has_frame_of(verdict.kernel_log, module):
        return verdict
    title = verdict.report_titles[0] if verdict.report_titles else "a stall"
    return replace(
        verdict,
        status=Status.ERROR,
        message=f"not judged: the kernel reported {title} while the host was overloaded (load {load:.1f} on {cpus} "
        f"CPUs), and no code of {module} is in the report: under TCG a vCPU the host does not run looks stuck; run "
        f"it again on a quieter host. The test said: {verdict.message}",
    )
