"""interfaces: what the module exposes when it loads (device nodes, /proc, sysfs and debugfs files, network
interfaces, block devices, filesystem types), found by comparing the system before and after insmod, and each
path walked once, with good and bad input (scripts/exercise.py). Red when the kernel reports a problem while a
path is exercised (the report names the path), when an unknown ioctl or a NULL argument is accepted, or when the
module cannot be unloaded afterwards."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import Any

from toolkit.domains.base import Finding, Verdict
from toolkit.domains.guest import GUEST_DIR, problem_verdict
from toolkit.domains.module import exercised
from toolkit.domains.module.subject import EXERCISE, IOCTLS_FILE, ModuleUnderTest
from toolkit.results.records import SurfaceEntry

MARK = "vexfs-vmtest: exercising "  # exercise.py writes it to the kernel log before each path
BEFORE = f"{GUEST_DIR}/surface-before.json"
UNLOADING = "(rmmod)"  # marked before the module is unloaded: a report after it is rmmod's


def command(subject: ModuleUnderTest, budget_s: float) -> str:
    """The guest command: the system's surface noted, insmod, the walk, rmmod."""
    walk = shlex.join(["walk", BEFORE, subject.name, f"{GUEST_DIR}/{IOCTLS_FILE}", f"{budget_s:g}"])
    return (
        f"{EXERCISE} snapshot {BEFORE} && {subject.insmod_command()} && {EXERCISE} {walk}; "
        f"status=$?; echo '{MARK}{UNLOADING}' >/dev/kmsg; rmmod {subject.name} || exit 3; exit $status"
    )


def culprit(log: tuple[str, ...] | list[str], first_line: str) -> str:
    """The path being exercised when the kernel reported the problem whose report begins with first_line, from the
    marks before it ("" when no mark came before it)."""
    exercising = ""
    for line in log:
        if MARK in line:
            exercising = line.split(MARK, 1)[1].strip()
        elif first_line in line:
            break
    return exercising


class Interfaces:
    name = "interfaces"
    needs = ("load", "unload")

    def run(self, subject: ModuleUnderTest) -> Verdict:
        budget_s = subject.options.exercise_s
        step = subject.guest.step("exercising what the module exposes", command(subject, budget_s),
                                  60 + 3 * budget_s, judge=False)  # fmt: skip
        problems = step.problems
        if problems:
            where = culprit(step.log, problems[0].line)
            what = "rmmod after the walk" if where == UNLOADING else f"exercising {where or 'what the module exposes'}"
            raise Finding(problem_verdict(f"{what} logged a problem", problems))
        if step.result.exit_status == 3:
            return Verdict.failed(f"rmmod failed after the walk: {step.result.stderr.strip()}", guest_dirty=True)
        try:
            walked = json.loads(step.result.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            tail = (step.result.stderr or step.result.stdout).strip().splitlines()[-3:]
            return Verdict.error(f"the walk did not report (exit {step.result.exit_status}): {' | '.join(tail)}")
        subject.surface = tuple(SurfaceEntry(**entry) for entry in walked["surface"])
        return verdict(walked, budget_s)


def verdict(walked: Mapping[str, Any], budget_s: float) -> Verdict:
    """What the walk's report means: red for an input that should have been refused, else what was done."""
    paths = exercised.walked(walked.get("paths", {}))
    metrics = {
        "surface": walked["surface"],
        "paths": exercised.totals(paths),
        "key_metric": f"{len(walked['surface'])} entries, {len(paths)} paths",
    }
    if walked["wrong"]:
        more = f" (and {len(walked['wrong']) - 1} more)" if len(walked["wrong"]) > 1 else ""
        return Verdict.failed(f"{walked['wrong'][0]}{more}", **metrics)
    if not walked["surface"]:
        return Verdict.passed(
            "the module exposes nothing to exercise: no device, /proc, sysfs or debugfs entry, network interface, "
            "block device or filesystem appeared when it loaded", **metrics,
        )  # fmt: skip
    unreached = walked["out_of_time"]
    late = f"; {len(unreached)} paths not reached within {budget_s:g} s" if unreached else ""
    said = exercised.said(paths) or "nothing it exposes could be opened"
    return Verdict.passed(said + late, **metrics)
