"""A step's run judged as git bisect would: bad when a selected test is red, skip when the build failed or a test
could not be judged, good otherwise; a bad step names the report that made it red."""

from __future__ import annotations

from toolkit.bisect.judge import Judged, judged
from toolkit.bisect.search import Judgement
from toolkit.results.records import RunRecord, Status, SubjectInfo, SubjectResults, TestRecord


def _run(*tests: TestRecord) -> RunRecord:
    subject = SubjectResults("6.1.0-50-amd64", "6.1", "qemu", "tcg", SubjectInfo("module", "drv", "/scratch/drv"),
                             "kernel_module", tests)  # fmt: skip
    return RunRecord("20261207-070000-abcd", "", "", "1", {}, (subject,))


def test_a_red_test_makes_the_commit_bad_with_the_title_of_its_report() -> None:
    leak = TestRecord("memory_leak", Status.FAILED, 3.0, "leaked 4 objects, 256 bytes\nmore",
                      report_titles=("memory leak in leaky_init",))  # fmt: skip
    found = judged(_run(TestRecord("build", Status.PASSED, 1.0), leak))
    assert found == Judged(Judgement.BAD, "memory_leak failed - leaked 4 objects, 256 bytes",
                           "memory leak in leaky_init")  # fmt: skip


def test_a_red_test_without_a_kernel_report_is_titled_by_its_message() -> None:
    found = judged(_run(TestRecord("build", Status.PASSED, 1.0), TestRecord("load", Status.FAILED, 1.0, "timed out")))
    assert (found.judgement, found.title) == (Judgement.BAD, "timed out")


def test_a_known_failure_is_red_for_a_bisect() -> None:
    known = TestRecord("unload", Status.KNOWN, 1.0, "known: oopses before 1.2: ...", known_failure="oopses before 1.2")
    assert judged(_run(TestRecord("build", Status.PASSED, 1.0), known)).judgement is Judgement.BAD


def test_a_test_that_could_not_be_judged_skips_the_commit_unless_another_is_red() -> None:
    lost = TestRecord("concurrency", Status.ERROR, 0.0, "not run: the machine was lost: QEMU exited")
    found = judged(_run(TestRecord("build", Status.PASSED, 1.0), lost))
    assert found == Judged(Judgement.SKIP, "concurrency error - not run: the machine was lost: QEMU exited")
    leak = TestRecord("memory_leak", Status.FAILED, 3.0, "leaked 4 objects")
    assert judged(_run(TestRecord("build", Status.PASSED, 1.0), lost, leak)).judgement is Judgement.BAD


def test_a_failed_build_skips_the_commit() -> None:
    found = judged(_run(TestRecord("build", Status.FAILED, 1.0, "build failed (chroot): error: x undeclared"),
                        TestRecord("load", Status.SKIPPED, 0.0, "needs build to pass")))  # fmt: skip
    assert found == Judged(Judgement.SKIP, "build failed - build failed (chroot): error: x undeclared")


def test_passed_and_skipped_tests_make_the_commit_good_with_their_counts() -> None:
    found = judged(_run(TestRecord("build", Status.PASSED, 1.0), TestRecord("load", Status.PASSED, 1.0),
                        TestRecord("module_tests", Status.SKIPPED, 0.0, "no tests/*.sh")))  # fmt: skip
    assert found == Judged(Judgement.GOOD, "2 passed, 1 skipped")


def test_a_run_without_tests_cannot_judge_the_commit() -> None:
    assert judged(_run()).judgement is Judgement.SKIP
