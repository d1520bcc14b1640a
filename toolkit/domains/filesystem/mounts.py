"""build and mount_cycles: the filesystem's module built for the guest's kernel, then mounted over and over."""

from __future__ import annotations

from typing import Any

from toolkit.domains.base import Verdict
from toolkit.domains.filesystem.subject import UNFORMATTED, WRITE_REFUSAL, FilesystemUnderTest
from toolkit.domains.module.build_case import Build as BuildModule
from toolkit.results.records import Status

BAD_OPTION_ERRNO = "errno:EINVAL"


class Build:
    name = "build"
    needs: tuple[str, ...] = ()
    retried = False  # it judges the build made once before the cases ran: a restored guest cannot change that

    def run(self, subject: FilesystemUnderTest) -> Verdict:
        if subject.options.builtin:
            return Verdict.passed(
                f"{subject.fs_type} is built into {subject.kernel_release}: nothing to build", key_metric="built in"
            )
        built = BuildModule().run(subject.module)
        if built.status is not Status.PASSED:
            return built
        registered = registers(subject)
        if registered is None or subject.fs_type in registered:
            return built
        said = ", ".join(registered) or "none"
        return Verdict.skipped(
            f"{subject.module.name} registers no filesystem {subject.fs_type} (it registers {said}): nothing for the "
            "filesystem domain to test; give --fs-type with a type it registers, or leave this domain out "
            "(--domains kernel_module)"
        )


def registers(subject: FilesystemUnderTest) -> list[str] | None:
    """The filesystem types the module adds to /proc/filesystems as it loads (None: it did not load; the tests
    will say why)."""
    types = "awk '{ print $NF }' /proc/filesystems"
    command = (f"before=$({types}) && {subject.module.insmod_command()} && after=$({types}) && "
               f"rmmod {subject.module.name} && echo $before && echo $after")  # fmt: skip
    loaded = subject.guest.root(command, timeout=subject.module.options.load_timeout_s * 2)
    lines = loaded.stdout.splitlines()
    if not loaded.ok or len(lines) != 2:
        subject.module.unload_quietly()
        return None
    before = set(lines[0].split())
    return [name for name in lines[1].split() if name not in before]


class MountCycles:
    name = "mount_cycles"
    needs = ("build",)

    def run(self, subject: FilesystemUnderTest) -> Verdict:
        cycles, bad = subject.options.mount_cycles, subject.profile.bad_options
        command = subject.script("mount-cycles.sh", CYCLES=cycles, BAD_OPTIONS=" ".join(bad))
        step = subject.step(f"{cycles} mount/umount cycles", command, 60 + 10 * cycles)
        values = step.values()
        done = int(values.get("cycles", "0"))
        refused = {
            words[1]: words[2] for words in (line.split() for line in step.result.stdout.splitlines())
            if len(words) == 3 and words[0] == "bad"
        }  # fmt: skip
        refusal = subject.notes[WRITE_REFUSAL] = values.get("refused", "")
        per_cycle_ms = step.result.duration_s * 1000 / max(done, 1)
        metrics: dict[str, Any] = {
            "cycles": done, "bad_options": refused, "key_metric": f"{done}x, {per_cycle_ms:.0f} ms/cycle",
        }  # fmt: skip
        if values.get("failed") == "unformatted":
            subject.notes[UNFORMATTED] = step.result.stderr
            return subject.unformatted(f"{cycles} mount/umount cycles", step.result.stderr)
        if "failed" in values:
            detail = (step.result.stderr.strip().splitlines() or [""])[-1]
            return Verdict.failed(
                f"{values['failed']} failed in cycle {done} of {cycles}" + (f": {detail}" if detail else ""),
                step.log,
                **metrics,
            )
        wrong = [f"-o {option}: {refused.get(option, 'not tried')}" for option in bad
                 if refused.get(option) != BAD_OPTION_ERRNO]  # fmt: skip
        if wrong:
            return Verdict.failed(f"bad mount options not refused with EINVAL: {'; '.join(wrong)}", **metrics)
        cycled = (f"{done} mount/list/umount cycles ({subject.fs_type} refused to create a file: {refusal})" if refusal
                  else f"{done} mount/write/read/umount cycles")  # fmt: skip
        return Verdict.passed(f"{cycled}; bad options refused with EINVAL: {', '.join(bad)}", **metrics)
