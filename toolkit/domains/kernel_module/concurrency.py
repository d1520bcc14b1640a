"""concurrency: racing loads and unloads, then many threads using what the module exposes."""

from __future__ import annotations

from toolkit.domains.base import Verdict
from toolkit.domains.kernel_module.subject import ModuleUnderTest

RACERS = 4
RACE_ROUNDS = 5
USERS = 8
USER_ROUNDS = 6


class Concurrency:
    name = "concurrency"
    needs = ("unload",)

    def run(self, subject: ModuleUnderTest) -> Verdict:
        timeout = subject.options.load_timeout_s * 4 + 120
        for what, script in (
            ("racing load/unload", subject.script("race.sh", RACERS=RACERS, ROUNDS=RACE_ROUNDS)),
            ("parallel use", subject.script("users.sh", USERS=USERS, ROUNDS=USER_ROUNDS)),
        ):
            step = subject.guest.step(what, script, timeout)
            if not step.ok:
                output = (step.result.stderr or step.result.stdout).strip()
                return Verdict.failed(f"{what} failed (exit {step.result.exit_status}): {output}", guest_dirty=True)
            if "error" in step.result.stdout:
                return Verdict.failed(f"{what}: operations failed: {step.result.stdout.strip()}", guest_dirty=True)
        if subject.loaded():
            return Verdict.failed("the module is still loaded after the last racer unloaded it", guest_dirty=True)
        users = f"{USERS} users x {USER_ROUNDS} rounds" + (
            f" over {', '.join(subject.filesystems)}" if subject.filesystems else ""
        )
        return Verdict.passed(
            f"{RACERS} racers x {RACE_ROUNDS} load/unload rounds, then {users}: no kernel problem",
            racers=RACERS,
            race_rounds=RACE_ROUNDS,
            users=USERS,
            user_rounds=USER_ROUNDS,
            key_metric=f"{RACERS} racers, {USERS} users",
        )
