"""Test cases whose verdicts are scripted, on a subject that counts its rollbacks: the domain runner's logic
(--only, --repeat, --retry) without a guest."""

from __future__ import annotations

from dataclasses import dataclass, field

from toolkit.domains.base import Health, Verdict
from toolkit.machines.protocol import MachineError
from toolkit.results.records import SubjectInfo


@dataclass
class Guest:
    """A subject whose rollbacks are counted; a broken one cannot be rolled back."""

    recoveries: int = 0
    broken: bool = False
    info: SubjectInfo = SubjectInfo("module", "m", "/src/m")

    def health(self) -> Health:
        return Health(True)

    def recover(self) -> str:
        if self.broken:
            raise MachineError("qemu exited")
        self.recoveries += 1
        return "guest rolled back"

    def evidence(self) -> list[str]:
        return []

    def audit(self, case: str) -> Verdict | None:
        return None

    def symbolize(self, verdict: Verdict) -> Verdict:
        return verdict


@dataclass
class Case:
    """A test whose verdict in each run is scripted, the script starting again at its end: 'p' passed, 'f' failed,
    'e' error."""

    name: str
    script: str
    needs: tuple[str, ...] = ()
    runs: list[int] = field(default_factory=list)

    def run(self, guest: Guest) -> Verdict:
        outcome = self.script[len(self.runs) % len(self.script)]
        self.runs.append(1)
        if outcome == "f":
            return Verdict.failed(f"{self.name}: leaked 1 object", ["[ 1.0] kmemleak: 1 new suspected memory leaks"],
                                  report_titles=[f"memory leak in {self.name}_init"])  # fmt: skip
        if outcome == "e":
            return Verdict.error(f"{self.name}: no answer")
        return Verdict.passed(f"{self.name}: fine")
