"""A step's run judged as `git bisect` would: bad when any selected test failed (a known failure too: it is red),
skipped when the module did not build at that commit or a test could not be judged (an error: the guest lost, no
cause known), as `git bisect skip`; good when the tests passed or were skipped."""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.bisect.search import Judgement
from toolkit.results.records import RunRecord, Status, TestRecord

BUILD = "build"  # the test whose failure says the commit cannot be judged
RED = (Status.FAILED, Status.FLAKY, Status.KNOWN)  # red at least once: the fault is in this commit


@dataclass(frozen=True)
class Judged:
    """A commit's judgement, why (the red test and its message, or the counts), and the title of the report
    that made it red (the test's message when the kernel reported nothing)."""

    judgement: Judgement
    reason: str
    title: str = ""


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def _said(test: TestRecord) -> str:
    return f"{test.name} {test.status.value} - {_first_line(test.message)}"


def judged(record: RunRecord) -> Judged:
    """The judgement of a step's run from its tests' verdicts."""
    tests = [test for run in record.runs for test in run.tests]
    builds = [test for test in tests if test.name == BUILD and test.status is not Status.PASSED]
    if builds:
        return Judged(Judgement.SKIP, _said(builds[0]))
    if not tests:
        return Judged(Judgement.SKIP, "no test ran")
    red = [test for test in tests if test.status in RED]
    if red:
        title = red[0].report_titles[0] if red[0].report_titles else _first_line(red[0].message)
        return Judged(Judgement.BAD, _said(red[0]), title)
    errors = [test for test in tests if test.status is Status.ERROR]
    if errors:
        return Judged(Judgement.SKIP, _said(errors[0]))
    counts = {status.value: sum(test.status is status for test in tests) for status in (Status.PASSED, Status.SKIPPED)}
    return Judged(Judgement.GOOD, ", ".join(f"{count} {name}" for name, count in counts.items() if count))
