"""A subject's cases over two guests: which go apart (from the last run's durations), and the runner that runs them
on a second guest meanwhile, its records in the cases' order."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pytest

from tests.unit.test_domain_runner import Guest
from toolkit.domains import lanes
from toolkit.domains.base import SecondGuest, Verdict, case_records
from toolkit.errors import UserError
from toolkit.progress import Progress
from toolkit.results.records import RunRecord, Status, SubjectInfo, SubjectResults, TestRecord

MODULE = SubjectInfo("module", "vexfs", "/src/vexfs")


@dataclass
class Named(Guest):
    """A guest that notes each case run on it."""

    name: str = "first"
    ran: list[str] = field(default_factory=list)


@dataclass
class Case:
    name: str
    needs: tuple[str, ...] = ()
    verdicts: dict[str, Verdict] = field(default_factory=dict)  # by guest name; passed elsewhere
    retried: bool = True
    uses: tuple[str, ...] = ()
    hands: tuple[str, ...] = ()

    def run(self, guest: Named) -> Verdict:
        guest.ran.append(self.name)
        return self.verdicts.get(guest.name, Verdict.passed(f"{self.name} passed on the {guest.name} guest"))


def _cases(**verdicts: dict[str, Verdict]) -> list[Case]:
    return [
        Case("build", retried=False),
        Case("load", ("build",), verdicts.get("load", {})),
        Case("unload", ("load",)),
        Case("concurrency", ("unload",), hands=("watched_s",)),
        Case("hang_detection", ("build",), uses=("concurrency",)),
        Case("module_tests", ("load",), verdicts.get("module_tests", {})),
    ]


DURATIONS = {"build": 2.0, "load": 1.0, "unload": 1.0, "concurrency": 8.0, "hang_detection": 0.5, "module_tests": 20.0}


def test_the_longest_case_nothing_needs_goes_apart_with_its_prerequisites_counted() -> None:
    assert lanes.apart(_cases(), DURATIONS) == ("module_tests",)


def test_nothing_goes_apart_without_every_duration_or_when_it_would_not_end_sooner() -> None:
    assert lanes.apart(_cases(), {**DURATIONS, "hang_detection": 0.0} | {"module_tests": 1.0}) == ()
    assert lanes.apart(_cases(), {name: s for name, s in DURATIONS.items() if name != "load"}) == ()


def test_a_case_that_is_needed_takes_or_gives_a_hand_off_or_judges_the_build_stays() -> None:
    cases = _cases()
    assert [case.name for case in cases if lanes.movable(case, cases)] == ["module_tests"]


def test_the_durations_are_the_newest_earlier_run_of_the_same_subject_line_and_domain() -> None:
    def run(line: str, subject: SubjectInfo, **seconds: float) -> SubjectResults:
        tests = tuple(TestRecord(name, Status.PASSED if s else Status.SKIPPED, s, "") for name, s in seconds.items())
        return SubjectResults("6.1.0", line, "qemu", "tcg", subject, "kernel_module", tests)

    other = SubjectInfo("module", "vexfs", "/elsewhere/vexfs")
    newest = RunRecord("2", "", "", "", {}, (run("6.1", other, load=9.0), run("5.10", MODULE, load=8.0)))
    older = RunRecord("1", "", "", "", {}, (run("6.1", MODULE, load=1.5, module_tests=0.0),))
    assert lanes.last_durations([newest, older], "6.1", "kernel_module", MODULE) == {"load": 1.5, "module_tests": 0}
    assert lanes.last_durations([], "6.1", "kernel_module", MODULE) == {}


def test_prerequisites_two_cases_apart_share_are_counted_once() -> None:
    cases = [*_cases(), Case("memory_leak", ("unload",))]
    durations = {**DURATIONS, "load": 4.0, "concurrency": 14.0, "module_tests": 12.0, "memory_leak": 6.0}
    # the first guest keeps build, load, unload, concurrency and hang_detection: 21.5 s; the second starts (2 s), runs
    # load (4 s) and module_tests, then unload (1 s) and memory_leak: 25 s, 29 s with load counted twice
    assert lanes.apart(cases, durations) == ("module_tests", "memory_leak")


def _run(
    cases: list[Case], start: object, apart: tuple[str, ...] = ("module_tests",)
) -> tuple[list[list[TestRecord]], str]:
    said = io.StringIO()
    second = SecondGuest(apart, start, lambda: None, lambda: None, Progress("t, 2nd guest", said))  # type: ignore[arg-type]
    first = Named()
    every = list(case_records(cases, first, Progress("t", said), second=second))
    return every, said.getvalue()


def test_a_case_apart_runs_on_the_second_guest_after_its_prerequisites_and_lands_in_order() -> None:
    second = Named(name="second")
    every, said = _run(_cases(), lambda: second)
    last = every[-1]
    assert [record.name for record in last] == [case.name for case in _cases()]
    assert {record.name: record.message for record in last}["module_tests"] == "module_tests passed on the second guest"
    assert second.ran == ["build", "load", "module_tests"]
    assert [record.name for record in last if record.metrics.get("second_guest")] == ["module_tests"]
    assert "[t, 2nd guest] (6/6) module_tests: passed" in said
    assert all(record.status is Status.PASSED for record in last)


def test_the_cases_apart_run_one_after_another_as_on_the_first_guest_their_prerequisites_once() -> None:
    second = Named(name="second")
    cases = [*_cases(), Case("memory_leak", ("unload",))]
    every, _ = _run(cases, lambda: second, ("module_tests", "memory_leak"))
    assert second.ran == ["build", "load", "module_tests", "unload", "memory_leak"] and second.recoveries == []
    assert all(record.status is Status.PASSED for record in every[-1])


def test_a_case_apart_that_left_the_guest_dirty_is_followed_by_a_rollback_there() -> None:
    second = Named(name="second")
    dirty = {"second": Verdict.failed("leaked 4 objects", guest_dirty=True)}
    cases = [*_cases(module_tests=dirty), Case("memory_leak", ("unload",))]
    every, _ = _run(cases, lambda: second, ("module_tests", "memory_leak"))
    records = {record.name: record for record in every[-1]}
    assert records["module_tests"].message == "leaked 4 objects [guest rolled back to its ready snapshot]"
    assert second.recoveries == ["reset"] and second.ran[-2:] == ["unload", "memory_leak"]
    assert records["memory_leak"].message == "memory_leak passed on the second guest"


def test_a_second_guest_that_cannot_start_leaves_its_cases_to_the_first() -> None:
    def start() -> Named:
        raise UserError("the host has 900 MiB available")

    every, said = _run(_cases(), start)
    assert [record.name for record in every[-1]] == [case.name for case in _cases()]
    assert {record.name: record.message for record in every[-1]}[
        "module_tests"
    ] == "module_tests passed on the first guest"
    assert "no second guest (the host has 900 MiB available): the first runs module_tests" in said


def test_a_case_apart_whose_need_failed_on_the_first_guest_is_skipped_and_runs_nowhere() -> None:
    second = Named(name="second")
    every, _ = _run(_cases(load={"first": Verdict.failed("insmod failed")}), lambda: second)
    records = {record.name: record for record in every[-1]}
    assert records["module_tests"].status is Status.SKIPPED
    assert records["module_tests"].message.startswith("needs load to pass (load failed: insmod failed)")
    assert second.ran == []


def test_a_case_apart_whose_prerequisite_is_red_on_the_second_guest_runs_on_the_first() -> None:
    second = Named(name="second")
    every, _ = _run(_cases(load={"second": Verdict.failed("insmod failed")}), lambda: second)
    records = {record.name: record for record in every[-1]}
    assert records["module_tests"].message == "module_tests passed on the first guest"
    assert second.ran == ["build", "load"]


def test_a_second_guest_needs_the_cpus_the_other_processes_leave(monkeypatch) -> None:  # noqa: ANN001
    from toolkit import host_capacity

    monkeypatch.setattr(host_capacity.psutil, "cpu_count", lambda: 2)
    monkeypatch.setattr(host_capacity.psutil, "cpu_percent", lambda interval: 20.0)  # 0.4 of the 2 CPUs
    host_capacity.require_free_cpu([])
    monkeypatch.setattr(host_capacity.psutil, "cpu_percent", lambda interval: 90.0)
    with pytest.raises(UserError, match=r"^the host's CPUs are busy: other processes kept 1.8 of its 2 CPUs busy$"):
        host_capacity.require_free_cpu([2**22 + 1])  # a run's guest that is gone uses nothing


def test_an_error_on_the_second_guest_that_is_no_machines_is_raised_by_the_run() -> None:
    def start() -> Named:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left on device"):
        _run(_cases(), start)
