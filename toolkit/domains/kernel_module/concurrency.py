"""concurrency: racing loads and unloads, then many threads using what the module exposes."""

from __future__ import annotations

from toolkit.domains.base import Verdict
from toolkit.domains.kernel_module import verdicts
from toolkit.domains.kernel_module.subject import MOUNT_POINT, ModuleUnderTest
from toolkit.machines.base import CommandTimedOut

RACERS = 4
RACE_ROUNDS = 5
USERS = 8
USER_ROUNDS = 6


class Concurrency:
    name = "concurrency"
    needs = ("unload",)

    def _race_script(self, subject: ModuleUnderTest) -> str:
        """RACERS shells loading and unloading at once; EEXIST/ENOENT/EBUSY between them are expected."""
        one = f"i=0; while [ $i -lt {RACE_ROUNDS} ]; do i=$((i+1)); {subject.insmod_command()} 2>/dev/null; rmmod {subject.name} 2>/dev/null; done"
        return f"for r in $(seq {RACERS}); do ( {one} ) & done; wait; rmmod {subject.name} 2>/dev/null; true"

    def _users_script(self, subject: ModuleUnderTest) -> str:
        """USERS readers of the module's parameters and filesystem, plus extra mounts and unmounts."""
        name = subject.name
        parameters = f"/sys/module/{name}/parameters"
        reads = [f"[ ! -d {parameters} ] || cat {parameters}/* >/dev/null"]
        setup, teardown = [f"{subject.insmod_command()}"], [f"rmmod {name}"]
        for index, fs in enumerate(subject.filesystems):
            point = f"{MOUNT_POINT}-{index}"
            setup.append(f"mkdir -p {point} && mount -t {fs} vexfs-vmtest {point}")
            reads.append(
                f"ls -la {point} >/dev/null && find {point} -type f -exec cat {{}} + >/dev/null && stat {point} >/dev/null"
            )
            reads.append(f"mount -t {fs} vexfs-vmtest {point}-x$u 2>/dev/null && umount {point}-x$u")
            setup.append("mkdir -p " + " ".join(f"{point}-x{u}" for u in range(USERS)))
            teardown.insert(0, f"umount {point}")
        body = "; ".join(f"{{ {read}; }} || echo error" for read in reads)
        user = f"j=0; while [ $j -lt {USER_ROUNDS} ]; do j=$((j+1)); {body}; done"
        users = f"for u in $(seq 0 {USERS - 1}); do ( {user} ) & done; wait"
        return f"{' && '.join(setup)} || exit 2; ( {users} ) | sort | uniq -c; {' && '.join(teardown)}"

    def run(self, subject: ModuleUnderTest) -> Verdict:
        timeout = subject.options.load_timeout_s * 4 + 120
        marker = subject.mark("concurrency")
        for what, script in (
            ("racing load/unload", self._race_script(subject)),
            ("parallel use", self._users_script(subject)),
        ):
            try:
                result = subject.root(script, timeout=timeout)
            except CommandTimedOut:
                return verdicts.hung(subject, marker, what, timeout)
            problems = subject.problems_since(marker)
            if problems:
                return verdicts.from_problems(f"{what} logged a problem", problems)
            if not result.ok:
                return Verdict.failed(
                    f"{what} failed (exit {result.exit_status}): {(result.stderr or result.stdout).strip()}",
                    guest_dirty=True,
                )
            if "error" in result.stdout:
                return Verdict.failed(f"{what}: operations failed: {result.stdout.strip()}", guest_dirty=True)
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
