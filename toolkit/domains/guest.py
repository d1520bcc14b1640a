"""Guest steps: the one way every test does work in its guest.

A step writes a unique mark into the kernel log, runs a command (usually one of the domain's
shipped scripts) as root under a timeout, and reads what the kernel said after the mark. A
step that does not return in time, or after which the kernel reported a problem, ends the
test with a `Finding` whose verdict quotes the kernel's own lines.
"""

from __future__ import annotations

import io
import secrets
import shlex
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from toolkit import kernel_log
from toolkit.domains import stuck_watch
from toolkit.domains.base import Finding, Verdict
from toolkit.machines.protocol import CommandInterrupted, CommandResult, CommandTimedOut, Machine, MachineError
from toolkit.results.records import Status

GUEST_DIR = "/root/vexfs-vmtest"
SCRIPTS_DIR = f"{GUEST_DIR}/scripts"
KMSG_AFTER = "/usr/lib/vexfs-vmtest/kmsg-after"
LOG_FOLLOWS = ": kernel log follows"  # after a step's mark, kmsg-after --follows's line between output and log
# A step whose kernel log came back empty while the console grew by more than this logged so much that the
# kernel's ring overwrote its mark (a report a hundred lines long, many times over): the console has it all.
CONSOLE_SLACK_BYTES = 4096


def problem_verdict(what: str, problems: list[kernel_log.Problem], **metrics: Any) -> Verdict:
    """Failed, naming the first problem by its title (reports of the same title counted once), with the kernel's
    own lines; any problem leaves the guest dirty."""
    titles = kernel_log.titles(problems)
    more = f" (and {len(titles) - 1} more)" if len(titles) > 1 else ""
    excerpt = [line for problem in problems for line in problem.excerpt]
    kinds = sorted({problem.kind for problem in problems})
    return Verdict.failed(f"{what}: {titles[0]}{more}", excerpt, guest_dirty=True, report_titles=titles, problems=kinds,
                          **metrics)  # fmt: skip


def parameters_verdict(what: str, log: Sequence[str], module: str, **metrics: Any) -> Verdict | None:
    """Failed, in the kernel's own words, when it ignored or refused some of module's parameters (in log)."""
    said = kernel_log.parameter_complaints(log, module)
    if not said:
        return None
    more = f" (and {len(said) - 1} more)" if len(said) > 1 else ""
    return Verdict.failed(f"{what}: the kernel did not take the module's parameters: {said[0]}{more}", log, **metrics)


@dataclass(frozen=True)
class Step:
    """What one guest step did, and what the kernel logged meanwhile."""

    what: str
    result: CommandResult
    log: tuple[str, ...]

    @property
    def problems(self) -> list[kernel_log.Problem]:
        return kernel_log.classify(self.log)

    @property
    def ok(self) -> bool:
        return self.result.ok

    def values(self) -> dict[str, str]:
        """`key=value` lines of the step's output, as scripts report their findings."""
        return dict(line.split("=", 1) for line in self.result.stdout.splitlines() if "=" in line)


def step_command(marker: str, command: str) -> str:
    """command after marker is written to the kernel log, and when its shell exits (an exit trap), the log after
    marker, behind a line saying it follows (kmsg-after --follows)."""
    return (
        f'vexfs_mark={shlex.quote(marker)}; trap \'vexfs_status=$?; {KMSG_AFTER} --follows "$vexfs_mark"; '
        f'exit $vexfs_status\' EXIT; echo "$vexfs_mark" > /dev/kmsg; {command}'
    )


def log_after(marker: str) -> str:
    """The guest command printing the kernel's messages after the one holding marker, as dmesg shows them
    (a program of the box's: toolkit/boxes/guest/kmsg-after.c)."""
    return f"{KMSG_AFTER} {shlex.quote(marker)}"


def script_command(name: str, *args: str | int, env: Mapping[str, str | int] | None = None, shell: str = "sh") -> str:
    """The command line running an installed script, every value quoted so it reaches the script literally."""
    assignments = [f"{key}={shlex.quote(str(value))}" for key, value in (env or {}).items()]
    return " ".join([*assignments, shell, f"{SCRIPTS_DIR}/{name}", *(shlex.quote(str(arg)) for arg in args)])


