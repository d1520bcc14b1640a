"""Progress lines: a heartbeat while long work runs, colour on a terminal only."""

from __future__ import annotations

import io
import time

import pytest

from toolkit.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_long_step_says_every_few_seconds_what_still_runs_and_for_how_long() -> None:
    out = io.StringIO()
    progress = Progress("6.1 vexfs", out, heartbeat_s=0.05)
    with progress.step("building kernel/vexfs", 1, 2):
        time.sleep(0.3)
    lines = out.getvalue().splitlines()
    assert lines[0] == "[6.1 vexfs] (1/2) building kernel/vexfs ..."
    beats = [line for line in lines if line.startswith("[6.1 vexfs] (1/2) building kernel/vexfs: running for ")]
    assert len(beats) >= 3 and lines[-1].startswith("[6.1 vexfs] (1/2) building kernel/vexfs done in 0.")


def test_long_work_beats_less_often_as_it_goes_on() -> None:
    progress = Progress("kernel 6.1-debug", io.StringIO(), heartbeat_s=5)
    assert [progress.next_heartbeat_s(s) for s in (0, 55, 60, 599, 600, 2700)] == [5, 5, 30, 30, 60, 60]


def test_a_quick_test_gets_no_heartbeat_and_the_heart_stops_with_the_test() -> None:
    out = io.StringIO()
    with Progress("t", out, heartbeat_s=0.2).beating("(1/8) build"):
        pass
    time.sleep(0.3)
    assert out.getvalue() == ""


def test_verdicts_are_coloured_on_a_terminal_and_plain_in_a_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert Progress("t", Terminal()).verdict("failed") == "\033[31mfailed\033[0m"
    assert Progress("t", Terminal()).verdict("passed") == "\033[32mpassed\033[0m"
    assert Progress("t", io.StringIO()).verdict("failed") == "failed"
    monkeypatch.setenv("NO_COLOR", "1")
    assert Progress("t", Terminal()).verdict("failed") == "failed"
