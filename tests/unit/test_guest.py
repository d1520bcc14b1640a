"""The guest-step helper: marks, timeouts and kernel problems turned into verdicts in one place."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.unit.scripted import LOG_READ, Answer, ScriptedMachine
from toolkit.domains.base import Finding
from toolkit.domains.guest import Guest, script_command
from toolkit.results.records import Status

HUNG_TASK = ("[  30.0] INFO: task insmod:99 blocked for more than 10 seconds.", "[  30.1] Call Trace:")


def _guest(rules: dict[str, Answer | list[Answer]], console: str = "") -> tuple[Guest, ScriptedMachine]:
    machine = ScriptedMachine(rules, console=console)
    tokens = iter(f"{n:08x}" for n in range(100))
    return Guest(machine, lambda: next(tokens)), machine  # type: ignore[arg-type]


def test_a_step_marks_the_kernel_log_and_reads_only_what_follows_in_the_same_command() -> None:
    guest, machine = _guest({"insmod": Answer("done\n", log=("[ 1.0] mod: hello",))})
    step = guest.step("insmod", "insmod m.ko", 10)
    assert machine.commands == ["echo 'vexfs-vmtest: insmod 00000000' > /dev/kmsg; insmod m.ko"]
    assert step.ok and step.result.stdout == "done\n"
    assert step.log == ("[ 1.0] mod: hello",) and step.problems == []


def test_a_step_whose_command_replaced_the_shell_has_its_log_read_by_a_call_of_its_own() -> None:
    guest, machine = _guest({"exec ": Answer("done\n", log=("[ 1.0] mod: hello",))})
    step = guest.step("insmod", "exec insmod m.ko", 10)
    assert machine.commands[1] == f"{LOG_READ} 'vexfs-vmtest: insmod 00000000'"
    assert step.result.stdout == "done\n" and step.log == ("[ 1.0] mod: hello",)


def test_a_step_that_hangs_is_failed_with_the_kernels_report_of_the_hang() -> None:
    guest, _ = _guest({"insmod": Answer(timeout=True, log=HUNG_TASK)})
    with pytest.raises(Finding) as raised:
        guest.step("insmod", "insmod m.ko", 25, load_ms=1)
    verdict = raised.value.verdict
    assert verdict.status is Status.FAILED and verdict.guest_dirty
    assert verdict.message == "insmod did not return within 25 s: INFO: task hung"
    assert verdict.metrics == {"problems": ["hung_task"], "load_ms": 1}


def test_when_the_guest_stops_answering_the_console_is_read_instead() -> None:
    console = (
        "[ 1.0] vexfs-vmtest: rmmod 00000000\n[ 2.0] watchdog: BUG: soft lockup - CPU#0 stuck for 23s! [rmmod:7]\n"
    )
    guest, _ = _guest({"rmmod": Answer(timeout=True), LOG_READ: Answer(unreachable=True)}, console=console)
    with pytest.raises(Finding) as raised:
        guest.step("rmmod", "rmmod m", 25)
    assert "rmmod did not return within 25 s: BUG: soft lockup" in raised.value.verdict.message


def test_a_guest_gone_silent_without_a_word_is_an_error_saying_for_how_long(tmp_path: Path) -> None:
    guest, machine = _guest({"rmmod": Answer(timeout=True), LOG_READ: Answer(unreachable=True)})
    machine.console_log = tmp_path / "console.log"
    machine.console_log.write_text("[ 1.0] vexfs-vmtest: rmmod 00000000\n")
    os.utime(machine.console_log, (time.time() - 42, time.time() - 42))
    with pytest.raises(Finding) as raised:
        guest.step("rmmod", "rmmod m", 25)
    verdict = raised.value.verdict
    assert verdict.status is Status.ERROR and verdict.guest_dirty
    assert verdict.message == (
        "rmmod did not return within 25 s and the guest stopped answering: no output from the guest for 42 s"
    )


def test_a_hang_the_kernel_did_not_report_says_so_with_console_evidence() -> None:
    guest, _ = _guest({"sleep": Answer(timeout=True)}, console="[ 1.0] vexfs-vmtest: wait 00000000\n")
    with pytest.raises(Finding) as raised:
        guest.step("wait", "sleep 99", 3)
    assert raised.value.verdict.message == "wait did not return within 3 s and the kernel reported nothing"


def test_judging_later_lets_a_test_name_what_logged_the_problem() -> None:
    guest, _ = _guest({"cycles": Answer("cycles=2\n", log=HUNG_TASK)})
    step = guest.step("cycles", "sh cycles.sh", 60, judge=False)
    assert step.values() == {"cycles": "2"}
    with pytest.raises(Finding, match="^cycle 2 logged a problem: INFO: task hung"):
        guest.judge(step, "cycle 2")


def test_script_commands_pass_values_through_literally() -> None:
    command = script_command("load.sh", "name=a b", "x=$(reboot);", env={"KO": "/tmp/it's.ko"})
    assert command == "KO='/tmp/it'\"'\"'s.ko' sh /root/vexfs-vmtest/scripts/load.sh 'name=a b' 'x=$(reboot);'"


def test_install_sends_files_in_one_transfer_and_unpacks_them(tmp_path: Path) -> None:
    (tmp_path / "a.sh").write_text("echo a\n")
    guest, machine = _guest({})
    guest.install({"scripts/a.sh": tmp_path / "a.sh"}, then="true")
    assert machine.commands[0] == "PUT /tmp/vexfs-vmtest-install-00000000.tar.gz"
    assert machine.commands[1].startswith("mkdir -p /root/vexfs-vmtest && tar xzf /tmp/vexfs-vmtest-install-00000000")


def test_a_step_that_logged_more_than_the_kernels_ring_holds_reads_its_log_from_the_console(tmp_path: Path) -> None:
    """A hundred-line report twenty times over overwrites the step's mark in the ring: kmsg gives nothing back,
    the console has it all."""
    console = tmp_path / "console.log"
    console.write_text("[ 1.0] booted\n")
    report = "[ 9.0] BUG buggydev_note (Tainted: G OE): Poison overwritten\n" + "[ 9.1] frame\n" * 400

    class Flooding(ScriptedMachine):
        def _run(self, command: str, timeout: float):  # noqa: ANN202
            marker = command.split("echo ", 1)[1].split(" > /dev/kmsg")[0].strip("'")
            console.write_text(console.read_text() + f"[ 8.0] {marker}\n" + report)
            self.console = console.read_text()
            return super()._run(command, timeout)

    machine = Flooding(console_log=console)
    step = Guest(machine).step("exercising", "true", 10, judge=False)
    assert step.problems and step.problems[0].line.endswith("Poison overwritten")


def test_the_console_before_each_rollback_is_kept_numbered_and_nothing_when_there_is_no_file(tmp_path: Path) -> None:
    guest, machine = _guest({})
    guest.keep_console(tmp_path / "rolled-back")
    assert not (tmp_path / "rolled-back").exists()
    machine.console_log = tmp_path / "console.log"
    for boot in ("first boot, then an oops", "second boot, then a hang"):
        machine.console_log.write_text(boot)
        guest.keep_console(tmp_path / "rolled-back")
    kept = sorted((tmp_path / "rolled-back").iterdir())
    assert [path.name for path in kept] == ["scripted-console-1.log", "scripted-console-2.log"]
    assert [path.read_text() for path in kept] == ["first boot, then an oops", "second boot, then a hang"]
