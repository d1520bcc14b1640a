"""Result records: plain frozen data, serialised to the result contract (schema.json beside this file).

Wave-1 files carried a `module` object where records now carry a generic `subject`; they
still load, and module subjects are still written with `module` too for wave-1 readers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class Status(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


# Worst first: the order used wherever statuses are summarised.
SEVERITY = (Status.FAILED, Status.ERROR, Status.SKIPPED, Status.PASSED)


def worst(statuses: list[Status]) -> Status:
    return min(statuses, key=SEVERITY.index) if statuses else Status.PASSED


@dataclass(frozen=True)
class TestRecord:
    __test__ = False  # not a pytest test class

    name: str
    status: Status
    duration_s: float
    message: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    kernel_log: tuple[str, ...] = ()
    started: str = ""  # when the test began (ISO 8601, UTC); "" in runs from before it was recorded

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        data["duration_s"] = round(self.duration_s, 3)
        data["kernel_log"] = list(self.kernel_log)
        if not self.started:
            del data["started"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestRecord:
        return cls(**{**data, "status": Status(data["status"]), "kernel_log": tuple(data.get("kernel_log", ()))})


@dataclass(frozen=True)
class SubjectInfo:
    """What a domain's tests ran on: its kind (module, filesystem, ...), name, where it came from, its version."""

    kind: str
    name: str
    source: str
    version: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def as_wave1_module(self) -> dict[str, str]:
        return {"name": self.name, "dir": self.source, "srcversion": self.version}

    @classmethod
    def from_wave1_module(cls, module: dict[str, str]) -> SubjectInfo:
        return cls("module", module["name"], module.get("dir", ""), module.get("srcversion", ""))


@dataclass(frozen=True)
class DomainRun:
    """One domain's tests for one subject on one kernel."""

    kernel: str
    kernel_line: str
    provider: str
    accel: str
    subject: SubjectInfo
    domain: str
    tests: tuple[TestRecord, ...]
    kernel_package: str = ""
    debug: str = ""  # the guest's debug tier (toolkit/debug.py); "" in runs from before tiers
    libvirt_uri: str = ""  # the libvirt host the VM ran on (vagrant provider); "" for the qemu provider

    def to_dict(self) -> dict[str, Any]:
        data = {**asdict(self), "subject": self.subject.to_dict(), "tests": [t.to_dict() for t in self.tests]}
        if not self.libvirt_uri:
            del data["libvirt_uri"]
        if self.subject.kind == "module":
            data["module"] = self.subject.as_wave1_module()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DomainRun:
        fields = {key: value for key, value in data.items() if key != "module"}
        subject = SubjectInfo(**data["subject"]) if "subject" in data else SubjectInfo.from_wave1_module(data["module"])
        tests = tuple(TestRecord.from_dict(t) for t in data["tests"])
        return cls(**{**fields, "subject": subject, "tests": tests})


@dataclass(frozen=True)
class RunRecord:
    """One invocation: every domain run it made, with when and where."""

    run_id: str
    started: str
    finished: str
    toolkit_version: str
    host: dict[str, Any]
    runs: tuple[DomainRun, ...]
    interrupted: bool = False

    def summary(self) -> dict[str, int]:
        counts = {status.value: 0 for status in Status}
        for run in self.runs:
            for test in run.tests:
                counts[test.status.value] += 1
        return counts

    def exit_status(self) -> int:
        """0 when nothing failed or errored, else 1."""
        counts = self.summary()
        return 1 if counts["failed"] or counts["error"] else 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["runs"] = [run.to_dict() for run in self.runs]
        data["summary"] = self.summary()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        fields = {k: v for k, v in data.items() if k != "summary"}
        return cls(**{**fields, "runs": tuple(DomainRun.from_dict(r) for r in data["runs"])})
