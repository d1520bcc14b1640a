"""--only and --repeat: which tests run, how often, and what a repeated run says (flaky, with its rate)."""

from __future__ import annotations

import io

import pytest

from tests.unit.scripted_cases import Case, Guest
from toolkit.domains.base import every_record
from toolkit.domains.kernel_module import domain as kernel_module
from toolkit.domains.selection import Selection
from toolkit.errors import UserError
from toolkit.progress import Progress
from toolkit.results.records import Status

MODULE_TESTS = kernel_module.DOMAIN.test_names


def test_only_runs_the_chosen_tests_and_what_they_need_in_their_order() -> None:
    chosen = Selection.parse("memory_leak,load", None, MODULE_TESTS).cases(kernel_module.DOMAIN.cases)
    assert [case.name for case in chosen] == ["build", "load", "unload", "memory_leak"]
    assert [case.name for case in Selection().cases(kernel_module.DOMAIN.cases)] == list(MODULE_TESTS)


def test_an_unknown_test_says_which_tests_the_run_has() -> None:
    with pytest.raises(UserError, match="--only lod: no such test in this run; its tests are build, load, unload"):
        Selection.parse("lod", 3, MODULE_TESTS)


@pytest.mark.parametrize("only", ["", " , ", ","])
def test_an_only_that_names_no_test_is_refused_rather_than_running_them_all(only: str) -> None:
    with pytest.raises(UserError, match=f"--only {only!r} names no test: name one or more of build, load"):
        Selection.parse(only, None, MODULE_TESTS)
    assert Selection.parse(None, None, MODULE_TESTS).only == ()


def _run(cases: list[Case], selection: Selection) -> list:  # type: ignore[type-arg]
    return every_record(cases, Guest(), Progress("t", io.StringIO()), selection=selection)


def test_a_test_red_in_some_runs_only_is_flaky_with_its_rate() -> None:
    records = _run([Case("load", "p"), Case("memory_leak", "ffpppffppp", ("load",))], Selection(repeat=10))
    load, leak = records
    assert (load.status, load.message) == (Status.PASSED, "passed 10/10: load: fine")
    assert leak.status is Status.FAILED
    assert leak.message == "flaky: memory_leak failed 4/10: memory_leak: leaked 1 object"
    assert leak.metrics["flaky"] is True and leak.metrics["repeat"]["failed"] == 4
    assert leak.metrics["repeat"]["statuses"][:3] == ["failed", "failed", "passed"]
    assert leak.kernel_log == ("[ 1.0] kmemleak: 1 new suspected memory leaks",)
    assert leak.report_titles == ("memory leak in memory_leak_init",) and load.report_titles == ()


def test_a_test_red_every_time_is_red_not_flaky() -> None:
    (leak,) = _run([Case("memory_leak", "f")], Selection(repeat=3))
    assert leak.message == "failed 3/3: memory_leak: leaked 1 object" and leak.metrics["flaky"] is False


def test_runs_where_a_prerequisite_failed_are_counted_apart() -> None:
    load, leak = _run([Case("load", "pf"), Case("memory_leak", "f", ("load",))], Selection(repeat=4))
    assert load.message.startswith("flaky: load failed 2/4")
    assert leak.message == "failed 2/2 (2 skipped): memory_leak: leaked 1 object"
    assert leak.metrics["repeat"]["skipped"] == 2


def test_one_round_keeps_each_record_as_it_is() -> None:
    (leak,) = _run([Case("memory_leak", "f")], Selection())
    assert leak.message == "memory_leak: leaked 1 object" and "repeat" not in leak.metrics
