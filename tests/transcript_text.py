"""A guest transcript as a record, and its plain-text form: readable in a diff, read back exactly.

    fixture: clean
    kernel line: 6.1
    kernel release: 6.1.0-50-amd64
    debug: lite
    options: {"cycles": 5}
    tokens: ed80e522 ccc02855
    build: {"where": "chroot", "returncode": 0, "duration_s": 0.28}
      output:
      | make: Entering directory '/usr/src/linux-headers-6.1.0-50-amd64'
      module: {"name": "clean", "path": "clean.ko", ...}
    verdict: clean load passed: loaded in 143 ms; taint OE

    put /tmp/vexfs-vmtest-install-ed80e522.tar.gz

    run as root: cat /proc/sys/kernel/tainted
      exit 0 after 0.064 s
      stdout:
      | 0

Header fields come first, the verdicts the real run reached next, then every call in order: `run`
(`run as root` with sudo) with its command, `put` and `get` with the guest's path, `console text`,
`reset`, `replace`. A run's answer is its exit status and duration and its non-empty stdout and
stderr; a call that raised says `raises <MachineError class>: <message>`. Text is a block of `  | `
lines (an empty line is `  |`); `  ~ the line above N more times` repeats the line before it, and
`  \\ no newline at end` ends a text whose last line has none, as in a diff. A one-line value that
holds a line break goes on with `  > ` lines. Nothing in a block can be read as structure, and the
file is split on "\\n" alone, so carriage returns, tabs and any other character stay as they were.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from typing import Any

BLOCK = "  |"
REPEAT = re.compile(r"  ~ the line above (\d+) more times")
NO_NEWLINE = "  \\ no newline at end"
GOES_ON = "  >"
EXIT = re.compile(r"  exit (-?\d+) after (\S+) s")
RUN = re.compile(r"run( as root)?:(?: (.*))?", re.DOTALL)
RAISES = re.compile(r"  raises (\w+):(?: (.*))?", re.DOTALL)
VERDICT = re.compile(r"verdict: (\S+) (\S+) (\S+?):(?: (.*))?", re.DOTALL)
BARE_CALLS = ("console_text", "reset", "replace")


@dataclass(frozen=True)
class Call:
    """One call the tests made on the guest, with the guest's answer or the error it raised."""

    op: str  # run, put, get, console_text, reset, replace
    command: str = ""  # run
    sudo: bool = False  # run
    remote: str = ""  # put, get: the guest's path
    exit_status: int = 0  # run
    duration_s: float = 0.0  # run
    stdout: str = ""  # run
    stderr: str = ""  # run
    text: str = ""  # get: the file's content; console_text: the console
    raises: str = ""  # the MachineError class the call raised, "" when it answered
    message: str = ""  # the error's message


@dataclass(frozen=True)
class RecordedVerdict:
    subject: str
    test: str
    status: str
    message: str


@dataclass(frozen=True)
class Transcript:
    """A domain run on a real guest: what it was, what it concluded, and every call it made."""

    fixture: str
    line: str
    kernel_release: str
    debug: str
    options: dict[str, Any]
    tokens: tuple[str, ...]
    build: dict[str, Any]  # a BuildOutcome as JSON, each module's path its file name
    verdicts: tuple[RecordedVerdict, ...]
    calls: tuple[Call, ...]


class MalformedTranscript(ValueError):
    """A transcript file that is not in this format."""


def block(text: str) -> list[str]:
    """Text as `  | ` lines, runs of a line said once, a missing last newline said."""
    if not text:
        return []
    lines = text.split("\n")
    ends_with_newline = lines[-1] == ""
    if ends_with_newline:
        lines.pop()
    written = []
    for line, run in itertools.groupby(lines):
        count = len(list(run))
        written.append(f"{BLOCK} {line}" if line else BLOCK)
        if count > 2:
            written.append(f"  ~ the line above {count - 1} more times")
        else:
            written += written[-1:] * (count - 1)
    return written if ends_with_newline else [*written, NO_NEWLINE]


def one_line(line: str) -> list[str]:
    """A line whose value may hold line breaks: the value goes on with `  > ` lines."""
    first, *rest = line.split("\n")
    return [first, *(f"{GOES_ON} {more}" if more else GOES_ON for more in rest)]


def _call_lines(call: Call) -> list[str]:
    if call.op == "run":
        lines = one_line(f"{'run as root' if call.sudo else 'run'}: {call.command}")
    elif call.op in ("put", "get"):
        lines = one_line(f"{call.op} {call.remote}")
    else:
        lines = [call.op.replace("_", " ")]
    if call.raises:
        return lines + one_line(f"  raises {call.raises}: {call.message}")
    if call.op == "run":
        lines.append(f"  exit {call.exit_status} after {call.duration_s!r} s")
        for name, text in (("stdout", call.stdout), ("stderr", call.stderr)):
            lines += [f"  {name}:", *block(text)] if text else []
    return lines + block(call.text)


