"""Every recorded transcript replayed through the kernel_module tests reaches the verdicts the real run reached.

The transcripts are real guest runs of the fixture modules on several kernel lines (recorded by
`python -m tests.record_transcripts`); each carries the verdicts of its run as its header.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from tests import transcripts
from tests.record_transcripts import source_of
from toolkit.domains import kernel_module, options
from toolkit.domains.base import Target, run_cases
from toolkit.domains.guest import Guest
from toolkit.domains.module.options import ModuleOptions
from toolkit.progress import Progress

FILES = sorted(transcripts.TRANSCRIPTS.glob("*/*.json.gz"))


def replay(transcript: dict[str, Any], work_dir: Path) -> list[dict[str, str]]:
    """The fixture's verdicts, reached again from the recorded answers alone."""
    machine = transcripts.ReplayMachine(transcript["calls"])
    tokens = iter(transcript["tokens"])
    module_dir = source_of(transcript["fixture"])  # its sources: the ioctl commands they define
    chosen = options.parse(ModuleOptions, {**transcript["options"], "module_dir": module_dir})
    build = transcripts.build_from_json(transcript["build"], work_dir)
    progress = Progress("replay", io.StringIO())
    debug = transcript.get("debug", "off")
    target = Target(machine, transcript["kernel_release"], work_dir, progress, debug)  # type: ignore[arg-type]
    verdicts = []
    for subject in kernel_module.built_subjects(target, chosen, build, Guest(machine, lambda: next(tokens))):  # type: ignore[arg-type]
        for test in run_cases(kernel_module.DOMAIN.cases, subject, progress):
            verdicts.append({"subject": subject.name, "test": test.name, "status": test.status.value,
                             "message": test.message})  # fmt: skip
    assert machine.unanswered == 0, f"{machine.unanswered} recorded calls were never asked for"
    return verdicts


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name.split('.')[0]}" for p in FILES])
def test_replayed_transcript_reaches_the_recorded_verdicts(path: Path, tmp_path: Path) -> None:
    transcript = transcripts.load(path)
    assert replay(transcript, tmp_path) == transcript["expected"]


def test_transcripts_cover_every_fixture_on_two_kernel_lines() -> None:
    from tests.record_transcripts import FIXTURES

    lines = {path.parent.name for path in FILES}
    assert {"6.1", "7.x"} <= lines
    for line in ("6.1", "7.x"):
        assert sorted(p.name.split(".")[0] for p in FILES if p.parent.name == line) == sorted(FIXTURES)


def _verdicts(line: str, fixture: str) -> dict[str, dict[str, str]]:
    expected = transcripts.load(transcripts.TRANSCRIPTS / line / f"{fixture}.json.gz")["expected"]
    return {entry["test"]: entry for entry in expected}


@pytest.mark.parametrize("line", ["6.1", "7.x"])
def test_the_recorded_verdicts_are_the_ones_each_fixture_exists_for(line: str) -> None:
    clean, vexfs, taptest = _verdicts(line, "clean"), _verdicts(line, "vexfs"), _verdicts(line, "taptest")
    assert clean.pop("module_tests")["status"] == "skipped"  # it has no tests of its own
    assert {entry["status"] for entry in [*clean.values(), *vexfs.values(), *taptest.values()]} == {"passed"}
    assert vexfs["module_tests"]["message"].startswith("1 script; tests/smoke.sh exited 0")
    assert taptest["module_tests"]["message"].startswith("2 scripts, 7 TAP tests: 6 passed, 1 skipped")
    assert "walks of vexfs" in vexfs["concurrency"]["message"] and "files read" in vexfs["concurrency"]["message"]
    assert "registers filesystem vexfs" in vexfs["load"]["message"]
    assert _verdicts(line, "leaky")["memory_leak"]["message"].startswith("leaked 4 objects, 256 bytes: leaky_init+0x")
    assert "BUG: kernel NULL pointer dereference" in _verdicts(line, "oops_exit")["unload"]["message"]
    hang = _verdicts(line, "hang_init")
    assert "blocked for more than 10 seconds" in hang["load"]["message"]
    assert hang["load"]["message"].startswith("insmod did not return within 25 s: hung_task: INFO: task insmod")
    busy = _verdicts(line, "busy_init")["hang_detection"]  # 7.x preempts a busy init: no soft lockup, just slow
    late = ("soft lockup", "did not return", "insmod blocked for")
    assert busy["status"] == "failed" and any(words in busy["message"] for words in late)
    assert _verdicts(line, "init_fail")["load"]["message"].endswith("No such device (ENODEV)")
    assert "'undefined_thing' undeclared" in _verdicts(line, "compile_error")["build"]["message"]
    assert _verdicts(line, "pair")["build"]["subject"] == "second"


def test_a_test_asking_something_the_recording_did_not_is_a_mismatch() -> None:
    machine = transcripts.ReplayMachine([{"op": "run", "command": "uname -r", "sudo": False, "exit_status": 0,
                                          "stdout": "6.1\n", "stderr": "", "duration_s": 0.1}])  # fmt: skip
    with pytest.raises(transcripts.TranscriptMismatch, match="the recording has run"):
        machine.run("uname -a", timeout=5)
    with pytest.raises(transcripts.TranscriptMismatch, match="past the end"):
        machine.reset()
