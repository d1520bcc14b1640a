"""A run's results folder while the run goes on: several lines add to it from several threads, and it is saved
after every change, so a line that fails or crashes never loses what the others found."""

from __future__ import annotations

import contextlib
import datetime
import platform
import shutil
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

from toolkit import __version__, kernels
from toolkit.files import remove_tree
from toolkit.interrupts import Interrupted
from toolkit.results import store
from toolkit.results.records import PlannedRun, RunRecord, RunState, SubjectResults


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def host_info() -> dict[str, str]:
    qemu = shutil.which("qemu-system-x86_64")
    version = subprocess.run([qemu, "--version"], capture_output=True, text=True).stdout.split("\n")[0] if qemu else ""
    return {
        "hostname": platform.node(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "qemu": version,
    }


class ResultsFolder:
    """One results folder that several lines add to, from several threads; saved on every change.

    It states its plan (every test it means to give a verdict for) and where it stands: running until
    it ends finished or interrupted, and then every planned test it has no verdict for is an error
    saying why. Nothing is written until there is something to say (a test, a line given up, an
    interruption), so a run refused at its start leaves no folder behind and `latest` where it was.
    """

    def __init__(self, results_root: Path, plan: Sequence[PlannedRun]) -> None:
        self.results_root = results_root
        self.run_id = store.new_run_id()
        self.dir = results_root / self.run_id
        self.started = _now()
        self.host = host_info()
        self.plan = tuple(plan)
        self.state = RunState.RUNNING
        self._unrun_reason = ""
        self._runs: dict[tuple[str, str, str], SubjectResults] = {}
        self._lock = threading.Lock()
        self._held = contextlib.ExitStack()
        self._holding = False
        self._earlier: list[RunRecord] | None = None  # the runs before it, read when it first saves (its trend)

    def folder(self, line: str) -> Path:
        """A line's folder in the run's, made now; the run's folder is held (`store.held`) until `close`."""
        with self._lock:
            self._hold()
        path = self.dir / line
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _hold(self) -> None:
        if not self._holding:
            self._held.enter_context(store.held(self.dir))
            self._holding = True

    def put(self, run: SubjectResults) -> RunRecord:
        """Add a domain run, or replace the one for the same line, domain and subject (its tests so far).

        Once the run has ended the record is frozen: what lines still running say then is not kept.
        """
        with self._lock:
            if self.state is RunState.RUNNING:
                self._runs[(run.kernel_line, run.domain, run.subject.name)] = run
            return self._save()

    def give_up(self, line: str, reason: str) -> RunRecord:
        """A line that cannot go on (its machine lost, never started): each planned test of it without a verdict
        is an error saying reason."""
        with self._lock:
            runs = tuple(self._runs.values())
            for planned in self.plan if self.state is RunState.RUNNING else ():
                if planned.kernel_line == line:
                    for run in planned.unrun(runs, f"not run: {reason}"):
                        self._runs[(run.kernel_line, run.domain, run.subject.name)] = run
            return self._save()

    def interrupt(self, stop: Interrupted) -> RunRecord:
        """Mark the run interrupted and save it as it stands, the tests it did not reach errors saying so."""
        with self._lock:
            self._end(RunState.INTERRUPTED, f"not run: the run was interrupted by {stop}")
            return self._save()

    def save(self) -> RunRecord:
        with self._lock:
            return self._save()

    def close(self) -> RunRecord:
        """End the run as finished (when it was still running and recorded anything), save it a last time and let
        its folder go; a run that recorded nothing leaves no folder."""
        with self._lock:
            if self._runs:
                self._end(RunState.FINISHED, "not run: the run ended before it reached this test")
            record = self._save()
        self._held.close()
        if self.state is RunState.RUNNING:
            remove_tree(self.dir)
        return record

    def _end(self, state: RunState, unrun_reason: str) -> None:
        if self.state is RunState.RUNNING:
            self.state, self._unrun_reason = state, unrun_reason

    def _save(self) -> RunRecord:
        order = {line.name: index for index, line in enumerate(kernels.every_line())}
        runs = sorted(self._runs.values(), key=lambda r: (order.get(r.kernel_line, 99), r.domain, r.subject.name))
        record = RunRecord(self.run_id, self.started, _now(), __version__, self.host, tuple(runs), self.state,
                           self.plan)  # fmt: skip
        if self.state is not RunState.RUNNING:
            record = record.ended(self.state, self._unrun_reason, record.finished)
        if runs or self.state is not RunState.RUNNING:
            self._hold()
            store.write(self.results_root, record, self.earlier())
        return record

    def earlier(self) -> list[RunRecord]:
        """The runs saved in the results folder before this one, newest first (read once)."""
        if self._earlier is None:
            self._earlier = store.earlier_runs(self.results_root, self.run_id)
        return self._earlier
