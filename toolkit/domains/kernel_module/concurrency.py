"""concurrency: racing loads and unloads, then many users of what the module exposes, for a while.

The users keep the module loaded and busy for `watch_s` without a break, under the watchdogs
the guest runs with: that window is also what hang_detection needs, so it need not wait again.
"""

from __future__ import annotations

from toolkit.domains.base import Verdict
from toolkit.domains.module import exercised, workload
from toolkit.domains.module.subject import ModuleUnderTest

RACERS = 4
USERS = 8


def use_of(output: str, filesystems: list[str], workload_name: str = "") -> str:
    """What the users did, with counts: what exercise.py did to each path the module exposes, users.sh's
    `COUNT what` lines for its filesystems and the runs of the user's workload; or that they found nothing to use."""
    counts = word_counts(output)
    on = ", ".join(filesystems)
    done = [
        exercised.use_of(output).said(),
        f"{counts['filesystem_walk']} walks of {on}" if counts.get("filesystem_walk") else "",
        f"{counts['extra_mount']} extra mounts of {on}" if counts.get("extra_mount") else "",
        workload.said(output, workload_name),
    ]
    said = "; ".join(part for part in done if part)
    return (
        said
        or "they found nothing the module exposes (no device, file, parameter or filesystem): it only stayed loaded"
    )


def word_counts(output: str) -> dict[str, int]:
    """users.sh's `COUNT what` lines (sort | uniq -c)."""
    pairs = (line.split() for line in output.splitlines())
    return {words[1]: int(words[0]) for words in pairs if len(words) == 2 and words[0].isdigit()}


class Concurrency:
    name = "concurrency"
    needs = ("unload",)
    hands = ("watched_s", "use")  # its users' unbroken watch, and what they did: hang_detection's when long enough

    def run(self, subject: ModuleUnderTest) -> Verdict:
        options = subject.options
        timeout = options.load_timeout_s * 4 + options.watch_s + 120
        use_s = int(options.watch_s)
        for what, script in (
            ("racing load/unload", subject.script("race.sh", RACERS=RACERS, ROUNDS=options.race_rounds)),
            ("parallel use", subject.script("users.sh", USERS=USERS, USE_S=use_s)),
        ):
            step = subject.guest.step(what, script, timeout)
            if not step.ok:
                output = (step.result.stderr or step.result.stdout).strip()
                return Verdict.failed(f"{what} failed (exit {step.result.exit_status}): {output}", guest_dirty=True)
        failed = word_counts(step.result.stdout).get("error", 0)
        if failed:
            return Verdict.failed(f"parallel use: {failed} operations on its filesystems failed", guest_dirty=True)
        workload_failed = workload.failure(step.result.stdout, step.result.stderr, subject.workload_name)
        if workload_failed:
            return Verdict.failed(f"parallel use: {workload_failed}", guest_dirty=True)
        if subject.loaded():
            return Verdict.failed("the module is still loaded after the last racer unloaded it", guest_dirty=True)
        use = exercised.use_of(step.result.stdout)
        if use.users < USERS:
            tail = " | ".join(step.result.stderr.strip().splitlines()[-3:])
            return Verdict.error(f"parallel use: {USERS - use.users} of {USERS} users did not report: {tail}")
        if use.wrong:
            return Verdict.failed(f"parallel use: {use.wrong_said()}", guest_dirty=True)
        watched = float(step.values().get("watched_s", "0"))  # the users' step, the last one
        subject.watched_s = max(subject.watched_s, watched)
        subject.use = use_of(step.result.stdout, subject.filesystems, subject.workload_name)
        return Verdict.passed(
            f"{RACERS} racers x {options.race_rounds} load/unload rounds, then {USERS} users for {watched:.0f} s: "
            f"{subject.use}: no kernel problem",
            racers=RACERS,
            race_rounds=options.race_rounds,
            users=USERS,
            watched_s=watched,
            exercised=exercised.totals(use.paths),
            key_metric=f"{RACERS} racers, {USERS} users",
        )
