"""A subject's history: how its tests went in the earlier runs of the same results folder, for report.html.

A row of a run (a kernel line, a domain, a subject) is followed back through the runs before it that have the
same row (`store.earlier_runs` reads them, once per run): each earlier run's status and duration per test,
newest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from toolkit.results.records import RunRecord, SubjectResults, TestRecord

RUNS_SHOWN = 10  # the earlier runs a row shows

RowKey = tuple[str, str, str]  # kernel line, domain, subject


def row_key(run: SubjectResults) -> RowKey:
    return (run.kernel_line, run.domain, run.subject.name)


@dataclass(frozen=True)
class PastRun:
    """One earlier run of a row: its id, when it started, and its tests by name."""

    run_id: str
    started: str
    tests: dict[str, TestRecord]


def history(record: RunRecord, earlier: Sequence[RunRecord], shown: int = RUNS_SHOWN) -> dict[RowKey, list[PastRun]]:
    """For each row of record, the earlier runs that have the same row, newest first, at most shown of them;
    rows no earlier run has are left out."""
    rows: dict[RowKey, list[PastRun]] = {}
    for run in record.runs:
        key = row_key(run)
        past = [PastRun(old.run_id, old.started, {test.name: test for test in old_run.tests})
                for old in earlier for old_run in old.runs if row_key(old_run) == key and old_run.tests]  # fmt: skip
        if past:
            rows[key] = past[:shown]
    return rows
