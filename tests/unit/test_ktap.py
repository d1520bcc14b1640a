"""TAP and KTAP read into results: real output in tests/unit/fixtures/ktap/, each file carrying what it must give.

A fixture's header: comment lines, then one line per test that has no subtests, `path = status` or
`path = status: words its detail holds`, then `----`; the output follows.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from toolkit import ktap
from toolkit.results.records import Status

FIXTURES = Path(__file__).parent / "fixtures" / "ktap"
FILES = sorted(FIXTURES.glob("*.txt"))


def _fixture(path: Path) -> tuple[list[tuple[str, str, str]], str]:
    header, _, body = path.read_text().partition("\n----\n")
    expected = []
    for line in header.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        where, _, verdict = line.partition(" = ")
        status, _, words = verdict.partition(": ")
        expected.append((where, status, words))
    return expected, body


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_each_fixture_gives_the_results_its_header_names(path: Path) -> None:
    expected, body = _fixture(path)
    report = ktap.parse(body)
    found = [("/".join(names), test) for names, test in report.leaves()]
    assert [(where, test.status.value) for where, test in found] == [(where, status) for where, status, _ in expected]
    for (where, test), (_, _, words) in zip(found, expected, strict=True):
        assert words in test.detail(), f"{where}: {test.detail()!r}"


def test_kunit_as_the_kernel_prints_it_keeps_the_failure_message_with_its_case() -> None:
    report = ktap.parse((FIXTURES / "kunit-6.1-dmesg.txt").read_text().partition("\n----\n")[2])
    [suite] = report.tests
    assert (suite.name, suite.status, len(suite.subtests)) == ("taptest", Status.FAILED, 4)
    buffer = suite.subtests[1]
    assert buffer.diagnostics[0].startswith("taptest_buffer_size: EXPECTATION FAILED at /mnt/")
    assert "size == 4000" in buffer.detail() and "pass:" not in buffer.detail()
    widths = suite.subtests[3]
    assert [param.name for param in widths.subtests] == ["width 1", "width 8", "width 64"]
    assert widths.diagnostics == ("taptest_widths: pass:2 fail:1 skip:0 total:3",)  # the case's own line
    assert "to be true, but is false" in widths.subtests[2].detail()  # indented as the case, yet the param's
    assert suite.diagnostics[:2] == ("taptest: pass:1 fail:2 skip:1 total:4", "Totals: pass:3 fail:2 skip:1 total:6")
    assert report.output[0].endswith("vexfs-vmtest: insmod 5f1c2a9e")  # the kernel's other lines: kept, no test's
    assert report.output[-1].endswith("taptest: loaded, depth 4") and suite.diagnostics[-1] == report.output[-1][15:]


def test_the_results_file_and_dmesg_give_the_same_suite() -> None:
    def leaves(name: str) -> list[tuple[tuple[str, ...], Status]]:
        body = (FIXTURES / name).read_text().partition("\n----\n")[2]
        return [(names, test.status) for names, test in ktap.parse(body).leaves()]

    assert leaves("kunit-6.1-debugfs.txt") == leaves("kunit-6.1-dmesg.txt")


def test_a_plain_script_reports_its_plan_and_diagnostics_after_the_result_they_explain() -> None:
    report = ktap.parse((FIXTURES / "shell-tap13.txt").read_text().partition("\n----\n")[2])
    assert (report.version, report.plan, report.output) == ("TAP version 13", 7, ())
    failed = report.tests[2]
    assert (failed.number, failed.name) == (3, "parameter depth is writable")
    assert failed.diagnostics == ("write of 8 failed: sh: 1: echo: echo: I/O error", "depth reads 4, wanted 8")
    todo = report.tests[4]
    assert (todo.directive, todo.reason, todo.status) == ("TODO", "slow under TCG", Status.SKIPPED)


def test_a_crash_mid_plan_makes_the_missing_tests_errors_and_keeps_what_the_shell_said() -> None:
    report = ktap.parse("1..5\nok 1\nok 2\nSegmentation fault\n")
    assert [test.status for test in report.tests] == [Status.PASSED] * 2 + [Status.ERROR] * 3
    assert [test.number for test in report.tests[2:]] == [3, 4, 5]
    assert report.tests[4].reason == "not run: the script ended after 2 of 5"
    assert report.output == ("Segmentation fault",)
    assert ktap.parse("1..2\nok 1\n", source="suite").tests[1].reason == "not run: the suite ended after 1 of 2"


def test_a_nested_block_whose_result_line_never_came_is_an_error_with_its_subtests() -> None:
    report = ktap.parse("KTAP version 1\n1..2\n  KTAP version 1\n  1..2\n  ok 1 a\n  ok 2 b\nok 1 first\n"
                        "  KTAP version 1\n  1..1\n  ok 1 c\n")  # fmt: skip
    first, second = report.tests
    assert first.status is Status.PASSED and second.status is Status.ERROR
    assert [sub.name for sub in second.subtests] == ["c"]
    assert second.reason == "no result line after its subtests: the script ended"
    assert [("/".join(names), test.status) for names, test in report.leaves()] == [
        ("first/a", Status.PASSED), ("first/b", Status.PASSED), ("2", Status.ERROR), ("2/c", Status.PASSED),
    ]  # fmt: skip


def test_a_skipped_plan_says_why_and_has_no_tests() -> None:
    report = ktap.parse("TAP version 14\n1..0 # SKIP needs /dev/taptest\n")
    assert (report.skip_all, report.tests, report.found) == ("needs /dev/taptest", (), True)


def test_more_tests_than_planned_is_a_problem_and_every_result_is_kept() -> None:
    report = ktap.parse("1..1\nok 1 a\nok 2 b\n")
    assert len(report.tests) == 2 and report.problems == ("2 tests ran but the plan said 1",)


def test_result_lines_keep_escaped_hashes_numbers_and_unknown_directives() -> None:
    first, second, third, fourth = ktap.parse(
        "ok 1 - issue#5 and \\# sign\nok - check return code # rcode=0\nnot ok 7 slow # TIMEOUT 30 seconds\n"
        "not ok 8 setup # ERROR no /dev/kmsg\n"
    ).tests
    assert (first.name, first.status) == ("issue#5 and # sign", Status.PASSED)
    assert (second.number, second.name, second.reason, second.status) == (2, "check return code", "rcode=0",
                                                                          Status.PASSED)  # fmt: skip
    assert (third.number, third.directive, third.status) == (7, "TIMEOUT", Status.FAILED)
    assert (fourth.directive, fourth.reason, fourth.status) == ("ERROR", "no /dev/kmsg", Status.ERROR)


def test_a_ktap_block_gives_a_test_the_diagnostics_before_its_result_line() -> None:
    report = ktap.parse("KTAP version 1\n1..2\n# opening\nok 1 opens\n# about to fail\nnot ok 2 reads\n")
    assert [test.diagnostics for test in report.tests] == [("opening",), ("about to fail",)]


def test_garbage_never_raises_and_is_kept_as_output() -> None:
    text = "\x00\xff\ufffd ok\n\t\t1..\n  not ok x\n# \n" + "\n".join(f"{'  ' * n}ok {n} x" for n in (5, 1, 3, 0))
    assert ktap.parse(text).tests  # what it could read
    chooser = random.Random(20261206)
    pieces = ["ok", "not ok", " 1", " - a", " # SKIP", "1..3", "KTAP version 1", "TAP version 14", "# Subtest: s",
              "Bail out!", "#", "  ", "    ", "\t", "\n", "\n", "\n", "---", "...", "\x00", "é"]  # fmt: skip
    for _ in range(300):
        ktap.parse("".join(chooser.choice(pieces) for _ in range(chooser.randint(0, 60))))
    garbage = (FIXTURES / "garbage.txt").read_text().partition("\n----\n")[2]
    report = ktap.parse(garbage)
    assert (report.found, report.tests) == (False, ())
    assert len(report.output) == len(garbage.strip().splitlines())
