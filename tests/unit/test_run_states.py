"""Where a run stands (running, finished, interrupted, abandoned) and that every planned test ends with a verdict."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from toolkit import streams
from toolkit.results import reports, schema, store
from toolkit.results.records import PlannedRun, RunRecord, RunState, Status, SubjectInfo, SubjectResults, TestRecord

LATER = "2026-12-06T12:05:00+00:00"
SUBJECT = SubjectInfo("module", "vexfs", "/src/vexfs")
PLAN = (PlannedRun("6.1", "kernel_module", "qemu", SUBJECT, ("build", "load", "unload")),
        PlannedRun("6.12", "kernel_module", "qemu", SUBJECT, ("build", "load", "unload")))  # fmt: skip


def _partway(run_id: str = "20261206-120000-abcd") -> RunRecord:
    """A run saved after its first two tests on 6.1, nothing yet on 6.12."""
    tests = (TestRecord("build", Status.PASSED, 1.0, "built"), TestRecord("load", Status.PASSED, 0.5, "loaded"))
    run = SubjectResults("6.1.0-50-amd64", "6.1", "qemu", "tcg", SUBJECT, "kernel_module", tests)
    return RunRecord(run_id, "2026-12-06T12:00:00+00:00", "2026-12-06T12:00:09+00:00", "0.1.0", {}, (run,),
                     RunState.RUNNING, PLAN)  # fmt: skip


def test_a_run_in_progress_is_no_pass_and_says_how_far_it_got() -> None:
    record = _partway()
    assert record.summary()["failed"] == 0 and record.exit_status() == 1
    assert record.planned_tests() == 6
    assert "2 passed, 0 failed, 0 error, 0 skipped (run 20261206-120000-abcd, still running: no verdict yet; " \
           "2 of 6 planned tests)" in reports.table(record)  # fmt: skip
    assert "(running)" in reports.html(record, lambda path: False)
    assert reports.overview(record)["state"] == "running" and reports.overview(record)["exit_status"] == 1


def test_an_ended_run_has_a_verdict_for_every_planned_test() -> None:
    ended = _partway().ended(RunState.INTERRUPTED, "not run: the run was interrupted by SIGHUP", LATER)
    verdicts = {(run.kernel_line, test.name): (test.status, test.message) for run in ended.runs for test in run.tests}
    assert len(verdicts) == ended.planned_tests() == 6
    assert verdicts[("6.1", "build")] == (Status.PASSED, "built")
    assert verdicts[("6.1", "unload")] == (Status.ERROR, "not run: the run was interrupted by SIGHUP")
    assert verdicts[("6.12", "build")] == (Status.ERROR, "not run: the run was interrupted by SIGHUP")
    assert ended.interrupted and ended.exit_status() == 1 and ended.finished == LATER
    assert schema.problems(json.loads(json.dumps(ended.to_dict()))) == []
    assert RunRecord.from_dict(ended.to_dict()) == ended


def test_every_subject_a_line_found_gets_every_planned_test() -> None:
    record = _partway()
    other = SubjectResults("6.1.0-50-amd64", "6.1", "qemu", "tcg", dataclasses.replace(SUBJECT, name="second"),
                      "kernel_module", (TestRecord("build", Status.PASSED, 1.0, "built"),))  # fmt: skip
    ended = dataclasses.replace(record, runs=(*record.runs, other)).ended(RunState.FINISHED, "not run: lost", "t")
    assert ended.planned_tests() == 9 and sum(len(run.tests) for run in ended.runs) == 9


def test_files_from_before_states_read_as_finished_or_interrupted() -> None:
    data = _partway().to_dict()
    for key in ("state", "plan"):
        del data[key]
    assert RunRecord.from_dict({**data, "interrupted": False}).state is RunState.FINISHED
    assert RunRecord.from_dict({**data, "interrupted": True}).state is RunState.INTERRUPTED


def test_a_running_run_whose_folder_nobody_holds_is_read_as_abandoned(tmp_path: Path) -> None:
    store.write(tmp_path, _partway())
    record = store.load(tmp_path)
    assert record.state is RunState.ABANDONED and record.exit_status() == 1
    assert sum(len(run.tests) for run in record.runs) == 6
    assert "abandoned: its process ended without finishing it" in reports.table(record)


def test_a_running_run_whose_folder_is_held_is_read_as_running(tmp_path: Path) -> None:
    path = store.write(tmp_path, _partway())
    holder = subprocess.Popen(["flock", str(path), "sleep", "30"])
    try:
        time.sleep(0.5)
        assert store.load(tmp_path).state is RunState.RUNNING
    finally:
        holder.kill()


def test_output_nobody_reads_any_more_is_dropped_not_raised() -> None:
    reader, writer = os.pipe()
    os.close(reader)
    stream = streams.Forgiving(os.fdopen(writer, "w"))
    assert stream.write("a line\n") == 7
    stream.flush()
    print("more", file=stream, flush=True)
    assert stream.lost


def test_a_closed_stderr_pipe_does_not_end_the_program(tmp_path: Path) -> None:
    program = "from toolkit import streams\nstreams.forgive_output()\nimport sys\n" \
              "for n in range(3):\n    print('line', n, file=sys.stderr, flush=True)\nprint('done')"  # fmt: skip
    done = subprocess.run(f"{sys.executable} -c \"{program}\" 2>&1 >{tmp_path / 'out'} | head -c1 >/dev/null",
                          shell=True, cwd=Path(__file__).parents[2])  # fmt: skip
    assert done.returncode == 0 and (tmp_path / "out").read_text() == "done\n"


def test_the_files_of_an_abandoned_run_are_rewritten_as_abandoned_by_the_next_command_that_cleans(
    tmp_path: Path,
) -> None:
    store.write(tmp_path, _partway())
    assert store.settle_abandoned(tmp_path) == [
        "run 20261206-120000-abcd, left running by a process now gone, marked abandoned"
    ]
    folder = tmp_path / "20261206-120000-abcd"
    assert json.loads((folder / "results.json").read_text())["state"] == "abandoned"
    assert "abandoned: its process ended" in (folder / "summary.txt").read_text()
    assert store.settle_abandoned(tmp_path) == []
