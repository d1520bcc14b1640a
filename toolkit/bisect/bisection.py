"""A bisect from start to end, on one warm VM held throughout:

    check everything once       the module's plan, its repository, --good and --bad: before any VM starts
    the bad end, the good end   each must be what it is said to be with the selected tests, else nothing to do
    probe by halves             each step exports a commit into scratch, runs the plan there as a normal run
                                (results/<run-id>/), judges it good, bad or skip
    the answer                  the first bad commit (or the commits it is one of), in bisect.json and bisect.txt

The scratch folder is the toolkit's (in the cache, one per VM, so consecutive commits rebuild only what changed),
removed at the end, after an interruption too; the user's checkout is only read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from toolkit import kernels, pipeline
from toolkit.bisect import judge
from toolkit.bisect.history import Commit, GitFailed, Repository
from toolkit.bisect.judge import Judged
from toolkit.bisect.record import BisectRecord, Step
from toolkit.bisect.search import Judgement, Range
from toolkit.config import Settings
from toolkit.files import remove_tree
from toolkit.interrupts import Interrupted
from toolkit.machines import registry
from toolkit.plans import Plan, check
from toolkit.progress import Progress

BUILD_FILES = ("Makefile", "Kbuild")
SCRATCH = "bisect"  # in the cache: a folder per VM for the tree of the commit being judged
Judge = Callable[[Commit], tuple[Judged, str]]  # a commit's judgement, and the id of the run that made it ("": none)


@dataclass(frozen=True)
class Asked:
    """A bisect as asked for, checked: the plan each step runs, on which VM, over which commits."""

    settings: Settings
    plan: Plan
    vm_name: str
    repository: Repository
    good: Commit
    bad: Commit
    commits: tuple[Commit, ...]  # after good up to bad, oldest first

    @property
    def tests(self) -> tuple[str, ...]:
        return tuple(case.name for case in self.plan.selection.cases(self.plan.domain.cases))


def ask(settings: Settings, plan: Plan, vm_name: str, good: str, bad: str) -> Asked:
    """Everything a bisect needs checked before a VM starts; a UserError for the first thing wrong."""
    check([plan], settings)
    repository = Repository.holding(plan.options.module_dir)
    bad_commit = repository.commit(bad, "--bad")
    good_commit = repository.commit(good, "--good")
    commits = repository.between(good_commit, bad_commit)
    return Asked(settings, plan, vm_name, repository, good_commit, bad_commit, tuple(commits))


def folder_for(settings: Settings, bisect_id: str) -> Path:
    """A bisect's own results folder, beside the runs of its steps."""
    return settings.results_dir / bisect_id


def begun(asked: Asked, bisect_id: str) -> BisectRecord:
    """The record of a bisect about to start: what it was asked, no step yet."""
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return BisectRecord(bisect_id, now, str(asked.repository.top), str(asked.repository.module_path),
                        kernels.select(asked.settings.kernel).name, asked.tests, asked.good, asked.bad,
                        len(asked.commits))  # fmt: skip


def run(asked: Asked, bisect_id: str, progress: Progress) -> BisectRecord:
    """The bisect, its record saved after every step in its folder; on an interruption saved as interrupted."""
    first = latest = begun(asked, bisect_id)
    folder = folder_for(asked.settings, bisect_id)
    with registry.locked(asked.settings, asked.vm_name, "a bisect"), _scratch(asked) as tree:
        try:
            for latest in bisecting(asked, first, functools.partial(_judged, asked, tree), progress):
                latest.save(folder)
        except Interrupted as stop:
            _ended(latest, "interrupted", f"interrupted by {stop}").save(folder)
            raise
        except Exception as error:
            _ended(latest, "stopped", f"stopped by an error ({error})").save(folder)
            raise
    return latest


def _ended(record: BisectRecord, state: str, why: str) -> BisectRecord:
    return replace(record, state=state, conclusion=f"{why} after {len(record.steps)} steps: no answer")


@contextlib.contextmanager
def _scratch(asked: Asked) -> Iterator[Path]:
    """The VM's scratch folder for commits' trees (the VM's lock, held for the bisect, keeps it to one bisect),
    removed after the block."""
    folder = asked.settings.cache_dir / SCRATCH / asked.vm_name
    try:
        yield folder
    finally:
        remove_tree(folder)


def bisecting(asked: Asked, record: BisectRecord, judge: Judge, progress: Progress) -> Iterator[BisectRecord]:
    """The record after each step, each commit judged by judge: the ends checked, then probes by halves, then
    the answer."""
    for role, commit, expected in (("bad end", asked.bad, Judgement.BAD), ("good end", asked.good, Judgement.GOOD)):
        step = _step(commit, role, judge, progress, f"checking the {role}")
        record = record.with_step(step)
        yield record
        if step.judgement is not expected:
            yield replace(record, state="finished", conclusion=_wrong_end(step, expected))
            return
    known = Range.of(asked.commits)
    number = 0
    while (index := known.next_probe()) is not None:
        number += 1
        label = f"step {number}/~{number - 1 + known.steps_left()}"
        step = _step(asked.commits[index], "probe", judge, progress, label)
        known = known.after(index, step.judgement)
        record = record.with_step(step)
        yield record
    suspects = tuple(asked.commits[index] for index in known.suspects())
    yield replace(record, state="finished", suspects=suspects, conclusion=_answer(suspects))


def _step(commit: Commit, role: str, judge: Judge, progress: Progress, label: str) -> Step:
    progress.say(f"{label}: {commit.short} {commit.subject}")
    started = time.monotonic()
    found, run_id = judge(commit)
    progress.say(f"{label}: {commit.short} {commit.subject}: {found.judgement.value}: {found.reason}")
    return Step(role, commit, found.judgement, found.reason, found.title, run_id, time.monotonic() - started)


def _judged(asked: Asked, tree: Path, commit: Commit) -> tuple[Judged, str]:
    """A commit judged by a run of the plan on its tree (and that run's id), or skipped when there is no module
    to build at it."""
    try:
        module_dir = asked.repository.export(commit, tree)
    except GitFailed as failed:
        return Judged(Judgement.SKIP, f"its tree could not be exported: {failed}"), ""
    if not any((module_dir / name).is_file() for name in BUILD_FILES):
        return Judged(Judgement.SKIP, f"no Makefile or Kbuild in {asked.repository.module_path} at this commit"), ""
    options = dataclasses.replace(asked.plan.options, module_dir=module_dir)
    record = pipeline.one_vm(asked.settings, [replace(asked.plan, options=options)], asked.vm_name,
                             asked.settings.results_dir)  # fmt: skip
    return judge.judged(record), record.run_id


def _wrong_end(step: Step, expected: Judgement) -> str:
    flag = "--bad" if expected is Judgement.BAD else "--good"
    if step.judgement is Judgement.SKIP:
        return f"{flag} {step.commit.short} cannot be judged ({step.reason}): give as {flag} a commit that builds"
    if expected is Judgement.BAD:
        return (f"--bad {step.commit.short} is not red with these tests ({step.reason}): nothing to bisect; give as "
                "--bad a commit where they fail")  # fmt: skip
    return f"--good {step.commit.short} is red too ({step.reason}): give an older --good, where the tests pass"


def _answer(suspects: tuple[Commit, ...]) -> str:
    if len(suspects) == 1:
        return f"first bad commit: {suspects[0].sha} {suspects[0].subject}"
    shorts = ", ".join(commit.short for commit in suspects)
    return (f"the first bad commit is one of {len(suspects)}: {shorts} (the commits before the last could not be "
            "judged)")  # fmt: skip
