"""--retry: a red test runs again on a restored guest after what it needs; red every time stays failed, red some
times is flaky with its rate; the attempts are recorded, and a flaky test fails the run."""

from __future__ import annotations

import io

import pytest

from tests.unit.scripted_cases import Case, Guest
from toolkit.domains import retries
from toolkit.domains.base import case_records, every_record
from toolkit.domains.kernel_module import domain as kernel_module
from toolkit.domains.selection import Selection
from toolkit.machines.protocol import MachineError
from toolkit.progress import Progress
from toolkit.results.records import Status, TestRecord


def _attempt(status: Status, message: str, duration_s: float = 2.0, titles: tuple[str, ...] = ()) -> TestRecord:
    return TestRecord("memory_leak", status, duration_s, message, {"leaked": 1}, ("[ 1.0] leak",),
                      "2026-12-07T07:00:00+00:00", report_titles=titles)  # fmt: skip


def test_a_test_red_in_every_attempt_stays_failed_and_says_so_keeping_its_first_message_and_evidence() -> None:
    attempts = [_attempt(Status.FAILED, f"leaked {n} objects", titles=(f"memory leak in init{n}",)) for n in (1, 2, 3)]
    record = retries.summary(attempts, restore_s=1.5)
    assert record.status is Status.FAILED
    assert record.message == "failed 3/3 attempts: leaked 1 objects"
    assert record.kernel_log == ("[ 1.0] leak",) and record.metrics["leaked"] == 1
    assert record.report_titles == ("memory leak in init1", "memory leak in init2", "memory leak in init3")
    assert record.duration_s == pytest.approx(7.5)
    assert record.metrics["retry"] == {
        "attempts": 3, "statuses": ["failed"] * 3, "durations_s": [2.0] * 3,
        "messages": ["leaked 1 objects", "leaked 2 objects", "leaked 3 objects"],
        "report_titles": [["memory leak in init1"], ["memory leak in init2"], ["memory leak in init3"]],
        "restore_s": 1.5,
    }  # fmt: skip


def test_a_test_red_in_some_attempts_is_flaky_with_its_rate() -> None:
    record = retries.summary([_attempt(Status.FAILED, "leaked 1 object\ndetails"), _attempt(Status.PASSED, "ok")], 0.0)
    assert record.status is Status.FLAKY
    assert record.message == "flaky: failed 1/2 attempts: leaked 1 object\ndetails"
    assert record.metrics["retry"]["statuses"] == ["failed", "passed"]
    assert record.metrics["retry"]["messages"] == ["leaked 1 object", "ok"]


def test_attempts_red_in_different_ways_are_counted_by_status_and_the_worst_stands() -> None:
    record = retries.summary([_attempt(Status.ERROR, "guest trouble"), _attempt(Status.FAILED, "leaked")], 0.0)
    assert record.status is Status.FAILED and record.message == "failed 1/2 and error 1/2 attempts: guest trouble"


def test_an_attempt_that_could_not_run_is_counted_apart_with_why() -> None:
    load = TestRecord("load", Status.FAILED, 1.0, "insmod: File exists\nmore")
    blocked = retries.blocked_attempt("memory_leak", load, "2026-12-07T07:00:00+00:00")
    assert blocked.status is Status.SKIPPED
    record = retries.summary([_attempt(Status.FAILED, "leaked"), blocked], 4.0)
    assert record.status is Status.FAILED
    assert record.message == ("failed 1/1 attempts (1 more could not run: needs load to pass on the restored guest "
                              "(load failed: insmod: File exists)): leaked")  # fmt: skip
    assert record.duration_s == pytest.approx(6.0)


def test_only_a_red_test_is_retried_and_never_a_verdict_on_the_shared_build() -> None:
    red = _attempt(Status.FAILED, "leaked")
    build, leak = kernel_module.DOMAIN.cases[0], kernel_module.DOMAIN.cases[4]
    assert retries.worth_retrying(leak, red) and retries.worth_retrying(leak, _attempt(Status.ERROR, "gone"))
    assert not retries.worth_retrying(leak, _attempt(Status.PASSED, "ok"))
    assert not retries.worth_retrying(leak, _attempt(Status.SKIPPED, "needs load"))
    assert not retries.worth_retrying(build, red)


