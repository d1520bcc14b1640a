"""Guest transcripts: what a real machine answered during a domain run, recorded once, replayed in unit tests.

A transcript (`tests/unit/transcripts/<line>/<fixture>.txt`, plain text: tests/transcript_text.py)
holds the run's kernel line and release, the options, the module build's outcome, the unique
tokens the guest helper drew, the verdicts the real run reached, and every call made on the
machine with its answer (command -> exit status, output, duration; or the error it raised: a
timeout, a guest that stopped answering). Replaying it through the same tests must reach the same
verdicts, like syzkaller's testdata files that carry their expected titles. Replay matches a
call by what it means (a command as the shell's words, as root or not; a file by its path), so
a change of quoting alone needs no new recording. Only what the tests read is kept: the console
from the last mark, and of a kmem trace the events a module's leak can be made of.
"""

from __future__ import annotations

import dataclasses
import posixpath
import shlex
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.transcript_text import Call, Transcript, read, write
from toolkit.domains.module import elf, leaks
from toolkit.domains.module.build import BuildOutcome, BuiltModule
from toolkit.machines.protocol import CommandInterrupted, CommandResult, CommandTimedOut, GuestUnreachable, MachineError

TRANSCRIPTS = Path(__file__).parent / "unit" / "transcripts"
ERRORS: dict[str, type[MachineError]] = {
    "CommandTimedOut": CommandTimedOut,
    "CommandInterrupted": CommandInterrupted,
    "GuestUnreachable": GuestUnreachable,
    "MachineError": MachineError,
}
MARK = "vexfs-vmtest: "
CONSOLE_TAIL = 300
TRIMMED_EVENT = "  trimmed-0     [000] .....     0.000000: trimmed: an event no module's leak is made of"
SHELL_OPERATORS = "();<>|&\n"
RE_RECORD = "the tests ask their guest something new: re-record (`nox -s record-transcripts`, real VMs)"


def trimmed_console(text: str) -> str:
    """The console from the last mark on (all a test reads of it), or its tail when there is no mark."""
    lines = text.splitlines()
    marks = [index for index, line in enumerate(lines) if MARK in line]
    return "\n".join(lines[marks[-1] :] if marks else lines[-CONSOLE_TAIL:]) + "\n"


def trimmed_kmem_trace(text: str) -> str:
    """A kmem trace with each event no module's leak can be made of (a free, an allocation freed later or made by
    the kernel itself) as one placeholder line: memory_leak counts the same events and finds the same leaks.

    Any other text comes back as it was.
    """
    unfreed = leaks.unfreed(text)
    kept = {allocation.line for allocation in unfreed if allocation.module or allocation.call_site.startswith("0x")}
    lines = text.split("\n")
    return "\n".join(TRIMMED_EVENT if leaks.EVENT.match(line) and line not in kept else line for line in lines)


def build_to_json(build: BuildOutcome) -> dict[str, Any]:
    modules = [{**dataclasses.asdict(module), "path": module.path.name} for module in build.modules]
    return {**dataclasses.asdict(build), "modules": modules}


def build_from_json(data: dict[str, Any], directory: Path) -> BuildOutcome:
    """The recorded build, each .ko a placeholder file in directory (replays never read it)."""
    modules = []
    for module in data["modules"]:
        path = directory / module["path"]
        path.write_bytes(b"placeholder for a replayed build\n")
        symbols = tuple(elf.Symbol(**symbol) for symbol in module["symbols"])
        modules.append(BuiltModule(**{**module, "path": path, "symbols": symbols}))
    return BuildOutcome(**{**data, "modules": tuple(modules)})


def save(path: Path, transcript: Transcript) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(write(transcript).encode())


def load(path: Path) -> Transcript:
    return read(path.read_bytes().decode())


