"""The domain framework: what a domain declares, and the runner that turns its test cases into records.

A domain declares itself once (a `Domain`): its name, its test cases in order, its options
(a dataclass of `option()` fields, see options.py) and their constraints, how it finds its
subjects on a machine, and what it records about each subject. Test cases return verdicts,
or raise `Finding` from inside a guest step; a case whose prerequisites did not pass is
skipped with the reason; a guest left dirty or unreachable is recovered before the next case.
"""

from __future__ import annotations

import datetime
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from toolkit import kernel_log
from toolkit.config import Settings
from toolkit.domains import host_stalls, lanes, retries
from toolkit.domains.selection import EVERY_TEST, Selection, summarize
from toolkit.errors import UserError
from toolkit.known_failures import NONE_KNOWN, KnownOnKernel
from toolkit.machines.protocol import CommandInterrupted, Machine, MachineError
from toolkit.progress import Progress
from toolkit.results.records import Status, SubjectInfo, Subtest, SurfaceEntry, TestRecord, verdict_word

if TYPE_CHECKING:
    from toolkit.domains.guest import Guest


@dataclass(frozen=True)
class Verdict:
    """What one test case concluded, and the evidence."""

    status: Status
    message: str
    metrics: dict[str, Any] = field(default_factory=dict)
    kernel_log: tuple[str, ...] = ()
    guest_dirty: bool = False
    duration_s: float | None = None  # for work done before the case ran (a shared build)
    subtests: tuple[Subtest, ...] = ()  # the results inside it (a module's own TAP tests, its KUnit cases)
    report_titles: tuple[str, ...] = ()  # the titles of the kernel's reports it is charged with (report_titles.py)
    # kernel_log with the places in the subject's source its code addresses point at (empty when none were found)
    kernel_log_symbolized: tuple[str, ...] = ()

    @classmethod
    def passed(cls, message: str, **metrics: Any) -> Verdict:
        return cls(Status.PASSED, message, metrics)

    @classmethod
    def failed(cls, message: str, kernel_log: Sequence[str] = (), guest_dirty: bool = False,
               report_titles: Sequence[str] = (), **metrics: Any) -> Verdict:  # fmt: skip
        return cls(Status.FAILED, message, metrics, tuple(kernel_log), guest_dirty,
                   report_titles=tuple(report_titles))  # fmt: skip

    @classmethod
    def error(cls, message: str, **metrics: Any) -> Verdict:
        return cls(Status.ERROR, message, metrics)

    @classmethod
    def skipped(cls, reason: str) -> Verdict:
        return cls(Status.SKIPPED, reason)


