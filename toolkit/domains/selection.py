"""Which of a domain's tests run, and how often: `--only TEST[,TEST]` (with what they need), `--repeat N`, and
`--retry N` (a red test run again: toolkit/domains/retries.py).

A test repeated on the warm VM is summarised in one record: passed when it passed every run, red when
it was red in any, and flaky when it was red in some runs and passed in others, with the rate
(`memory_leak failed 3/10`), so a verdict is one you can reproduce or know you cannot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from toolkit.errors import UserError
from toolkit.results.records import Status, TestRecord, worst

RED = (Status.FAILED, Status.ERROR)


@dataclass(frozen=True)
class Selection:
    """The tests asked for (none: all of them), how many times the run goes through them, and how many times a red
    test runs again."""

    only: tuple[str, ...] = ()
    repeat: int = 1
    retry: int = 0

    @classmethod
    def parse(cls, only: str | None, repeat: int | None, known: Sequence[str], retry: int = 0) -> Selection:
        """From the command line's --only (comma-separated test names; None: not given), --repeat and the retry
        setting, which a repeated run does without (its rounds already tell a flaky test, and retries would bend
        their rate); a UserError for a name no chosen domain has, or an --only that names no test."""
        names = tuple(dict.fromkeys(name.strip() for name in (only or "").split(",") if name.strip()))
        if only is not None and not names:
            raise UserError(
                f"--only {only!r} names no test: name one or more of {', '.join(known)}, or leave --only out "
                "to run them all"
            )
        unknown = [name for name in names if name not in known]
        if unknown:
            raise UserError(f"--only {unknown[0]}: no such test in this run; its tests are {', '.join(known)}")
        rounds = repeat or 1
        return cls(names, rounds, retry if rounds == 1 else 0)

    def cases(self, cases: Sequence[Any]) -> list[Any]:
        """The cases to run, in their declared order: the chosen ones and every one they need, transitively."""
        if not self.only:
            return list(cases)
        wanted = closure(self.only, cases, lambda case: case.needs)
        return [case for case in cases if case.name in wanted]


def closure(names: Iterable[str], cases: Sequence[Any], links: Callable[[Any], Iterable[str]]) -> set[str]:
    """names and every case they link to (their needs, say) among cases, transitively."""
    by_name = {case.name: case for case in cases}
    found: set[str] = set()
    pending = [name for name in names if name in by_name]
    while pending:
        name = pending.pop()
        if name not in found:
            found.add(name)
            pending += [linked for linked in links(by_name[name]) if linked in by_name]
    return found


EVERY_TEST = Selection()


def summarize(rounds: Sequence[Sequence[TestRecord]]) -> list[TestRecord]:
    """One record per test from the records of every round (a single round's records as they are)."""
    if len(rounds) == 1:
        return list(rounds[0])
    names = list(dict.fromkeys(record.name for records in rounds for record in records))
    return [_summary([r for records in rounds for r in records if r.name == name]) for name in names]


def _summary(runs: list[TestRecord]) -> TestRecord:
    counts = {status.value: sum(run.status is status for run in runs) for status in Status}
    ran = len(runs) - counts[Status.SKIPPED.value]
    red = [run for run in runs if run.status in RED]
    shown = red[0] if red else runs[-1]
    metrics: dict[str, Any] = {
        **shown.metrics,
        "repeat": {
            "runs": len(runs),
            **counts,
            "statuses": [run.status.value for run in runs],
            "durations_s": [round(run.duration_s, 3) for run in runs],
        },  # fmt: skip
    }
    skipped = f" ({counts['skipped']} skipped)" if counts["skipped"] and ran else ""
    if not red:
        status = Status.SKIPPED if not ran else Status.PASSED
        message = shown.message if not ran else f"passed {ran}/{ran}{skipped}: {shown.message}"
    else:
        status = worst([run.status for run in red])
        rate = f"{status.value} {len(red)}/{ran}{skipped}"
        flaky = len(red) < ran
        metrics["flaky"] = flaky
        message = f"flaky: {shown.name} {rate}: {shown.message}" if flaky else f"{rate}: {shown.message}"
    duration = sum(run.duration_s for run in runs)
    titles = tuple(dict.fromkeys(title for run in red for title in run.report_titles))  # every round's reports
    return replace(shown, status=status, message=message, metrics=metrics, duration_s=duration, started=runs[0].started,
                   report_titles=titles)  # fmt: skip