class RecordingMachine:
    """A real machine, every call passed through and written down. It shows no root filesystem on the host, as a
    replay has none: what the tests would do there (a tests/Makefile made in the box's chroot) they do in the
    guest, where it is recorded."""

    sysroot = None

    def __init__(self, machine: Any) -> None:
        self.inner = machine
        self.calls: list[Call] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _call(self, asked: Call, action: Callable[[], Any], answer: Callable[[Any], dict[str, Any]]) -> Any:
        try:
            value = action()
        except MachineError as error:
            self.calls.append(dataclasses.replace(asked, raises=type(error).__name__, message=str(error)))
            raise
        self.calls.append(dataclasses.replace(asked, **answer(value)))
        return value

    def run(self, command: str, timeout: float, sudo: bool = False) -> CommandResult:
        def answer(result: CommandResult) -> dict[str, Any]:
            return {"exit_status": result.exit_status, "duration_s": result.duration_s, "stdout": result.stdout,
                    "stderr": result.stderr}  # fmt: skip

        result: CommandResult = self._call(
            Call("run", command=command, sudo=sudo), lambda: self.inner.run(command, timeout=timeout, sudo=sudo), answer
        )
        return result

    def put(self, local: Path, remote: str) -> None:
        self._call(Call("put", remote=remote), lambda: self.inner.put(local, remote), lambda _: {})

    def get(self, remote: str, local: Path) -> None:
        def answer(_: None) -> dict[str, Any]:
            return {"text": trimmed_kmem_trace(local.read_text(errors="replace"))}

        self._call(Call("get", remote=remote), lambda: self.inner.get(remote, local), answer)

    def console_text(self) -> str:
        text = str(self.inner.console_text())
        self.calls.append(Call("console_text", text=trimmed_console(text)))
        return text

    def reset(self) -> None:
        self._call(Call("reset"), self.inner.reset, lambda _: {})

    def replace(self) -> None:
        self._call(Call("replace"), self.inner.replace, lambda _: {})


def shell_words(command: str) -> tuple[str, ...]:
    """The command's words as the shell reads them: quotes and escapes undone, operators (`;`, `&&`, `|`, `>`,
    a line break) words of their own. A quoted operator reads as the operator."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=SHELL_OPERATORS)
    lexer.whitespace, lexer.whitespace_split, lexer.commenters = " \t\r", True, ""
    return tuple(lexer)


@dataclasses.dataclass(frozen=True)
class Request:
    """What a call asks of the guest, by what it means: a command as the shell's words, a path normalised."""

    op: str
    words: tuple[str, ...] = ()
    sudo: bool = False
    remote: str = ""

    @classmethod
    def of(cls, call: Call) -> Request:
        remote = posixpath.normpath(call.remote) if call.remote else ""
        return cls(call.op, shell_words(call.command) if call.op == "run" else (), call.sudo, remote)

    def __str__(self) -> str:
        if self.op == "run":
            return f"run{' as root' if self.sudo else ''}: {list(self.words)}"
        return f"{self.op} {self.remote}".strip()


class TranscriptMismatch(AssertionError):
    """The tests asked the machine something other than what the recorded run asked: re-record."""


class ReplayMachine:
    """Answers each call with the next recorded answer; a call meaning something else is a TranscriptMismatch."""

    name = "replay"
    provider = "replay"
    sysroot = None
    console_log = Path("/nonexistent/console.log")  # its text is replayed (console_text), not its file

    def __init__(self, calls: Sequence[Call]) -> None:
        self.calls = deque(calls)
        self.answered = 0

    def _next(self, asked: Call) -> Call:
        request = Request.of(asked)
        if not self.calls:
            raise TranscriptMismatch(
                f"call {self.answered + 1}, {request}, is past the end of the transcript; {RE_RECORD}"
            )
        recorded = self.calls.popleft()
        if Request.of(recorded) != request:
            raise TranscriptMismatch(
                f"call {self.answered + 1}: the tests asked\n  {request}\nthe recording has\n  {Request.of(recorded)}\n"
                f"{RE_RECORD}"
            )
        self.answered += 1
        if recorded.raises:
            raise ERRORS[recorded.raises](recorded.message, recorded.command)
        return recorded

    def run(self, command: str, timeout: float, sudo: bool = False) -> CommandResult:
        recorded = self._next(Call("run", command=command, sudo=sudo))
        return CommandResult(command, recorded.exit_status, recorded.stdout, recorded.stderr, recorded.duration_s)

    def put(self, local: Path, remote: str) -> None:
        self._next(Call("put", remote=remote))

    def get(self, remote: str, local: Path) -> None:
        local.write_text(self._next(Call("get", remote=remote)).text)

    def console_text(self) -> str:
        return self._next(Call("console_text")).text

    def reset(self) -> None:
        self._next(Call("reset"))

    def replace(self) -> None:
        self._next(Call("replace"))

    @property
    def unanswered(self) -> int:
        return len(self.calls)
