"""Every recorded transcript replayed through the kernel_module tests reaches the verdicts the real run reached.

The transcripts are real guest runs of the fixture modules on several kernel lines (recorded by
`python -m tests.record_transcripts`); each carries the verdicts of its run near its top. Replay
matches a call by what it means, so quoting a command otherwise needs no new recording.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests import transcripts
from tests.record_transcripts import source_of
from tests.transcript_text import Call, RecordedVerdict, Transcript
from toolkit.domains import options
from toolkit.domains.base import Target, every_record
from toolkit.domains.guest import Guest
from toolkit.domains.kernel_module import domain as kernel_module
from toolkit.domains.module.options import ModuleOptions
from toolkit.domains.module.subject import ModuleUnderTest
from toolkit.progress import Progress

FILES = sorted(transcripts.TRANSCRIPTS.glob("*/*.txt"))


def replay(transcript: Transcript, work_dir: Path) -> list[RecordedVerdict]:
    """The fixture's verdicts, reached again from the recorded answers alone."""
    machine = transcripts.ReplayMachine(transcript.calls)
    tokens = iter(transcript.tokens)
    module_dir = source_of(transcript.fixture)  # its sources: the ioctl commands they define
    chosen = options.parse(ModuleOptions, {**transcript.options, "module_dir": module_dir})
    build = transcripts.build_from_json(transcript.build, work_dir)
    progress = Progress("replay", io.StringIO())
    target = Target(machine, transcript.kernel_release, work_dir, progress, transcript.debug)  # type: ignore[arg-type]
    verdicts = []
    for subject in kernel_module.built_subjects(target, chosen, build, Guest(machine, lambda: next(tokens))):  # type: ignore[arg-type]
        for test in every_record(kernel_module.DOMAIN.cases, subject, progress):
            verdicts.append(RecordedVerdict(subject.name, test.name, test.status.value, test.message))
    assert machine.unanswered == 0, f"{machine.unanswered} recorded calls were never asked for"
    return verdicts


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
def test_replayed_transcript_reaches_the_recorded_verdicts(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    transcript = transcripts.load(path)
    # A replay holds no .ko (a placeholder stands in), so no places in its source: test_symbols.py covers them
    monkeypatch.setattr(ModuleUnderTest, "symbolize", lambda self, verdict: verdict)
    assert replay(transcript, tmp_path) == list(transcript.verdicts)


def test_transcripts_cover_every_fixture_on_two_kernel_lines() -> None:
    from tests.record_transcripts import FIXTURES

    lines = {path.parent.name for path in FILES}
    assert {"6.1", "7.x"} <= lines
    for line in ("6.1", "7.x"):
        assert sorted(p.stem for p in FILES if p.parent.name == line) == sorted(FIXTURES)


def _verdicts(line: str, fixture: str) -> dict[str, RecordedVerdict]:
    return {
        verdict.test: verdict
        for verdict in transcripts.load(transcripts.TRANSCRIPTS / line / f"{fixture}.txt").verdicts
    }


@pytest.mark.parametrize("line", ["6.1", "7.x"])
def test_the_recorded_verdicts_are_the_ones_each_fixture_exists_for(line: str) -> None:
    clean, vexfs, taptest = _verdicts(line, "clean"), _verdicts(line, "vexfs"), _verdicts(line, "taptest")
    assert clean.pop("module_tests").status == "skipped"  # it has no tests of its own
    assert {verdict.status for verdict in [*clean.values(), *vexfs.values(), *taptest.values()]} == {"passed"}
    assert vexfs["module_tests"].message.startswith("1 script; tests/smoke.sh exited 0")
    assert taptest["module_tests"].message.startswith("2 scripts, 7 TAP tests: 6 passed, 1 skipped")
    assert "walks of vexfs" in vexfs["concurrency"].message and "files read" in vexfs["concurrency"].message
    assert "registers filesystem vexfs" in vexfs["load"].message
    assert _verdicts(line, "leaky")["memory_leak"].message.startswith("leaked 4 objects, 256 bytes: leaky_init+0x")
    assert (
        "BUG: unable to handle kernel NULL pointer dereference in oops_exit_exit"
        in _verdicts(line, "oops_exit")["unload"].message
    )
    same = "same report as unload (BUG: unable to handle kernel NULL pointer dereference in oops_exit_exit): "
    assert _verdicts(line, "oops_exit")["hang_detection"].message.startswith(same)  # one fault, one title
    hang = _verdicts(line, "hang_init")
    assert hang["load"].message.startswith("insmod did not return within 25 s: INFO: task hung in hang_init_init")
    busy = _verdicts(line, "busy_init")["hang_detection"]  # 7.x preempts a busy init: no soft lockup, just slow
    late = ("soft lockup", "did not return", "insmod blocked for")
    assert busy.status == "failed" and any(words in busy.message for words in late)
    assert _verdicts(line, "init_fail")["load"].message.endswith("No such device (ENODEV)")
    assert "'undefined_thing' undeclared" in _verdicts(line, "compile_error")["build"].message
    assert _verdicts(line, "pair")["build"].subject == "second"


UNAME = Call("run", command="uname -r", sudo=False, exit_status=0, duration_s=0.1, stdout="6.1\n")


def test_a_test_asking_something_the_recording_did_not_is_a_mismatch_naming_both_calls_as_words() -> None:
    machine = transcripts.ReplayMachine([UNAME])
    with pytest.raises(transcripts.TranscriptMismatch) as mismatch:
        machine.run("uname -a", timeout=5)
    assert "the tests asked\n  run: ['uname', '-a']\nthe recording has\n  run: ['uname', '-r']" in str(mismatch.value)
    assert "re-record" in str(mismatch.value)
    with pytest.raises(transcripts.TranscriptMismatch, match="past the end"):
        machine.reset()


def test_a_command_quoted_otherwise_is_the_same_call() -> None:
    recorded = Call("run", command="echo 'a b' \"c\"; { x || y; } 2>/dev/null && z", sudo=True, stdout="a b c\n")
    machine = transcripts.ReplayMachine([recorded])
    result = machine.run("echo a\\ b c ;{ x||y ; } 2> /dev/null&&z", timeout=5, sudo=True)
    assert result.stdout == "a b c\n" and machine.unanswered == 0


@pytest.mark.parametrize(
    "asked",
    [
        "echo 'a b' d; y",  # another argument
        "echo a b c; y",  # one word split in two
        "echo 'a b' c && y",  # another operator
        "echo 'a b' c y",  # no operator: y is echoed
    ],
)
def test_a_command_meaning_something_else_is_a_mismatch(asked: str) -> None:
    machine = transcripts.ReplayMachine([Call("run", command="echo 'a b' c; y", sudo=True)])
    with pytest.raises(transcripts.TranscriptMismatch):
        machine.run(asked, timeout=5, sudo=True)


def test_a_command_run_as_root_is_not_the_same_call_run_as_the_user() -> None:
    with pytest.raises(transcripts.TranscriptMismatch, match="run as root"):
        transcripts.ReplayMachine([Call("run", command="id -u", sudo=True)]).run("id -u", timeout=5)


def test_files_are_matched_by_their_guest_path() -> None:
    machine = transcripts.ReplayMachine([Call("put", remote="/tmp/a.tar.gz"), Call("get", remote="/tmp/trace")])
    machine.put(Path("/nonexistent"), "/tmp//a.tar.gz")
    with pytest.raises(transcripts.TranscriptMismatch, match="get /tmp/other"):
        machine.get("/tmp/other", Path("/nonexistent"))


def test_shell_words_undo_quoting_and_keep_operators_apart() -> None:
    assert transcripts.shell_words("a\\ b 'c d' \"e\"f;g&&h|i 2>/dev/null\nj") == (
        "a b", "c d", "ef", ";", "g", "&&", "h", "|", "i", "2", ">", "/dev/null", "\n", "j"
    )  # fmt: skip
    assert transcripts.shell_words("echo a#b") == ("echo", "a#b")


def test_a_kmem_trace_keeps_its_event_count_and_the_allocations_a_module_can_have_leaked() -> None:
    events = [
        "  insmod-1 [000] ..... 1.0: kmalloc: call_site=0xffffffffc0001000 ptr=ff01 bytes_req=64 bytes_alloc=64",
        "  insmod-1 [000] ..... 1.1: kmalloc: call_site=getname+0x1/0x2 ptr=ff02 bytes_req=8 bytes_alloc=8",
        "  insmod-1 [000] ..... 1.2: kmalloc: call_site=mine+0x1/0x2 [mine] ptr=ff03 bytes_req=8 bytes_alloc=8",
        "  insmod-1 [000] ..... 1.3: kmalloc: call_site=0xffffffffc0001010 ptr=ff04 bytes_req=8 bytes_alloc=8",
        "  insmod-1 [000] ..... 1.4: kfree: call_site=0xffffffffc0001020 ptr=ff04",
    ]
    trace = "# tracer: nop\n" + "\n".join(events) + "\n"
    trimmed = transcripts.trimmed_kmem_trace(trace)
    assert trimmed.splitlines() == ["# tracer: nop", events[0], transcripts.TRIMMED_EVENT, events[2],
                                    transcripts.TRIMMED_EVENT, transcripts.TRIMMED_EVENT]  # fmt: skip
    assert transcripts.trimmed_kmem_trace("no trace\n") == "no trace\n"
