"""The domain framework: test cases that return verdicts, run in order with their prerequisites.

A Domain checks its constraints before anything runs, then runs its cases in order. A case
whose prerequisites did not pass is skipped with the reason. When a case leaves the guest
dirty or unreachable, the guest is recovered (rolled back or replaced) before the next one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from toolkit.machines.base import MachineError
from toolkit.progress import Progress
from toolkit.results.records import Status, TestRecord


@dataclass(frozen=True)
class Verdict:
    """What one test case concluded, and the evidence."""

    status: Status
    message: str
    metrics: dict[str, Any] = field(default_factory=dict)
    kernel_log: tuple[str, ...] = ()
    guest_dirty: bool = False
    duration_s: float | None = None  # for work done before the case ran (a shared build)

    @classmethod
    def passed(cls, message: str, **metrics: Any) -> Verdict:
        return cls(Status.PASSED, message, metrics)

    @classmethod
    def failed(cls, message: str, kernel_log: Sequence[str] = (), guest_dirty: bool = False, **metrics: Any) -> Verdict:
        return cls(Status.FAILED, message, metrics, tuple(kernel_log), guest_dirty)

    @classmethod
    def skipped(cls, reason: str) -> Verdict:
        return cls(Status.SKIPPED, reason)


class Subject(Protocol):
    """What the cases of a domain work on; it knows how to bring its guest back to a clean state."""

    def healthy(self) -> bool: ...

    def recover(self) -> str: ...

    def evidence(self) -> list[str]: ...


class TestCase(Protocol):
    name: str
    needs: tuple[str, ...]

    def run(self, subject: Any) -> Verdict: ...


@dataclass(frozen=True)
class Domain:
    """A named, ordered set of test cases."""

    name: str
    cases: tuple[TestCase, ...]

    @property
    def test_names(self) -> tuple[str, ...]:
        return tuple(case.name for case in self.cases)

    def run(self, subject: Subject, progress: Progress) -> list[TestRecord]:
        return run_cases(self.cases, subject, progress)


def _blocked_by(case: TestCase, done: dict[str, TestRecord]) -> str | None:
    for need in case.needs:
        record = done.get(need)
        if record is None:
            return f"needs {need}, which did not run"
        if record.status is Status.SKIPPED:
            return record.message
        if record.status is not Status.PASSED:
            return f"needs {need} to pass ({need} {record.status.value}: {record.message.splitlines()[0]})"
    return None


def _run_case(case: TestCase, subject: Subject) -> Verdict:
    try:
        return case.run(subject)
    except MachineError as error:
        detail = f" (command: {error.command})" if error.command else ""
        return Verdict(Status.ERROR, f"guest trouble: {error}{detail}", {}, tuple(subject.evidence()), guest_dirty=True)


def run_cases(cases: Sequence[TestCase], subject: Subject, progress: Progress) -> list[TestRecord]:
    """Run cases in order; skip those whose prerequisites failed; recover the guest after trouble."""
    done: dict[str, TestRecord] = {}
    for index, case in enumerate(cases, start=1):
        started = time.monotonic()
        reason = _blocked_by(case, done)
        verdict = Verdict.skipped(reason) if reason else _run_case(case, subject)
        duration = verdict.duration_s if verdict.duration_s is not None else time.monotonic() - started
        message = verdict.message
        if verdict.guest_dirty or (verdict.status is not Status.SKIPPED and not subject.healthy()):
            message += f" [{subject.recover()}]"
        done[case.name] = TestRecord(case.name, verdict.status, duration, message, verdict.metrics, verdict.kernel_log)
        progress.say(
            f"({index}/{len(cases)}) {case.name}: {verdict.status.value} in {duration:.1f} s"
            + (f" - {message.splitlines()[0]}" if verdict.status is not Status.PASSED else "")
        )
    return list(done.values())