def _word(value: str, what: str) -> str:
    if not value or any(space in value for space in " \n"):
        raise ValueError(f"a transcript's {what} is one word, not {value!r}")
    return value


def write(transcript: Transcript) -> str:
    """The transcript as text; read(write(t)) == t."""
    build = {key: value for key, value in transcript.build.items() if key not in ("output", "modules")}
    lines = [
        *one_line(f"fixture: {transcript.fixture}"),
        *one_line(f"kernel line: {transcript.line}"),
        *one_line(f"kernel release: {transcript.kernel_release}"),
        *one_line(f"debug: {transcript.debug}"),
        f"options: {json.dumps(transcript.options)}",
        f"tokens: {' '.join(_word(token, 'token') for token in transcript.tokens)}",
        f"build: {json.dumps(build)}",
        "  output:",
        *block(transcript.build["output"]),
        *(f"  module: {json.dumps(module)}" for module in transcript.build["modules"]),
    ]
    for verdict in transcript.verdicts:
        words = " ".join(_word(value, "verdict's subject, test or status")
                         for value in (verdict.subject, verdict.test, verdict.status))  # fmt: skip
        lines += one_line(f"verdict: {words}: {verdict.message}")
    for call in transcript.calls:
        lines += ["", *_call_lines(call)]
    return "\n".join(lines) + "\n"


class _Lines:
    """The file's lines to read in order: `  > ` lines joined to the line they go on, blank lines dropped."""

    def __init__(self, text: str) -> None:
        joined: list[str] = []
        for line in text.split("\n"):
            if line == GOES_ON or line.startswith(GOES_ON + " "):
                joined[-1] += "\n" + line[len(GOES_ON) + 1 :]
            elif line:
                joined.append(line)
        self.lines = joined
        self.at = 0

    def peek(self) -> str:
        return self.lines[self.at] if self.at < len(self.lines) else ""

    def next(self) -> str:
        line = self.peek()
        self.at += 1
        return line

    def value(self, key: str) -> str:
        line = self.next()
        if not line.startswith(f"{key}:"):
            raise MalformedTranscript(f"line {self.at}: expected {key!r}, found {line[:80]!r}")
        return line[len(key) + 2 :]

    def block(self) -> str:
        lines: list[str] = []
        while (line := self.peek()) == BLOCK or line.startswith(BLOCK + " ") or REPEAT.fullmatch(line):
            self.next()
            repeat = REPEAT.fullmatch(line)
            lines += lines[-1:] * int(repeat[1]) if repeat else [line[len(BLOCK) + 1 :]]
        text = "".join(line + "\n" for line in lines)
        if self.peek() == NO_NEWLINE:
            self.next()
            return text[:-1]
        return text

    def named_block(self, name: str) -> str:
        if self.peek() != f"  {name}:":
            return ""
        self.next()
        return self.block()


def _read_call(lines: _Lines) -> Call:
    line = lines.next()
    fields: dict[str, Any]
    if run := RUN.fullmatch(line):
        fields = {"op": "run", "sudo": bool(run[1]), "command": run[2] or ""}
    elif line.startswith(("put ", "get ")):
        fields = {"op": line[:3], "remote": line[4:]}
    elif line.replace(" ", "_") in BARE_CALLS:
        fields = {"op": line.replace(" ", "_")}
    else:
        raise MalformedTranscript(f"line {lines.at}: not a call: {line[:80]!r}")
    if raises := RAISES.fullmatch(lines.peek()):
        lines.next()
        return Call(**fields, raises=raises[1], message=raises[2] or "")
    if fields["op"] == "run":
        answer = EXIT.fullmatch(lines.next())
        if not answer:
            raise MalformedTranscript(f"line {lines.at}: a run's answer is `exit N after S s`")
        fields.update(exit_status=int(answer[1]), duration_s=float(answer[2]))
        fields.update(stdout=lines.named_block("stdout"), stderr=lines.named_block("stderr"))
    return Call(**fields, text=lines.block())


def read(text: str) -> Transcript:
    """The transcript written as text by `write` (MalformedTranscript when it is not one)."""
    lines = _Lines(text)
    header = {key: lines.value(key) for key in ("fixture", "kernel line", "kernel release", "debug", "options")}
    tokens = tuple(lines.value("tokens").split())
    build = json.loads(lines.value("build"))
    build["output"] = lines.named_block("output")
    build["modules"] = []
    while lines.peek().startswith("  module: "):
        build["modules"].append(json.loads(lines.next().removeprefix("  module: ")))
    verdicts = []
    while verdict := VERDICT.fullmatch(lines.peek()):
        lines.next()
        verdicts.append(RecordedVerdict(verdict[1], verdict[2], verdict[3], verdict[4] or ""))
    calls = []
    while lines.peek():
        calls.append(_read_call(lines))
    return Transcript(
        header["fixture"], header["kernel line"], header["kernel release"], header["debug"],
        json.loads(header["options"]), tokens, build, tuple(verdicts), tuple(calls),
    )  # fmt: skip