def test_the_prerequisites_run_again_are_what_it_needs_and_uses_transitively_that_passed() -> None:
    cases = kernel_module.DOMAIN.cases
    names = [case.name for case in cases]
    passed = {name: TestRecord(name, Status.PASSED, 1.0) for name in names}
    hangs = next(case for case in cases if case.name == "hang_detection")
    assert [case.name for case in retries.prerequisites(hangs, cases, passed)] == [
        "build", "load", "unload", "concurrency"
    ]  # fmt: skip
    without = {**passed, "concurrency": TestRecord("concurrency", Status.FAILED, 1.0)}
    assert [case.name for case in retries.prerequisites(hangs, cases, without)] == ["build"]


def _run(cases: list[Case], retry: int, guest: Guest | None = None) -> tuple[list[TestRecord], str]:
    out = io.StringIO()
    records = every_record(cases, guest or Guest(), Progress("t", out), Selection(retry=retry))
    return records, out.getvalue()


def test_a_red_test_runs_again_after_a_rollback_and_what_it_needs_until_it_passes() -> None:
    guest = Guest()
    load, leak, after = Case("load", "p"), Case("memory_leak", "ffp", ("load",)), Case("concurrency", "p", ("load",))
    records, said = _run([load, leak, after], retry=3, guest=guest)
    assert [record.status for record in records] == [Status.PASSED, Status.FLAKY, Status.PASSED]
    assert records[1].message == "flaky: failed 2/3 attempts: memory_leak: leaked 1 object"
    assert guest.recoveries == 2 and len(load.runs) == 3 and len(leak.runs) == 3 and len(after.runs) == 1
    assert records[0].message == "load: fine"  # a prerequisite's re-runs are no new verdicts
    assert "[t] (retry 1/3) memory_leak: failed in " in said and "[t] (retry 2/3) memory_leak: passed in " in said
    assert "(retry 3/3)" not in said


def test_a_test_red_every_time_is_failed_with_every_attempt_recorded() -> None:
    leak = Case("memory_leak", "f")
    (record,), _ = _run([leak], retry=2)
    assert record.status is Status.FAILED and record.message.startswith("failed 3/3 attempts: ")
    assert record.metrics["retry"]["statuses"] == ["failed", "failed", "failed"] and len(leak.runs) == 3


def test_without_retries_a_red_test_runs_once_and_its_record_is_as_it_was() -> None:
    leak = Case("memory_leak", "fp")
    (record,), said = _run([leak], retry=0)
    assert record.status is Status.FAILED and "retry" not in record.metrics and len(leak.runs) == 1
    assert "retry" not in said


def test_a_prerequisite_red_on_the_restored_guest_leaves_that_attempt_unrun() -> None:
    load, leak = Case("load", "pf"), Case("memory_leak", "f", ("load",))
    records, _ = _run([load, leak], retry=1)
    assert records[0].status is Status.PASSED
    assert records[1].status is Status.FAILED and records[1].metrics["retry"]["statuses"] == ["failed", "skipped"]
    assert "needs load to pass on the restored guest (load failed: load: leaked 1 object)" in records[1].message
    assert len(leak.runs) == 1


def test_a_guest_that_cannot_be_restored_ends_the_retries_and_loses_the_machine() -> None:
    guest = Guest(broken=True)
    saved: list[list[TestRecord]] = []
    with pytest.raises(MachineError, match="qemu exited"):
        for records in case_records([Case("memory_leak", "e")], guest, Progress("t", io.StringIO()),
                                    Selection(retry=2)):  # fmt: skip
            saved.append(records)
    (last,) = saved[-1]
    assert last.status is Status.ERROR and last.metrics["retry"]["statuses"] == ["error", "skipped"]
    assert last.message == ("error 1/1 attempts (1 more could not run: the guest could not be restored for it: "
                            "qemu exited): memory_leak: no answer")  # fmt: skip


def test_a_test_that_needs_a_flaky_one_runs_as_the_flaky_one_passed_last() -> None:
    records, _ = _run([Case("load", "fp"), Case("unload", "p", ("load",))], retry=1)
    assert [record.status for record in records] == [Status.FLAKY, Status.PASSED]


def test_a_repeated_run_does_not_retry() -> None:
    assert Selection.parse(None, 5, ["load"], retry=2).retry == 0
    assert Selection.parse(None, 1, ["load"], retry=2).retry == 2
    assert Selection.parse(None, None, ["load"], retry=2).retry == 2
