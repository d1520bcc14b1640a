"""Real processes, real signals, real VMs: what a run does when it is stopped, raced or wedged.

Tests marked `full` run with `nox -s reliability` (VEXFS_FULL=1); CI runs the others.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).parents[2]
INVOKE = str(REPO / ".venv" / "bin" / "invoke")
MODULES = REPO / "tests" / "e2e" / "modules"


@dataclass
class Command:
    """A toolkit command running in the background, its output collected as it comes."""

    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    def _collect(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.output.append(line)

    def wait_for(self, text: str, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.output):
            assert self.process.poll() is None, f"exited {self.process.returncode} before {text!r}:\n{self.text}"
            assert time.monotonic() < deadline, f"no {text!r} after {timeout} s:\n{self.text}"
            time.sleep(0.2)

    def stop(self, signum: int, within: float = 60) -> tuple[int, float]:
        """Send signum; the exit status and the seconds it took to exit."""
        sent = time.monotonic()
        self.process.send_signal(signum)
        status = self.process.wait(timeout=within)
        return status, time.monotonic() - sent

    @property
    def text(self) -> str:
        return "".join(self.output)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[object]:
    """Start `invoke ARGS` in the background with results in tmp_path/results."""
    started: list[Command] = []

    def run(*args: str, env: dict[str, str] | None = None, program: str = INVOKE) -> Command:
        environment = {**os.environ, "VEXFS_RESULTS_DIR": str(tmp_path / "results"), **(env or {})}
        process = subprocess.Popen([program, *args], cwd=REPO, env=environment, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)  # fmt: skip
        command = Command(process)
        threading.Thread(target=command._collect, daemon=True).start()
        threading.Thread(target=process.stdout.read, daemon=True).start()  # type: ignore[union-attr]
        started.append(command)
        return command

    yield run
    for command in started:
        if command.process.poll() is None:
            command.process.kill()


@pytest.fixture
def vm_name() -> Iterator[str]:
    name = f"rel-{uuid.uuid4().hex[:6]}"
    yield name
    subprocess.run([INVOKE, "vm.destroy", "--name", name], cwd=REPO, capture_output=True)


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that mention text (a VM name, a module path)."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if text in cmdline and process.info["status"] != psutil.STATUS_ZOMBIE and process.pid != os.getpid():
            found.append(cmdline)
    return found


def invoke(*args: str, env: dict[str, str] | None = None, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([INVOKE, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})  # fmt: skip


SIGNALS = {"SIGINT": (signal.SIGINT, 130), "SIGTERM": (signal.SIGTERM, 143)}
