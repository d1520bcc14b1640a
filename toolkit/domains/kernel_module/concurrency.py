"""concurrency: racing loads and unloads, then many users of what the module exposes, for a while.

The users keep the module loaded and busy for `watch_s` without a break, under the watchdogs
the guest runs with: that window is also what hang_detection needs, so it need not wait again.
"""

from __future__ import annotations

from toolkit.domains.base import Verdict
from toolkit.domains.kernel_module.subject import ModuleUnderTest

RACERS = 4
USERS = 8


def use_of(output: str, values: dict[str, str], filesystems: list[str]) -> str:
    """What the users did, with counts (users.sh's `COUNT what` lines), or that they found nothing to use."""
    counts = {word: int(count) for count, word in (line.split() for line in output.splitlines() if
                                                   len(line.split()) == 2 and line.split()[0].isdigit())}  # fmt: skip
    on = ", ".join(filesystems)
    done = [
        f"{counts['parameters_read']} reads of its {values.get('parameters', '?')} parameters"
        if counts.get("parameters_read") else "",
        f"{counts['filesystem_walk']} walks of {on}" if counts.get("filesystem_walk") else "",
        f"{counts['extra_mount']} extra mounts of {on}" if counts.get("extra_mount") else "",
    ]  # fmt: skip
    said = ", ".join(part for part in done if part)
    return said or "they found nothing of the module to use (no parameters, no filesystem), it only stayed loaded"


class Concurrency:
    name = "concurrency"
    needs = ("unload",)

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
            if "error" in step.result.stdout:
                return Verdict.failed(f"{what}: operations failed: {step.result.stdout.strip()}", guest_dirty=True)
        watched = float(step.values().get("watched_s", "0"))  # the users' step, the last one
        if subject.loaded():
            return Verdict.failed("the module is still loaded after the last racer unloaded it", guest_dirty=True)
        subject.watched_s = max(subject.watched_s, watched)
        subject.use = use_of(step.result.stdout, step.values(), subject.filesystems)
        return Verdict.passed(
            f"{RACERS} racers x {options.race_rounds} load/unload rounds, then {USERS} users for {watched:.0f} s: "
            f"{subject.use}: no kernel problem",
            racers=RACERS,
            race_rounds=options.race_rounds,
            users=USERS,
            watched_s=watched,
            key_metric=f"{RACERS} racers, {USERS} users",
        )
