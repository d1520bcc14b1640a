"""`--retry N`: a red test run again, to tell a flaky test from a hard failure.

A test that failed or errored runs again, up to N times until it passes, each time on a guest rolled back to its
ready snapshot, with the earlier tests it needs and uses run first, so it meets the state it met the first time
(their re-runs are no new verdicts). One record sums its attempts up: red in every one, it stays failed (or error)
and says so (`failed 3/3 attempts`); red in some, it is flaky with its rate (`flaky: failed 1/2 attempts`). Either
way it keeps its first red attempt's message and evidence, and records every attempt's status, duration, message
and report titles. A flaky test still fails the run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from toolkit.domains.selection import RED, closure
from toolkit.results.records import Status, TestRecord, worst


def worth_retrying(case: Any, record: TestRecord) -> bool:
    """Whether a case's record is red and another attempt could change it: a case whose verdict judges work done
    once before the cases ran (the shared build) says `retried = False`."""
    return record.status in RED and getattr(case, "retried", True)


def prerequisites(case: Any, cases: Sequence[Any], done: Mapping[str, TestRecord]) -> list[Any]:
    """The earlier cases that case needs and uses, transitively, which passed this time, in their declared order:
    what runs again before it on a restored guest."""
    passed = {name for name, record in done.items() if record.status is Status.PASSED}
    linked = closure([case.name], cases, lambda each: passed & {*each.needs, *getattr(each, "uses", ())})
    return [each for each in cases if each.name in linked - {case.name}]


def blocked_attempt(case_name: str, prerequisite: TestRecord, began: str) -> TestRecord:
    """An attempt that could not run: a prerequisite did not pass again on the restored guest."""
    first_line = prerequisite.message.splitlines()[0] if prerequisite.message else ""
    reason = (f"needs {prerequisite.name} to pass on the restored guest ({prerequisite.name} "
              f"{prerequisite.status.value}: {first_line})")  # fmt: skip
    return TestRecord(case_name, Status.SKIPPED, 0.0, reason, started=began)


def summary(attempts: Sequence[TestRecord], restore_s: float) -> TestRecord:
    """One record for a test's attempts, the first of them red; restore_s: the time the retries spent restoring the
    guest and running the prerequisites again (in its duration, beside the attempts')."""
    first = attempts[0]
    ran = [attempt for attempt in attempts if attempt.status is not Status.SKIPPED]
    red = [attempt for attempt in ran if attempt.status in RED]
    skipped = [attempt for attempt in attempts if attempt.status is Status.SKIPPED]
    rate = _rate(red, len(ran))
    if skipped:
        rate += f" ({len(skipped)} more could not run: {skipped[0].message})"
    flaky = len(red) < len(ran)
    metrics: dict[str, Any] = {
        **first.metrics,
        "retry": {
            "attempts": len(attempts),
            "statuses": [attempt.status.value for attempt in attempts],
            "durations_s": [round(attempt.duration_s, 3) for attempt in attempts],
            "messages": [attempt.message.splitlines()[0] if attempt.message else "" for attempt in attempts],
            "report_titles": [list(attempt.report_titles) for attempt in attempts],
            "restore_s": round(restore_s, 3),
        },
    }
    titles = tuple(dict.fromkeys(title for attempt in red for title in attempt.report_titles))
    return replace(
        first,
        status=Status.FLAKY if flaky else worst([attempt.status for attempt in red]),
        message=f"flaky: {rate}: {first.message}" if flaky else f"{rate}: {first.message}",
        metrics=metrics,
        duration_s=sum(attempt.duration_s for attempt in attempts) + restore_s,
        report_titles=titles,
    )


def _rate(red: Sequence[TestRecord], ran: int) -> str:
    """How often the attempts that ran were red, by status: `failed 2/3 attempts`, `failed 1/3 and error 1/3
    attempts`."""
    statuses = [attempt.status for attempt in red]
    counted = " and ".join(f"{status.value} {statuses.count(status)}/{ran}" for status in RED if status in statuses)
    return f"{counted} attempts"