class Finding(Exception):
    """A verdict reached in the middle of a case (a step hung, the kernel logged a problem)."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.message)
        self.verdict = verdict


@dataclass(frozen=True)
class Health:
    """Whether the guest is fit for the next case, and its vitals (memory, load, the subject's footprint)."""

    ok: bool
    vitals: dict[str, Any] = field(default_factory=dict)
    reason: str = ""  # why it is unfit, when it is


class Subject(Protocol):
    """What the cases of a domain work on; it knows how to bring its guest back to a clean state."""

    @property
    def info(self) -> SubjectInfo: ...

    @property
    def surface(self) -> tuple[SurfaceEntry, ...]:
        """What the subject exposed when it loaded, once a test found it (empty until then)."""
        ...

    def health(self) -> Health: ...

    def recover(self) -> str: ...

    def evidence(self) -> list[str]: ...

    def audit(self, case: str) -> Verdict | None:
        """After a case that passed: what the guest's own checks find now (slab corruption under a debug
        tier), as the verdict that replaces the pass, or None when they find nothing."""
        ...

    def symbolize(self, verdict: Verdict) -> Verdict:
        """A red verdict with the places in the subject's source its message and kernel log point at
        (`leaky.c:13 (leaky_init)`), when it has a source to point into."""
        ...

    def on(self, guest: Guest) -> Subject:
        """The same subject prepared on another guest (a second one from the same ready snapshot), with nothing
        of what the cases learned on this one."""
        ...


S = TypeVar("S", bound=Subject, contravariant=True)


class TestCase(Protocol[S]):
    """One test: its name, the tests that must pass first, and what it does to a subject.

    A case that hands something on to a later one sets it on the subject and says so (`hands`: the subject's
    attributes it sets); the later case names it (`uses`: earlier cases whose hand-off it reads when they ran)
    and works without it when they did not. The domain checks the declarations when it registers. A case whose
    verdict judges work done once before the cases ran (the shared build) says `retried = False`: a retry on a
    restored guest could not change it.
    """

    @property
    def name(self) -> str: ...

    @property
    def needs(self) -> tuple[str, ...]: ...

    def run(self, subject: S) -> Verdict: ...


@dataclass(frozen=True)
class Target:
    """Where a domain's subjects live: a running machine, its kernel, a folder for files of the run."""

    machine: Machine
    kernel_release: str
    work_dir: Path
    progress: Progress
    debug: str = "off"  # the guest's debug tier (toolkit/debug_tiers.py)
    slowdown: float = 1.0  # how much slower than a stock kernel (debug kernels): scales guest timeouts

    def guest(self) -> Guest:
        """The machine as the tests see it, every timeout scaled by the kernel's slowdown."""
        from toolkit.domains.guest import Guest  # guest.py builds on this module's verdicts: imported when used

        return Guest(self.machine, slowdown=self.slowdown)


OptionsT = TypeVar("OptionsT")


@dataclass(frozen=True)
class Domain(Generic[OptionsT]):
    """A domain as it registers itself: everything the runner, results and commands need to know."""

    name: str
    summary: str
    cases: tuple[TestCase[Any], ...]
    options: type[OptionsT]
    subjects: Callable[[Target, OptionsT], Iterator[Subject]]
    describe: Callable[
        [OptionsT], SubjectInfo
    ]  # the subject as known before anything ran (for a line that cannot start)
    constraints: Callable[[OptionsT, Settings], list[str]] = lambda options, settings: []
    # --quick: the options a quick run changes, and to what (fewer rounds, shorter watches; never a detector)
    quick: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Each case's `needs` and `uses` name earlier cases; each case used hands something on."""
        earlier: dict[str, TestCase[Any]] = {}
        for case in self.cases:
            for name in (*case.needs, *getattr(case, "uses", ())):
                if name not in earlier:
                    raise ValueError(f"{self.name}: {case.name} names {name}, which is not an earlier case")
            for name in getattr(case, "uses", ()):
                if not getattr(earlier[name], "hands", ()):
                    raise ValueError(f"{self.name}: {case.name} uses {name}, which declares nothing it hands on")
            earlier[case.name] = case

    @property
    def test_names(self) -> tuple[str, ...]:
        return tuple(case.name for case in self.cases)


def _blocked_by(case: TestCase[Any], done: dict[str, TestRecord]) -> str | None:
    for need in case.needs:
        record = done.get(need)
        if record is None:
            return f"needs {need}, which did not run"
        if record.status is Status.SKIPPED:
            return record.message
        if record.status not in (Status.PASSED, Status.FLAKY):  # a flaky one passed last, on the guest now
            return f"needs {need} to pass ({need} {record.status.value}: {record.message.splitlines()[0]})"
    return None


def _verdict(case: TestCase[Any], subject: Subject) -> Verdict:
    try:
        return case.run(subject)
    except Finding as finding:
        return finding.verdict
    except MachineError as error:
        return _guest_trouble(error, subject)


def _audited(case: TestCase[Any], subject: Subject, passed: Verdict) -> Verdict:
    """A passed case stays passed unless the subject's audit finds something (its figures kept)."""
    try:
        found = subject.audit(case.name)
    except Finding as finding:
        found = finding.verdict
    except MachineError as error:
        found = _guest_trouble(error, subject)
    if found is None:
        return passed
    return replace(found, metrics={**passed.metrics, **found.metrics}, duration_s=passed.duration_s,
                   subtests=found.subtests or passed.subtests)  # fmt: skip


def _left_unfit(subject: Subject, health: Health, passed: Verdict) -> Verdict:
    """A case that passed but left the guest unfit (wedged after it returned, the subject stuck): not a pass.

    Failed when the console shows the kernel in trouble, an error when nothing tells why.
    """
    evidence = tuple(subject.evidence())
    problems = kernel_log.classify(evidence)
    what = f"the guest was left unfit after the test ({health.reason or 'it failed its health check'})"
    if problems:
        kinds = sorted({problem.kind for problem in problems})
        message = f"{what}: {problems[0].title}"
        return Verdict(Status.FAILED, message, {**passed.metrics, "problems": kinds}, evidence, True,
                       subtests=passed.subtests, report_titles=kernel_log.titles(problems))  # fmt: skip
    return Verdict(Status.ERROR, what, passed.metrics, evidence, guest_dirty=True, subtests=passed.subtests)


def _guest_trouble(error: MachineError, subject: Subject) -> Verdict:
    """The guest failed a call mid-case: failed when its console shows the kernel in trouble (the subject
    wedged it), an error when nothing tells why."""
    detail = f" (command: {error.command})" if error.command else ""
    evidence = tuple(subject.evidence())
    problems = kernel_log.classify(evidence)
    if problems:
        given_up = isinstance(error, CommandInterrupted)
        what = f"{error}, once the kernel reported" if given_up else f"the guest stopped answering ({error})"
        message = f"{what}: {problems[0].title}"
        return Verdict(Status.FAILED, message, {"problems": sorted({p.kind for p in problems})}, evidence, True,
                       report_titles=kernel_log.titles(problems))  # fmt: skip
    return Verdict(Status.ERROR, f"guest trouble: {error}{detail}", {}, evidence, guest_dirty=True)


def same_report(record: TestRecord, earlier: Iterable[TestRecord]) -> TestRecord:
    """record, its message saying so when its first report's title was already charged to an earlier test of the
    subject (one fault, one title: `same report as load (KASAN: ... in mydev_open)`); still red."""
    if not record.report_titles:
        return record
    title = record.report_titles[0]
    first = next((test.name for test in earlier if title in test.report_titles), None)
    return replace(record, message=f"same report as {first} ({title}): {record.message}") if first else record


@dataclass(frozen=True)
class SecondGuest:
    """A second guest for the cases `apart` names (lanes.py): `start` brings it up and gives the subject prepared
    there, `interrupt` gives up its command in flight (from another thread), `stop` ends it, its logs kept (from
    any thread, and again without harm)."""

    apart: tuple[str, ...]
    start: Callable[[], Subject]
    interrupt: Callable[[], None]
    stop: Callable[[], None]
    progress: Progress  # its lines: `[6.1 vexfs, 2nd guest] (10/10) module_tests: passed in 14.2 s`


def case_records(
    cases: Sequence[TestCase[Any]], subject: Subject, progress: Progress, selection: Selection = EVERY_TEST,
    known: KnownOnKernel = NONE_KNOWN, second: SecondGuest | None = None,
) -> Iterator[list[TestRecord]]:  # fmt: skip
    """Run the selected cases in order, as many rounds as asked; skip those whose prerequisites failed; recover
    the guest after trouble. With a second guest (one round only), the cases it takes run there meanwhile; those
    it could not run, here after the others.

    Yields the records so far in the cases' order (rounds summarised), each as the known failures say (known,
    fixed?), after every case, so a caller saves them as they come; a machine lost for good is raised once its
    case's records were yielded. A later case's prerequisites see the records as they ran: a known failure did
    not pass.
    """
    chosen = selection.cases(cases)
    rounds: list[list[TestRecord]] = []
    for round_number in range(1, selection.repeat + 1):
        prefix = f"(run {round_number}/{selection.repeat}) " if selection.repeat > 1 else ""
        run = _Round(chosen, {}, rounds, subject, progress, selection, known, prefix)
        away = _Away(second, run) if second is not None and selection.repeat == 1 else None
        try:
            for case in chosen:
                if away is None or case not in away.cases:
                    yield from run.here(case)
                    if away is not None:
                        away.saw()
                        yield from away.landed(wait=False)
            if away is not None:
                yield from away.landed(wait=True)
                for case in away.returned:
                    yield from run.here(case)
        finally:
            if away is not None:
                away.close()
        rounds.append(run.ordered())


@dataclass(frozen=True)
class _Round:
    """One round of the chosen cases: where their records go, and how one runs on the subject's guest."""

    chosen: Sequence[TestCase[Any]]
    done: dict[str, TestRecord]
    rounds: list[list[TestRecord]]  # the records of the rounds before
    subject: Subject
    progress: Progress
    selection: Selection
    known: KnownOnKernel
    prefix: str

    def what(self, case: TestCase[Any]) -> str:
        return f"{self.prefix}({self.chosen.index(case) + 1}/{len(self.chosen)}) {case.name}"

    def ordered(self) -> list[TestRecord]:
        return [self.done[case.name] for case in self.chosen if case.name in self.done]

    def so_far(self) -> list[TestRecord]:
        """The records so far in the cases' order, rounds summarised, each as the known failures say."""
        return [self.known.judged(summary) for summary in summarize([*self.rounds, self.ordered()])]

    def land(self, case: TestCase[Any], record: TestRecord) -> TestRecord:
        """record kept as case's (saying when an earlier test was charged with its report)."""
        earlier = [other for other in self.ordered() if other.name != case.name]
        self.done[case.name] = record = same_report(record, earlier)
        return record

    def here(self, case: TestCase[Any]) -> Iterator[list[TestRecord]]:
        """case run on the subject's guest (and again, when red, as --retry says)."""
        began = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        reason = _blocked_by(case, self.done)
        with self.progress.beating(self.what(case)):
            record, lost = _record(case, self.subject, reason, began)
        record = self.land(case, record)
        yield self.so_far()
        if lost is not None:
            raise lost  # the verdict is saved; the machine is gone for the cases after it
        shown = self.known.judged(record)
        _say_verdict(self.progress, self.what(case), shown)
        if self.selection.retry and retries.worth_retrying(case, shown):
            for retried, lost in _retried(case, record, self.chosen, self.done, self.subject, self.progress,
                                          self.selection.retry):  # fmt: skip
                self.done[case.name] = retried
                yield self.so_far()
                if lost is not None:
                    raise lost


CLOSE_WAIT_S = 60.0  # for a second guest's case given up to end (its recovery included) as the run stops


class _Away:
    """The cases a second guest takes, run there in a thread of their own, each once the first guest's verdicts
    on its needs say it may run, after those of its prerequisites that have not passed there yet ran again; their
    records land in a queue."""

    def __init__(self, second: SecondGuest, run: _Round) -> None:
        self.second, self.run = second, run
        self.cases = [case for case in run.chosen if case.name in second.apart]
        self.returned: list[TestCase[Any]] = []  # the cases it could not run: the first guest runs them last
        self.sent: set[str] = set()  # the cases whose records it queued
        self.passed_here: set[str] = set()  # the prerequisites that ran again there and passed
        self.queue: queue.Queue[tuple[TestCase[Any], TestRecord] | None] = queue.Queue()
        self.changed = threading.Condition()
        self.closing = False
        self.finished = False  # its thread said it is done
        self.failure: BaseException | None = None  # what ended its thread, when no machine's error did
        self.thread = threading.Thread(target=self.work, name="second guest", daemon=True)
        self.thread.start()

    def saw(self) -> None:
        """The first guest recorded a verdict, which a waiting case may need."""
        with self.changed:
            self.changed.notify_all()

    def close(self) -> None:
        """The run ends (early, when the thread still runs): its case given up, its thread left to end (it stops
        the guest, which restarts when the case recovers it), then the guest stopped whatever it did."""
        with self.changed:
            self.closing = True
            self.changed.notify_all()
        self.second.interrupt()
        self.thread.join(CLOSE_WAIT_S)
        self.second.stop()

    def landed(self, wait: bool) -> Iterator[list[TestRecord]]:
        """Each record the second guest made since, kept; with wait, until it is done."""
        while not self.finished:
            try:
                landed = self.queue.get(block=wait)
            except queue.Empty:
                return
            if landed is None:
                self.finished = True
                if self.failure is not None:
                    raise self.failure
                return
            case, record = landed
            with self.changed:
                self.run.land(case, record)
            yield self.run.so_far()

    def work(self) -> None:
        """The second guest's cases in turn; whatever ends it, its guest stopped and its end queued (an error
        that is no machine's, kept for the run to raise)."""
        try:
            self.run_cases()
            self.second.stop()
        except BaseException as error:  # raised again in the run's thread, by landed
            self.failure = error
            self.second.stop()
        finally:
            self.queue.put(None)

    def run_cases(self) -> None:
        try:
            subject = self.second.start()
        except (MachineError, UserError) as error:
            self.second.progress.say(f"no second guest ({error}): the first runs {', '.join(self.second.apart)}")
            self.returned = list(self.cases)
            return
        try:
            for number, case in enumerate(self.cases):
                ran = self.one(case, subject)
                if ran is not True:
                    self.returned = self.cases[number + (ran is None) :]
                    return
        except MachineError as error:  # lost; or stopped as the run ends, when nothing is left to run
            if not self.closing:
                self.second.progress.say(f"the second guest was lost ({error}): the first runs what it had left")
            self.returned = [case for case in self.cases if case.name not in self.sent]

    def needs_met(self, case: TestCase[Any]) -> dict[str, TestRecord] | None:
        """The records once every need of case has one (None: the run is closing)."""
        with self.changed:
            while not self.closing and not all(need in self.run.done for need in case.needs):
                self.changed.wait(1.0)
            return None if self.closing else dict(self.run.done)

    def one(self, case: TestCase[Any], subject: Subject) -> bool | None:
        """case on the second guest: True when it ran and the guest goes on; None when it ran but the guest was
        lost; False when it did not run (a prerequisite red there, the run closing). As on the first guest, a case
        meets the guest the case before left, recovered when that one left it dirty."""
        done = self.needs_met(case)
        if done is None:
            return False
        began = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        reason = _blocked_by(case, done)
        if reason is None:
            for prerequisite in lanes.prerequisites(case, self.run.chosen):
                if prerequisite.name in self.passed_here:
                    continue
                record, lost = _record(prerequisite, subject, None, began)
                if lost is not None or record.status is not Status.PASSED:
                    return False
                self.passed_here.add(prerequisite.name)
        with self.second.progress.beating(self.run.what(case)):
            record, lost = _record(case, subject, reason, began)
        record = _on_second_guest(record)
        self.queue.put((case, record))
        self.sent.add(case.name)
        shown = self.run.known.judged(record)
        _say_verdict(self.second.progress, self.run.what(case), shown)
        if lost is None and self.run.selection.retry and retries.worth_retrying(case, shown):
            for retried, lost_then in _retried(case, record, self.run.chosen, done, subject, self.second.progress,
                                               self.run.selection.retry):  # fmt: skip
                self.queue.put((case, _on_second_guest(retried)))
                lost = lost_then
        return None if lost is not None else True


def _on_second_guest(record: TestRecord) -> TestRecord:
    """A record made on a second guest, saying so (`metrics.second_guest`: its logs are in second-guest/)."""
    return replace(record, metrics={**record.metrics, "second_guest": True})


def _say_verdict(progress: Progress, what: str, record: TestRecord) -> None:
    progress.say(
        f"{what}: {progress.verdict(verdict_word(record))} in {record.duration_s:.1f} s"
        + (f" - {record.message.splitlines()[0]}" if record.status is not Status.PASSED or record.fixed else "")
    )


def _retried(
    case: TestCase[Any], first: TestRecord, cases: Sequence[TestCase[Any]], done: dict[str, TestRecord],
    subject: Subject, progress: Progress, times: int,
) -> Iterator[tuple[TestRecord, MachineError | None]]:  # fmt: skip
    """A red case run again, up to `times` times until it passes, each time on a restored guest with its
    prerequisites run first; after each attempt, its record summing the attempts up so far, and the error that
    lost the machine if one did (then no attempt follows)."""
    before = retries.prerequisites(case, cases, done)
    attempts, restore_s = [first], 0.0
    for number in range(1, times + 1):
        what = f"(retry {number}/{times}) {case.name}"
        started = time.monotonic()
        with progress.beating(what):
            attempt, lost = _attempt(case, before, subject)
        restore_s += max(0.0, time.monotonic() - started - attempt.duration_s)
        attempts.append(attempt)
        yield retries.summary(attempts, restore_s), lost
        if lost is not None:
            return
        _say_verdict(progress, what, attempt)
        if attempt.status is Status.PASSED:
            return


def _attempt(
    case: TestCase[Any], before: Sequence[TestCase[Any]], subject: Subject
) -> tuple[TestRecord, MachineError | None]:
    """case run once more on a guest rolled back to its ready snapshot, after the cases before it (each of which
    must pass again); with the error that lost the machine, if one did."""
    began = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    try:
        subject.recover()
    except MachineError as error:
        return TestRecord(case.name, Status.SKIPPED, 0.0, f"the guest could not be restored for it: {error}",
                          started=began), error  # fmt: skip
    for prerequisite in before:
        record, lost = _record(prerequisite, subject, None, began)
        if lost is not None or record.status is not Status.PASSED:
            return retries.blocked_attempt(case.name, record, began), lost
    return _record(case, subject, None, began)


def every_record(
    cases: Sequence[TestCase[Any]], subject: Subject, progress: Progress, selection: Selection = EVERY_TEST,
    known: KnownOnKernel = NONE_KNOWN,
) -> list[TestRecord]:  # fmt: skip
    """Every selected case's record once all ran: `case_records` to its end."""
    every = list(case_records(cases, subject, progress, selection, known))
    return every[-1] if every else []


def _record(
    case: TestCase[Any], subject: Subject, skip_reason: str | None, began: str
) -> tuple[TestRecord, MachineError | None]:
    """One case run (or skipped for skip_reason), audited, its guest checked and recovered after trouble; with
    the error that kept the guest from being recovered, if one did."""
    started = time.monotonic()
    verdict = Verdict.skipped(skip_reason) if skip_reason else _verdict(case, subject)
    if verdict.status is Status.PASSED and not verdict.guest_dirty:
        verdict = _audited(case, subject, verdict)
    if verdict.status in (Status.FAILED, Status.ERROR):
        verdict = subject.symbolize(verdict)
    duration = verdict.duration_s if verdict.duration_s is not None else time.monotonic() - started
    message, metrics = verdict.message, dict(verdict.metrics)
    health = subject.health() if verdict.status is not Status.SKIPPED and not verdict.guest_dirty else None
    if health is not None and health.vitals:
        metrics["guest"] = health.vitals
    if health is not None and not health.ok and verdict.status is Status.PASSED:
        verdict = _left_unfit(subject, health, verdict)
        message, metrics = verdict.message, {**metrics, **verdict.metrics}
    if verdict.status is Status.FAILED:  # red only by stalls an overloaded host may have caused: not judged
        verdict = host_stalls.judged(replace(verdict, message=message, metrics=metrics), subject.info.name,
                                     *host_stalls.host_load())  # fmt: skip
        message = verdict.message
    lost = None
    if verdict.guest_dirty or (health is not None and not health.ok):
        try:
            message += f" [{subject.recover()}]"
        except MachineError as error:
            message += f" [the guest could not be recovered: {error}]"
            lost = error
    record = TestRecord(case.name, verdict.status, duration, message, metrics, verdict.kernel_log, began,
                        verdict.subtests, verdict.report_titles,
                        kernel_log_symbolized=verdict.kernel_log_symbolized)  # fmt: skip
    return record, lost