class Guest:
    """A machine seen by the tests: root commands, kernel-log marks, steps and their verdicts."""

    def __init__(
        self, machine: Machine, token: Callable[[], str] = lambda: secrets.token_hex(4), slowdown: float = 1.0
    ) -> None:
        self.machine = machine
        self.slowdown = slowdown  # every timeout is scaled by it (debug kernels run several times slower)
        self.token = token  # unique names for marks and transfers (a replay gives the recorded ones)
        self.last_marker = ""
        self.last_console_offset = 0  # the console's size when the last step began

    def root(self, command: str, timeout: float = 60.0) -> CommandResult:
        """command as root, given up as a step is (CommandInterrupted) once the kernel reports the guest stuck after
        the last step's mark: a module's fault may strike after its step returned (a timer of an unloaded module)."""
        if not self.last_marker:
            return self._root(command, timeout)
        with stuck_watch.watched(self.machine, self.last_marker, self.last_console_offset):
            return self._root(command, timeout)

    def _root(self, command: str, timeout: float) -> CommandResult:
        return self.machine.run(command, timeout=timeout * self.slowdown, sudo=True)

    def put(self, local: Path, remote: str) -> None:
        """Copy one file into the guest."""
        self.machine.put(local, remote)

    def get(self, remote: str, local: Path) -> None:
        """Copy one file out of the guest."""
        self.machine.get(remote, local)

    def install(self, files: Mapping[str, Path], then: str = "true") -> None:
        """Copy files into GUEST_DIR (paths relative to it) in one transfer, then run `then` there."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for name, path in sorted(files.items()):
                archive.add(path, arcname=name)
        with tempfile.TemporaryDirectory() as scratch:
            local = Path(scratch) / "install.tar.gz"
            local.write_bytes(buffer.getvalue())
            remote = f"/tmp/vexfs-vmtest-install-{self.token()}.tar.gz"
            self.machine.put(local, remote)
        unpack = f"mkdir -p {GUEST_DIR} && tar xzf {remote} -C {GUEST_DIR} --no-same-owner && rm -f {remote}"
        self.root(f"{unpack} && {then}")

    def _new_marker(self, label: str) -> str:
        self.last_marker = f"vexfs-vmtest: {label} {self.token()}"
        return self.last_marker

    def _read_log(self, marker: str) -> tuple[list[str], bool]:
        """Kernel messages after marker, and whether the guest answered: from dmesg (only those lines
        cross the wire), or from the console when the guest does not answer."""
        try:
            return self.root(log_after(marker), timeout=30).stdout.splitlines(), True
        except MachineError:
            return kernel_log.lines_after(self.machine.console_text(), marker), False

    def log_since(self, marker: str) -> list[str]:
        return self._read_log(marker)[0]

    def evidence(self) -> list[str]:
        """Problem excerpts since the last mark, from the console (which works even when the guest does not)."""
        problems = kernel_log.classify(kernel_log.lines_after(self.machine.console_text(), self.last_marker))
        return [line for problem in problems for line in problem.excerpt]

    def keep_console(self, folder: Path) -> None:
        """The console file as it stands, kept in folder as <machine>-console-<n>.log (the next n): before a
        rollback, which starts the console anew from the ready snapshot's boot."""
        if not self.machine.console_log.is_file():
            return
        folder.mkdir(parents=True, exist_ok=True)
        number = 1
        while (folder / f"{self.machine.name}-console-{number}.log").exists():
            number += 1
        shutil.copyfile(self.machine.console_log, folder / f"{self.machine.name}-console-{number}.log")

    def _console_size(self) -> int:
        try:
            return self.machine.console_log.stat().st_size
        except OSError:
            return 0

    def silence_s(self) -> float:
        """Seconds since the guest last wrote to its console."""
        try:
            return time.time() - self.machine.console_log.stat().st_mtime
        except OSError:
            return float("nan")

    def hung(self, marker: str, what: str, timeout: float, **metrics: Any) -> Verdict:
        """A step outlived its timeout. Failed when the kernel said why, or when the guest still answers
        (the step itself is stuck); an error when the guest went silent without a word (cause unknown)."""
        log, answered = self._read_log(marker)
        problems = kernel_log.classify(log)
        late = f"{what} did not return within {timeout * self.slowdown:g} s"
        if problems:
            return problem_verdict(late, problems, **metrics)
        if answered:
            return Verdict.failed(
                f"{late} and the kernel reported nothing", self.evidence(), guest_dirty=True, **metrics
            )
        silent = f"{late} and the guest stopped answering: no output from the guest for {self.silence_s():.0f} s"
        return Verdict(Status.ERROR, silent, metrics, tuple(log[-20:]), guest_dirty=True)

    def stuck(self, marker: str, what: str, timeout: float, seconds: float, **metrics: Any) -> Verdict:
        """A step given up when the kernel reported the guest stuck (stuck_watch): failed with the kernel's
        report, read from the console (the guest's own answers may be stuck behind it)."""
        problems = kernel_log.classify(kernel_log.lines_after(self.machine.console_text(), marker))
        late = (f"{what} did not return: given up after {seconds:.0f} s of its {timeout * self.slowdown:g} s, once "
                "the kernel reported")  # fmt: skip
        if problems:
            return problem_verdict(late, problems, **metrics)
        return Verdict.failed(f"{late} the guest stuck", self.evidence(), guest_dirty=True, **metrics)

    def step(self, what: str, command: str, timeout: float, *, judge: bool = True, **metrics: Any) -> Step:
        """Mark, run command as root under timeout, read the log; a hang (or, when judge, a problem) is a Finding.

        The command is given up as soon as the kernel reports the guest stuck (stuck_watch), else at its timeout.
        The log is read by the same guest call, when the command exits (an exit trap); a command that
        left no log behind it (it replaced the shell) has it read by a call of its own; a step that logged more
        than the kernel's ring holds has it read from the console.
        """
        marker = self._new_marker(what)
        console_before = self.last_console_offset = self._console_size()
        started = time.monotonic()
        try:
            with stuck_watch.watched(self.machine, marker, console_before):
                result = self._root(step_command(marker, command), timeout)
        except CommandTimedOut:
            raise Finding(self.hung(marker, what, timeout, **metrics)) from None
        except CommandInterrupted:
            raise Finding(self.stuck(marker, what, timeout, time.monotonic() - started, **metrics)) from None
        output, found, log = result.stdout.rpartition(f"\n{marker}{LOG_FOLLOWS}\n")
        if found:
            step = Step(what, replace(result, stdout=output), tuple(log.splitlines()))
        else:
            step = Step(what, result, tuple(self.log_since(marker)))
        if not step.log and self._console_size() - console_before > CONSOLE_SLACK_BYTES:
            step = replace(step, log=tuple(kernel_log.lines_after(self.machine.console_text(), marker)))
        if judge:
            self.judge(step, **metrics)
        return step

    def judge(self, step: Step, what: str | None = None, **metrics: Any) -> None:
        """A Finding when the kernel reported a problem during the step."""
        problems = step.problems
        if problems:
            raise Finding(problem_verdict(f"{what or step.what} logged a problem", problems, **metrics))
