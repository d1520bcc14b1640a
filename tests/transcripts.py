"""Guest transcripts: what a real machine answered during a domain run, recorded once, replayed in unit tests.

A transcript (gzipped JSON, `tests/unit/transcripts/<line>/<fixture>.json.gz`) holds the run's
kernel line and release, the options, the module build's outcome, the unique tokens the guest
helper drew, every call made on the machine with its answer (command -> exit status, output,
duration; or the error it raised: a timeout, a guest that stopped answering) and, as its
header, the verdicts the real run reached. Replaying it through the same tests must reach the
same verdicts, like syzkaller's testdata files that carry their expected titles.
"""

from __future__ import annotations

import gzip
import json
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from toolkit.domains.module import elf
from toolkit.domains.module.build import BuildOutcome, BuiltModule
from toolkit.machines.protocol import CommandResult, CommandTimedOut, GuestUnreachable, MachineError

TRANSCRIPTS = Path(__file__).parent / "unit" / "transcripts"
ERRORS: dict[str, type[MachineError]] = {
    "CommandTimedOut": CommandTimedOut,
    "GuestUnreachable": GuestUnreachable,
    "MachineError": MachineError,
}
MARK = "vexfs-vmtest: "
CONSOLE_TAIL = 300


def trimmed_console(text: str) -> str:
    """The console from the last mark on (all a test reads of it), or its tail when there is no mark."""
    lines = text.splitlines()
    marks = [index for index, line in enumerate(lines) if MARK in line]
    return "\n".join(lines[marks[-1] :] if marks else lines[-CONSOLE_TAIL:]) + "\n"


def build_to_json(build: BuildOutcome) -> dict[str, Any]:
    modules = [{**asdict(module), "path": module.path.name} for module in build.modules]
    return {**asdict(build), "modules": modules}


def build_from_json(data: dict[str, Any], directory: Path) -> BuildOutcome:
    """The recorded build, each .ko a placeholder file in directory (replays never read it)."""
    modules = []
    for module in data["modules"]:
        path = directory / module["path"]
        path.write_bytes(b"placeholder for a replayed build\n")
        symbols = tuple(elf.Symbol(**symbol) for symbol in module["symbols"])
        modules.append(BuiltModule(**{**module, "path": path, "symbols": symbols}))
    return BuildOutcome(**{**data, "modules": tuple(modules)})


def save(path: Path, transcript: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps(transcript, indent=1).encode(), mtime=0))


def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(gzip.decompress(path.read_bytes())))


class RecordingMachine:
    """A real machine, every call passed through and written down."""

    def __init__(self, machine: Any) -> None:
        self.inner = machine
        self.calls: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _call(self, entry: dict[str, Any], action: Callable[[], Any]) -> Any:
        try:
            value = action()
        except MachineError as error:
            self.calls.append({**entry, "raises": type(error).__name__, "message": str(error)})
            raise
        self.calls.append(entry)
        return value

    def run(self, command: str, timeout: float, sudo: bool = False) -> CommandResult:
        entry = {"op": "run", "command": command, "sudo": sudo}
        result: CommandResult = self._call(entry, lambda: self.inner.run(command, timeout=timeout, sudo=sudo))
        entry.update(exit_status=result.exit_status, stdout=result.stdout, stderr=result.stderr,
                     duration_s=result.duration_s)  # fmt: skip
        return result

    def put(self, local: Path, remote: str) -> None:
        self._call({"op": "put", "remote": remote}, lambda: self.inner.put(local, remote))

    def get(self, remote: str, local: Path) -> None:
        entry: dict[str, Any] = {"op": "get", "remote": remote}
        self._call(entry, lambda: self.inner.get(remote, local))
        entry["content"] = local.read_text(errors="replace")

    def console_text(self) -> str:
        text = str(self.inner.console_text())
        self.calls.append({"op": "console_text", "text": trimmed_console(text)})
        return text

    def reset(self) -> None:
        self._call({"op": "reset"}, self.inner.reset)

    def replace(self) -> None:
        self._call({"op": "replace"}, self.inner.replace)


class TranscriptMismatch(AssertionError):
    """The tests asked the machine something other than what the recorded run asked: re-record."""


class ReplayMachine:
    """Answers each call with the next recorded answer; any other call is a TranscriptMismatch."""

    name = "replay"
    provider = "replay"
    sysroot = None
    console_log = Path("/nonexistent/console.log")  # its text is replayed (console_text), not its file

    def __init__(self, calls: list[dict[str, Any]]) -> None:
        self.calls = deque(calls)
        self.answered = 0

    def _next(self, op: str, **expected: Any) -> dict[str, Any]:
        if not self.calls:
            raise TranscriptMismatch(f"call {self.answered + 1} ({op} {expected}) is past the end of the transcript")
        entry = self.calls.popleft()
        asked = {key: entry.get(key) for key in expected}
        if entry["op"] != op or asked != expected:
            raise TranscriptMismatch(
                f"call {self.answered + 1}: the tests asked {op} {expected}, the recording has {entry['op']} {asked}"
            )
        self.answered += 1
        if "raises" in entry:
            raise ERRORS[entry["raises"]](entry["message"], entry.get("command", ""))
        return entry

    def run(self, command: str, timeout: float, sudo: bool = False) -> CommandResult:
        entry = self._next("run", command=command, sudo=sudo)
        return CommandResult(command, entry["exit_status"], entry["stdout"], entry["stderr"], entry["duration_s"])

    def put(self, local: Path, remote: str) -> None:
        self._next("put", remote=remote)

    def get(self, remote: str, local: Path) -> None:
        local.write_text(self._next("get", remote=remote)["content"])

    def console_text(self) -> str:
        return str(self._next("console_text")["text"])

    def reset(self) -> None:
        self._next("reset")

    def replace(self) -> None:
        self._next("replace")

    @property
    def unanswered(self) -> int:
        return len(self.calls)
