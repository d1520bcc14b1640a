"""A stall an overloaded host may have caused is not judged the subject's: real recorded reports, the host's load
given."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.unit.scripted_cases import Guest
from tests.unit.test_domain_runner import Case
from toolkit import kernel_log
from toolkit.domains import host_stalls
from toolkit.domains.base import Verdict, every_record
from toolkit.domains.guest import problem_verdict
from toolkit.progress import Progress
from toolkit.results.records import Status

LOGS = Path(__file__).parent / "fixtures" / "kernel_logs"


def _red(log: str, only: str | None = None) -> Verdict:
    problems = kernel_log.classify((LOGS / log).read_text().splitlines())
    return problem_verdict("insmod logged a problem", [p for p in problems if only is None or p.kind == only])


def test_a_stall_without_the_subjects_code_on_an_overloaded_host_is_an_error_saying_why() -> None:
    found = host_stalls.judged(_red("rcu_stall.log"), "taptest", 4.2, 2)
    assert found.status is Status.ERROR
    assert found.message.startswith(
        "not judged: the kernel reported INFO: rcu detected stall while the host was overloaded (load 4.2 on 2 CPUs), "
        "and no code of taptest is in the report"
    )
    assert found.message.endswith("The test said: insmod logged a problem: INFO: rcu detected stall")


@pytest.mark.parametrize(("log", "module"), [("soft_lockup.log", "busy_init"), ("hung_task.log", "hang_init"),
                                             ("hung_task_7.x.log", "hang_init")])  # fmt: skip
def test_a_stall_with_the_subjects_code_in_it_stays_its_failure_however_busy_the_host(log: str, module: str) -> None:
    red = _red(log)
    assert host_stalls.judged(red, module, 8.0, 2) == red


def test_a_stall_on_a_host_with_room_stays_a_failure() -> None:
    red = _red("rcu_stall.log")
    assert host_stalls.judged(red, "taptest", 2.0, 2) == red


@pytest.mark.parametrize("log", ["oops.log", "kasan_use_after_free_6.1-debug.log", "slab_poison.log"])
def test_a_report_other_than_a_stall_stays_a_failure(log: str) -> None:
    red = _red(log)
    assert host_stalls.judged(red, "elsewhere", 8.0, 2) == red


def test_a_frame_is_the_modules_only_by_its_name_in_brackets_after_an_offset() -> None:
    line = "[  370.263814] watchdog: BUG: soft lockup - CPU#0 stuck for 13s! [insmod:193]"
    assert not host_stalls.has_frame_of((line,), "insmod:193")
    assert host_stalls.has_frame_of(("[  370.26]  busy_init_init+0x15/0x1000 [busy_init]",), "busy_init")
    assert not host_stalls.has_frame_of(("[  370.26]  busy_init_init+0x15/0x1000 [busy_init2]",), "busy_init")


def test_the_runner_reports_an_unjudged_stall_as_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_stalls, "host_load", lambda: (5.0, 2))
    [record] = every_record([Case("load", _red("rcu_stall.log"))], Guest(), Progress("t", io.StringIO()))
    assert record.status is Status.ERROR and record.message.startswith("not judged: the kernel reported INFO: rcu")
