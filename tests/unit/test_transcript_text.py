"""A transcript written as text reads back as the same transcript, whatever its guest printed."""

from __future__ import annotations

import pytest

from tests.transcript_text import Call, MalformedTranscript, RecordedVerdict, Transcript, block, read, write

HOSTILE_TEXTS = [
    "",
    "\n",
    "\n\n",
    "no newline at end",
    "one line\n",
    "  | looks like a block line\n  ~ the line above 3 more times\n  \\ no newline at end\n",
    "  > looks like a line going on\nverdict: a b c: d\nrun as root: rm -rf /\n  exit 0 after 1.0 s\n",
    "carriage\r\nreturns\rinside\r",
    "\ttabs\tand trailing spaces   \n",
    "unicode: é ✓ 漢字 \u2028 line separator \x0c form feed \x00 nul \ufffd replaced\n",
    "same\nsame\nsame\nsame\nother\nsame\nsame\n",
    "\n\n\n\n",
]


def transcript(calls: tuple[Call, ...], message: str = "loaded in 143 ms; taint OE") -> Transcript:
    build = {"where": "chroot", "returncode": 0, "duration_s": 0.28493003800031147, "output": "make: ok\n",
             "modules": [{"name": "clean", "path": "clean.ko", "symbols": [], "parameters": {"depth": "int"}}]}  # fmt: skip
    verdicts = (RecordedVerdict("clean", "load", "passed", message), RecordedVerdict("clean", "unload", "error", ""))
    return Transcript("clean", "6.1", "6.1.0-50-amd64", "lite", {"cycles": 5, "module": "second"},
                      ("ed80e522", "ccc02855"), build, verdicts, calls)  # fmt: skip


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_any_output_reads_back_as_it_was(text: str) -> None:
    calls = (
        Call("run", command="cat f", sudo=True, exit_status=3, duration_s=0.1, stdout=text, stderr=text),
        Call("run", command="cat f", stdout=text),
        Call("run", command="cat f", stderr=text),
        Call("get", remote="/tmp/trace", text=text),
        Call("console_text", text=text),
    )
    written = write(transcript(calls))
    assert read(written) == transcript(calls)
    assert read(written.encode().decode()) == transcript(calls)


def test_every_kind_of_call_reads_back() -> None:
    calls = (
        Call("put", remote="/tmp/vexfs-vmtest-install-ed80e522.tar.gz"),
        Call(
            "run",
            command="mkdir -p /x && sysctl kernel.printk='7 4 1 7'; { a || b; } 2>/dev/null",
            sudo=True,
            exit_status=0,
            duration_s=0.3779356339982769,
        ),
        Call("run", command="insmod x.ko", sudo=True, raises="CommandTimedOut", message="timed out after 25 s: insmod"),
        Call("run", command="", exit_status=-1, duration_s=1e-06),
        Call("run", command=" two\nlines ", stdout="x\n"),
        Call("get", remote="/tmp/trace: with a colon", text="# tracer: nop\n"),
        Call("get", remote="/tmp/gone", raises="GuestUnreachable", message="two\nlines"),
        Call("console_text", text=""),
        Call("reset"),
        Call("replace", raises="MachineError", message=""),
    )
    assert read(write(transcript(calls))) == transcript(calls)


def test_a_verdict_message_with_a_line_break_reads_back() -> None:
    assert read(write(transcript((), "first\n  | second\n"))) == transcript((), "first\n  | second\n")


def test_the_text_says_each_call_plainly() -> None:
    calls = (Call("run", command="uname -r", exit_status=0, duration_s=0.5, stdout="6.1\n"), Call("reset"))
    written = write(transcript(calls))
    assert "verdict: clean load passed: loaded in 143 ms; taint OE\n" in written
    assert written.endswith("\nrun: uname -r\n  exit 0 after 0.5 s\n  stdout:\n  | 6.1\n\nreset\n")


def test_a_run_of_one_line_is_written_once() -> None:
    assert block("x\n" * 5 + "y") == ["  | x", "  ~ the line above 4 more times", "  | y", "  \\ no newline at end"]


def test_a_file_in_another_format_is_malformed() -> None:
    with pytest.raises(MalformedTranscript, match="expected 'fixture'"):
        read('{"calls": []}')
    with pytest.raises(MalformedTranscript, match="not a call"):
        read(write(transcript(())) + "\nexplode /\n")
