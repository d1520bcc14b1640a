"""Result records: plain frozen data, serialised to the result contract (schema.json beside this file).

Files of schema version 1 carried a `module` object where version 2 carries a generic `subject`;
they still load, and module subjects are still written with `module` too for version-1 readers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from typing import Any

SCHEMA_VERSION = 2  # results.json's contract: 2 adds subjects (version 1 has no schema_version key)


class Status(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    FLAKY = "flaky"  # red in some attempts of a retried test, passed in another (toolkit/domains/retries.py)
    SKIPPED = "skipped"
    KNOWN = "known"  # red, as a known-failure entry expects (toolkit/known_failures.py): it does not fail the run


class RunState(str, Enum):
    """Where a run stands: still going, done, stopped by a signal, or found dead by a later reader (its process
    gone without finishing: killed, or its machine lost)."""

    RUNNING = "running"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"
    ABANDONED = "abandoned"


# Worst first: the order used wherever statuses are summarised.
SEVERITY = (Status.FAILED, Status.ERROR, Status.FLAKY, Status.KNOWN, Status.SKIPPED, Status.PASSED)
# The statuses that fail a run: a flaky test fails it too (a known failure does not).
FAILING = (Status.FAILED, Status.ERROR, Status.FLAKY)


def worst(statuses: list[Status]) -> Status:
    return min(statuses, key=SEVERITY.index) if statuses else Status.PASSED


@dataclass(frozen=True)
class Subtest:
    """One result inside a test: a TAP test of the module's own scripts (`ioctl.sh/big write`), a KUnit case
    (`suite/case`, `suite/case/param`)."""

    __test__ = False  # not a pytest test class

    name: str  # its path inside the test, names joined by /
    status: Status
    message: str = ""  # why it failed, was skipped or did not run ("" when it passed and said nothing)

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status.value, "message": self.message}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Subtest:
        return cls(data["name"], Status(data["status"]), data.get("message", ""))


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
    subtests: tuple[Subtest, ...] = ()  # the results inside it (module_tests: each TAP test, each KUnit case)
    # the titles of the kernel's reports it is charged with (toolkit/report_titles.py), the first the one its
    # message names; empty when it has none, and in runs from before titles were recorded
    report_titles: tuple[str, ...] = ()
    # the reason of the known-failure entry that covers it (toolkit/known_failures.py): status known when it was
    # red, passed when it is fixed? (the entry may go); "" when no entry covers it
    known_failure: str = ""
    # kernel_log with each of the module's code addresses followed by its place in the source (`leaky.c:13
    # (leaky_init)`); empty when none was found, and in runs from before places were found
    kernel_log_symbolized: tuple[str, ...] = ()

    @property
    def fixed(self) -> bool:
        """Whether it passed though an entry lists it as a known failure: `fixed?`."""
        return self.status is Status.PASSED and bool(self.known_failure)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        data["duration_s"] = round(self.duration_s, 3)
        data["kernel_log"] = list(self.kernel_log)
        if not self.started:
            del data["started"]
        data["subtests"] = [subtest.to_dict() for subtest in self.subtests]
        if not self.subtests:
            del data["subtests"]
        data["report_titles"] = list(self.report_titles)
        if not self.report_titles:
            del data["report_titles"]
        if not self.known_failure:
            del data["known_failure"]
        data["kernel_log_symbolized"] = list(self.kernel_log_symbolized)
        if not self.kernel_log_symbolized:
            del data["kernel_log_symbolized"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestRecord:
        """A test as results.json has it; files from before subtests, report titles or source places were recorded
        have none."""
        return cls(**{**data, "status": Status(data["status"]), "kernel_log": tuple(data.get("kernel_log", ())),
                      "subtests": tuple(Subtest.from_dict(sub) for sub in data.get("subtests", ())),
                      "report_titles": tuple(data.get("report_titles", ())),
                      "kernel_log_symbolized": tuple(data.get("kernel_log_symbolized", ()))})  # fmt: skip

    def subtest_counts(self) -> dict[str, int]:
        """How many of its subtests ended in each status."""
        return {status.value: sum(sub.status is status for sub in self.subtests) for status in Status}


FIXED = "fixed?"  # the verdict word of a known failure that passed


def verdict_word(test: TestRecord) -> str:
    """A test's verdict in one word: its status, or `fixed?` for a known failure that passed."""
    return FIXED if test.fixed else test.status.value


@dataclass(frozen=True)
class SubjectInfo:
    """What a domain's tests ran on: its kind (module, filesystem, ...), name, where it came from, its version."""

    kind: str
    name: str
    source: str
    version: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def as_version1_module(self) -> dict[str, str]:
        return {"name": self.name, "dir": self.source, "srcversion": self.version}

    @classmethod
    def from_version1_module(cls, module: dict[str, str]) -> SubjectInfo:
        return cls("module", module["name"], module.get("dir", ""), module.get("srcversion", ""))


@dataclass(frozen=True)
class SurfaceEntry:
    """One thing a module exposed when it loaded: a device node, a /proc, sysfs or debugfs entry, a network
    interface, a block device, a filesystem type, its parameters."""

    kind: str  # chardev, blockdev, proc, sysfs, debugfs, netdev, filesystem, parameters
    path: str  # the path (a filesystem type: its name)
    mode: str = ""  # as ls shows it, e.g. crw-------


