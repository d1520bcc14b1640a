"""A guest scripted by rules, for the verdict branches no fixture module reaches on its own.

The first rule whose text occurs in a command answers it; a rule with a list of answers gives
them in turn and then repeats the last. An answer can log kernel lines (read back by the
guest helper's read of the log after its mark), time out, or find the guest gone. Commands no
rule matches succeed silently.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace

from toolkit.domains.guest import KMSG_AFTER, LOG_FOLLOWS
from toolkit.machines.protocol import CommandResult, CommandTimedOut, GuestUnreachable, MachineStatus

LOG_READ = KMSG_AFTER
STEP = re.compile(r"vexfs_mark=('[^']*'); trap '[^']*' EXIT; echo \"\$vexfs_mark\" > /dev/kmsg; ")


@dataclass(frozen=True)
class Answer:
    stdout: str = ""
    exit_status: int = 0
    stderr: str = ""
    log: tuple[str, ...] = ()
    duration_s: float = 0.05
    timeout: bool = False
    unreachable: bool = False


@dataclass
class ScriptedMachine:
    rules: dict[str, Answer | list[Answer]] = field(default_factory=dict)
    console: str = ""
    files: dict[str, str] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    resets: int = 0
    name: str = "scripted"
    provider: str = "scripted"
    sysroot: Path | None = None
    console_log: Path = Path("/nonexistent/console.log")
    _log: list[str] = field(default_factory=list)

    def _answer(self, command: str) -> Answer:
        for text, answers in self.rules.items():
            if text in command:
                if isinstance(answers, list):
                    return answers.pop(0) if len(answers) > 1 else answers[0]
                return answers
        return Answer()

    def run(self, command: str, timeout: float, sudo: bool = False) -> CommandResult:
        """A guest step's command (its log read by an exit trap) is answered as the shell would: the command
        inside it runs (`commands` records it after the mark's echo), then its log follows its output, unless it
        replaced the shell (exec)."""
        step = STEP.match(command)
        if step is None:
            return self._run(command, timeout)
        quoted_marker, inner = step[1], command[step.end() :]
        result = self._run(f"echo {quoted_marker} > /dev/kmsg; {inner}", timeout)
        if inner.startswith("exec "):  # the shell was replaced: its exit trap never ran
            return replace(result, command=command)
        logged, self._log = self._log, []
        log = "".join(f"{line}\n" for line in logged)
        marker = shlex.split(quoted_marker)[0]
        return replace(result, command=command, stdout=f"{result.stdout}\n{marker}{LOG_FOLLOWS}\n{log}")

    def _run(self, command: str, timeout: float) -> CommandResult:
        self.commands.append(command)
        if LOG_READ in command and LOG_READ not in self.rules:
            logged, self._log = self._log, []
            return CommandResult(command, 0, "".join(f"{line}\n" for line in logged), "", 0.01)
        answer = self._answer(command)
        if answer.unreachable:
            raise GuestUnreachable(f"lost the guest while running {command!r}", command)
        self._log = list(answer.log)
        if answer.timeout:
            raise CommandTimedOut(f"guest command timed out after {timeout:g} s: {command}", command)
        return CommandResult(command, answer.exit_status, answer.stdout, answer.stderr, answer.duration_s)

    def put(self, local: Path, remote: str) -> None:
        self.commands.append(f"PUT {remote}")

    def get(self, remote: str, local: Path) -> None:
        local.write_text(self.files[remote])

    def console_text(self) -> str:
        return self.console

    def kernel_log(self) -> str:
        return self.console

    def reset(self) -> None:
        self.resets += 1

    def replace(self) -> None:
        self.resets += 1

    # what the runner asks of a machine besides commands

    accel: str = "tcg"
    destroyed: bool = False
    is_running: bool = False
    has_snapshots: bool = True
    record: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(debug="lite", libvirt_uri=""))

    def use_debug(self, tier: str) -> None:
        self.commands.append(f"DEBUG {tier}")
        self.record.debug = tier

    def running(self) -> bool:
        return self.is_running

    def up(self, cold: bool = False) -> None:
        self.commands.append("UP")
        self.is_running = True

    def status(self) -> MachineStatus:
        return MachineStatus(self.name, self.provider, "running", "6.1", "box", self.accel)

    @property
    def box(self) -> SimpleNamespace:
        return SimpleNamespace(kernel_package_version="6.1.176-1")

    def log_files(self) -> list[Path]:
        return []

    def destroy(self) -> None:
        self.destroyed = True
