"""A step given up when the kernel reports the guest stuck: a real hung-task report on a console file, a machine
whose command blocks until it is interrupted or its timeout runs out."""

from __future__ import annotations

import shlex
import threading
import time
from pathlib import Path

import pytest

from toolkit.domains import stuck_watch
from toolkit.domains.base import Finding
from toolkit.domains.guest import Guest
from toolkit.machines.protocol import CommandInterrupted, CommandResult, CommandTimedOut
from toolkit.results.records import Status

LOGS = Path(__file__).parent / "fixtures" / "kernel_logs"
_HUNG = LOGS.joinpath("hung_task.log").read_text().splitlines()
HUNG_TASK = _HUNG[1 : next(n for n, line in enumerate(_HUNG) if "</TASK>" in line) + 1]  # after the step's mark
WARNING = LOGS.joinpath("warning_7.x.log").read_text().splitlines()
TIMER_OOPS = LOGS.joinpath("oops_timer_7.x.log").read_text().splitlines()  # an unloaded module's timer, then panic


class ConsoleMachine:
    """A guest whose step prints kernel lines on its console (a file, as QEMU writes it) and then blocks, as a
    stuck command does, until it is interrupted or its timeout passes; or returns, when returns is set."""

    def __init__(self, console: Path, kernel_says: list[str], returns: bool = False) -> None:
        self.console_log = console
        self.kernel_says = kernel_says
        self.returns = returns
        self.interrupted = threading.Event()
        self.commands: list[str] = []

    def run(self, command: str, timeout: float, sudo: bool = False) -> CommandResult:
        self.commands.append(command)
        if not command.startswith("vexfs_mark="):  # the log read after a step that did not return
            return CommandResult(command, 0, "\n".join(self.kernel_says), "", 0.1)
        marker = shlex.split(command.split(";", 1)[0].partition("=")[2])[0]
        with open(self.console_log, "a") as console:
            console.write("\n".join([f"[  289.758028] {marker}", *self.kernel_says]) + "\n")
        if self.returns:
            return CommandResult(command, 0, f"\n{marker}: kernel log follows\n" + "\n".join(self.kernel_says), "", 0.1)
        if self.interrupted.wait(timeout):
            raise CommandInterrupted("guest command given up", command)
        raise CommandTimedOut(f"guest command timed out after {timeout:g} s", command)

    def interrupt(self) -> None:
        self.interrupted.set()

    def console_text(self) -> str:
        return self.console_log.read_text()


@pytest.fixture(autouse=True)
def brisk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The watch's pace, shortened so the tests take a fraction of a second."""
    monkeypatch.setattr(stuck_watch, "POLL_S", 0.05)
    monkeypatch.setattr(stuck_watch, "QUIET_S", 0.2)


def test_a_step_the_kernel_reports_stuck_is_given_up_once_the_report_is_complete(tmp_path: Path) -> None:
    (tmp_path / "console.log").write_text("an earlier boot\n")
    machine = ConsoleMachine(tmp_path / "console.log", HUNG_TASK)
    guest = Guest(machine, lambda: "a656faf9")  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(Finding) as raised:
        guest.step("insmod", "insmod hang_init.ko", 60)
    assert time.monotonic() - started < 5 and machine.interrupted.is_set()
    verdict = raised.value.verdict
    assert verdict.status is Status.FAILED and verdict.guest_dirty
    assert verdict.message.startswith(
        "insmod did not return: given up after 0 s of its 60 s, once the kernel reported:"
    )
    assert verdict.message.endswith("INFO: task hung in hang_init_init")
    assert any("blocked for more than 10 seconds" in line for line in verdict.kernel_log)


def test_a_step_whose_kernel_reports_no_stuck_guest_runs_to_its_own_end(tmp_path: Path) -> None:
    machine = ConsoleMachine(tmp_path / "console.log", WARNING)
    guest = Guest(machine, lambda: "0000")  # type: ignore[arg-type]
    with pytest.raises(Finding) as raised:
        guest.step("use", "use it", 1)
    assert not machine.interrupted.is_set()
    assert raised.value.verdict.message.startswith("use did not return within 1 s")


def test_a_step_that_returns_is_judged_as_before(tmp_path: Path) -> None:
    machine = ConsoleMachine(tmp_path / "console.log", ["[ 1.0] mod: hello"], returns=True)
    step = Guest(machine, lambda: "0000").step("insmod", "insmod m.ko", 10)  # type: ignore[arg-type]
    assert step.ok and step.log == ("[ 1.0] mod: hello",) and not machine.interrupted.is_set()


