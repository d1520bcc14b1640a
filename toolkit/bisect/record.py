"""What a bisect found, kept: every step (which commit, its judgement and why, the run that judged it) and the
answer, as bisect.json and as the text the task prints (bisect.txt)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tabulate import tabulate

from toolkit.bisect.history import Commit
from toolkit.bisect.search import Judgement
from toolkit.files import atomic_write

RECORD = "bisect.json"
TEXT = "bisect.txt"
REASON_WIDTH = 70


@dataclass(frozen=True)
class Step:
    """One commit judged: as the bad end, the good end, or a probe between them."""

    role: str  # bad end, good end, probe
    commit: Commit
    judgement: Judgement
    reason: str  # the red test and its message, the counts of a good run, why it was skipped
    title: str = ""  # a bad commit's: the title of the report that made it red, else the red test's message
    run_id: str = ""  # the step's results folder ("" when nothing ran)
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "commit": self.commit.to_dict(), "judgement": self.judgement.value,
                "reason": self.reason, "title": self.title, "run_id": self.run_id,
                "duration_s": round(self.duration_s, 1)}  # fmt: skip


@dataclass(frozen=True)
class BisectRecord:
    """A bisect as it stands: what it was asked, every step so far, and once done its answer."""

    bisect_id: str
    started: str
    repository: str
    module_path: str
    kernel_line: str
    tests: tuple[str, ...]  # the tests each step runs
    good: Commit
    bad: Commit
    commits: int  # after the good end up to the bad one
    state: str = "running"  # running, finished, interrupted, stopped (by an error)
    steps: tuple[Step, ...] = ()
    suspects: tuple[Commit, ...] = ()  # once done: the first bad commit, or those it is one of (skipped before it)
    conclusion: str = ""  # once done: the answer, or why there is none

    @property
    def first_bad(self) -> Commit | None:
        return self.suspects[0] if len(self.suspects) == 1 else None

    @property
    def title(self) -> str:
        """The title of what made the first bad commit red ("" without one)."""
        first = self.first_bad
        return next((step.title for step in self.steps if first and step.commit == first and step.title), "")

    def with_step(self, step: Step) -> BisectRecord:
        return replace(self, steps=(*self.steps, step))

    def exit_status(self) -> int:
        """0 when the first bad commit was found, else 1."""
        return 0 if self.state == "finished" and self.first_bad else 1

    def to_dict(self) -> dict[str, Any]:
        first = self.first_bad
        return {"bisect_id": self.bisect_id, "state": self.state, "started": self.started,
                "repository": self.repository, "module_path": self.module_path, "kernel_line": self.kernel_line,
                "tests": list(self.tests), "good": self.good.to_dict(), "bad": self.bad.to_dict(),
                "commits": self.commits, "first_bad": first.to_dict() if first else None, "title": self.title,
                "suspects": [commit.to_dict() for commit in self.suspects], "conclusion": self.conclusion,
                "steps": [step.to_dict() for step in self.steps]}  # fmt: skip

    def text(self) -> str:
        """The answer, then a row per step: what the task prints and bisect.txt keeps."""
        first = self.first_bad
        if first:
            head = [f"first bad commit: {first.sha} {first.subject}", f"author: {first.author}"]
            head += [f"made red by: {self.title}"] if self.title else []
        else:
            head = [self.conclusion or f"bisect {self.state}"]
        rows = [[step.role, step.commit.short, _short(step.commit.subject, 40), step.judgement.value,
                 _short(step.reason, REASON_WIDTH), f"{step.duration_s:.0f}s", step.run_id]
                for step in self.steps]  # fmt: skip
        table = tabulate(rows, headers=["step", "commit", "subject", "verdict", "why", "time", "run"])
        return "\n".join(head) + "\n\n" + table

    def save(self, folder: Path) -> None:
        atomic_write(folder / RECORD, json.dumps(self.to_dict(), indent=2) + "\n")
        atomic_write(folder / TEXT, self.text() + "\n")


def _short(text: str, width: int) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= width else line[: width - 1] + "…"