@dataclass(frozen=True)
class SubjectResults:
    """One domain's tests for one subject on one kernel."""

    kernel: str
    kernel_line: str
    provider: str
    accel: str
    subject: SubjectInfo
    domain: str
    tests: tuple[TestRecord, ...]
    kernel_package: str = ""
    debug: str = ""  # the guest's debug tier (toolkit/debug_tiers.py); "" in runs from before tiers
    libvirt_uri: str = ""  # the libvirt host the VM ran on (vagrant provider); "" for the qemu provider
    surface: tuple[SurfaceEntry, ...] = ()  # what the subject exposed when it loaded, once a test found it

    def to_dict(self) -> dict[str, Any]:
        data = {**asdict(self), "subject": self.subject.to_dict(), "tests": [t.to_dict() for t in self.tests]}
        data["surface"] = [asdict(entry) for entry in self.surface]
        if not self.libvirt_uri:
            del data["libvirt_uri"]
        if self.subject.kind == "module":
            data["module"] = self.subject.as_version1_module()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubjectResults:
        fields = {key: value for key, value in data.items() if key != "module"}
        subject = (
            SubjectInfo(**data["subject"]) if "subject" in data else SubjectInfo.from_version1_module(data["module"])
        )
        tests = tuple(TestRecord.from_dict(t) for t in data["tests"])
        surface = tuple(SurfaceEntry(**entry) for entry in data.get("surface", ()))
        return cls(**{**fields, "subject": subject, "tests": tests, "surface": surface})


@dataclass(frozen=True)
class PlannedRun:
    """Tests a run means to give a verdict for: a domain's on one kernel line, for its subject as known before
    the run (the subjects a module directory builds are found as it runs: each gets every test)."""

    kernel_line: str
    domain: str
    provider: str
    subject: SubjectInfo
    tests: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "subject": self.subject.to_dict(), "tests": list(self.tests)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlannedRun:
        return cls(**{**data, "subject": SubjectInfo(**data["subject"]), "tests": tuple(data["tests"])})

    def unrun(self, runs: tuple[SubjectResults, ...], reason: str) -> list[SubjectResults]:
        """runs of this line and domain completed with an error for each planned test they lack (one run for
        the planned subject when there is none), each saying reason; only those that lacked any."""
        mine = [run for run in runs if (run.kernel_line, run.domain) == (self.kernel_line, self.domain)]
        if not mine:
            mine = [SubjectResults("", self.kernel_line, self.provider, "", self.subject, self.domain, ())]
        completed = []
        for run in mine:
            have = {test.name for test in run.tests}
            lacking = tuple(TestRecord(name, Status.ERROR, 0.0, reason) for name in self.tests if name not in have)
            if lacking:
                completed.append(replace(run, tests=(*run.tests, *lacking)))
        return completed


@dataclass(frozen=True)
class RunRecord:
    """One invocation: what it planned, every domain run it made, with when and where, and where it stands."""

    run_id: str
    started: str
    finished: str
    toolkit_version: str
    host: dict[str, Any]
    runs: tuple[SubjectResults, ...]
    state: RunState = RunState.FINISHED
    plan: tuple[PlannedRun, ...] = ()  # empty in runs from before plans were recorded

    @property
    def interrupted(self) -> bool:
        return self.state is RunState.INTERRUPTED

    def summary(self) -> dict[str, int]:
        counts = {status.value: 0 for status in Status}
        for run in self.runs:
            for test in run.tests:
                counts[test.status.value] += 1
        return counts

    def fixed_tests(self) -> int:
        """How many of its tests passed though a known-failure entry covers them (`fixed?`)."""
        return sum(test.fixed for run in self.runs for test in run.tests)

    def distinct_reports(self) -> int:
        """How many different kernel reports its red tests are charged with: a title counts once per kernel line
        and subject, however many tests it turned red."""
        return len({(run.kernel_line, run.domain, run.subject.name, title) for run in self.runs for test in run.tests
                    if test.status in FAILING for title in test.report_titles})  # fmt: skip

    def planned_tests(self) -> int:
        """How many verdicts the plan asks for (each subject found counts its domain's tests)."""
        total = 0
        for planned in self.plan:
            found = sum(
                1 for run in self.runs if (run.kernel_line, run.domain) == (planned.kernel_line, planned.domain)
            )
            total += len(planned.tests) * max(found, 1)
        return total

    def exit_status(self) -> int:
        """0 when the run finished and nothing failed, errored or was flaky, else 1 (a run still going, stopped or
        abandoned is no pass)."""
        counts = self.summary()
        return 1 if any(counts[status.value] for status in FAILING) or self.state is not RunState.FINISHED else 0

    def ended(self, state: RunState, reason: str, finished: str) -> RunRecord:
        """This run in a final state: every planned test it has no verdict for is an error saying reason."""
        completed = {(r.kernel_line, r.domain, r.subject.name): r for r in self.runs}
        for planned in self.plan:
            for run in planned.unrun(self.runs, reason):
                completed[(run.kernel_line, run.domain, run.subject.name)] = run
        return replace(self, runs=tuple(completed.values()), state=state, finished=finished)

    def to_dict(self) -> dict[str, Any]:
        """The contract's form; where the run stands comes first (a reader finds it in the file's first lines)."""
        data = {"schema_version": SCHEMA_VERSION, "run_id": self.run_id, "state": self.state.value,
                "interrupted": self.interrupted, **asdict(self)}  # fmt: skip
        data.update(state=self.state.value, runs=[run.to_dict() for run in self.runs],
                    plan=[planned.to_dict() for planned in self.plan], summary=self.summary())  # fmt: skip
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        derived = ("schema_version", "summary", "interrupted", "state", "plan", "runs")
        fields = {k: v for k, v in data.items() if k not in derived}
        older = RunState.INTERRUPTED if data.get("interrupted") else RunState.FINISHED  # files from before states
        return cls(
            **fields,
            runs=tuple(SubjectResults.from_dict(r) for r in data["runs"]),
            state=RunState(data.get("state", older)),
            plan=tuple(PlannedRun.from_dict(p) for p in data.get("plan", ())),
        )