class WedgedAfterStep(ConsoleMachine):
    """A guest whose step returns, after which the kernel prints its report and the next command never answers."""

    def __init__(self, console: Path, after_step: list[str]) -> None:
        super().__init__(console, ["[ 12.9] vexfs-vmtest: rmmod done"], returns=True)
        self.after_step = after_step

    def run(self, command: str, timeout: float, sudo: bool = False) -> CommandResult:
        if command.startswith("vexfs_mark="):
            return super().run(command, timeout, sudo)
        self.commands.append(command)
        with open(self.console_log, "a") as console:
            console.write("\n".join(self.after_step) + "\n")
        if self.interrupted.wait(timeout):
            raise CommandInterrupted("guest command given up", command)
        raise CommandTimedOut(f"guest command timed out after {timeout:g} s", command)


def test_a_command_after_a_step_is_given_up_once_the_kernel_reports_an_oops_after_that_steps_mark(
    tmp_path: Path,
) -> None:
    machine = WedgedAfterStep(tmp_path / "console.log", TIMER_OOPS)
    guest = Guest(machine, lambda: "4273cb13")  # type: ignore[arg-type]
    assert guest.step("rmmod", "rmmod tickgone", 30).ok
    started = time.monotonic()
    with pytest.raises(CommandInterrupted):
        guest.root("sh probe.sh tickgone", timeout=60)
    assert time.monotonic() - started < 5 and machine.interrupted.is_set()


def test_a_command_before_any_step_or_after_a_quiet_one_runs_to_its_timeout(tmp_path: Path) -> None:
    machine = WedgedAfterStep(tmp_path / "console.log", ["[ 13.0] tickgone: tick"])
    guest = Guest(machine, lambda: "0000")  # type: ignore[arg-type]
    with pytest.raises(CommandTimedOut):
        guest.root("sh probe.sh tickgone", timeout=0.3)
    guest.step("rmmod", "rmmod tickgone", 30)
    with pytest.raises(CommandTimedOut):
        guest.root("sh probe.sh tickgone", timeout=0.3)
    assert not machine.interrupted.is_set()


def test_only_reports_after_the_steps_mark_and_of_a_stuck_guest_count() -> None:
    before = "\n".join(HUNG_TASK) + "\n[ 300.0] vexfs-vmtest: rmmod 1\n"
    assert stuck_watch.stuck_reports(before, "vexfs-vmtest: rmmod 1") == []
    assert stuck_watch.stuck_reports(before + "\n".join(WARNING), "vexfs-vmtest: rmmod 1") == []
    assert [p.kind for p in stuck_watch.stuck_reports(before + "\n".join(HUNG_TASK), "vexfs-vmtest: rmmod 1")] == [
        "hung_task"
    ]
    assert stuck_watch.stuck_reports("\n".join(HUNG_TASK), "a mark the console never showed") == []
    after_unload = before + "\n".join(TIMER_OOPS)
    assert [p.kind for p in stuck_watch.stuck_reports(after_unload, "vexfs-vmtest: rmmod 1")] == ["oops", "panic"]


@pytest.mark.parametrize("log", ["list_del_corruption.log", "list_add_corruption_7.x.log", "gpf.log", "oops_6.12.log"])
def test_a_report_of_a_task_the_kernel_ended_counts_as_stuck(log: str) -> None:
    """A BUG of a corrupted list, a general protection fault, an oops: die() ended the task, which never returns."""
    text = "[ 20.0] vexfs-vmtest: use 1\n" + LOGS.joinpath(log).read_text()
    assert stuck_watch.stuck_reports(text, "vexfs-vmtest: use 1")


def test_reports_after_which_the_task_goes_on_do_not_count_as_stuck() -> None:
    for log in ("kasan_use_after_free_7.x-debug.log", "slab_poison.log", "warning_7.x.log"):
        text = "[ 20.0] vexfs-vmtest: use 1\n" + LOGS.joinpath(log).read_text()
        assert stuck_watch.stuck_reports(text, "vexfs-vmtest: use 1") == [], log


def test_the_tail_reads_only_what_the_console_gained(tmp_path: Path) -> None:
    console = tmp_path / "console.log"
    console.write_text("old\n")
    tail = stuck_watch.ConsoleTail(console, console.stat().st_size)
    assert tail.read() == ""
    with open(console, "a") as out:
        out.write("new\n")
    assert tail.read() == "new\n" and tail.read() == "new\n"
    assert stuck_watch.ConsoleTail(tmp_path / "none", 0).read() == ""
