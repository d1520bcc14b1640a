"""The filesystem under test in its guest (its options and what is known of its type: options.py), the scripts
that use it.

A filesystem comes from a module built against the guest's kernel (kernel/vexfs by default) or
is built into the kernel (tmpfs, ext4). Every test sets it up and tears it down itself through
`with-fs.sh` (module in, scratch device when the type needs one, mount, the test's command,
umount, module out), so a test that fails or hangs leaves nothing the next one depends on.
The module's side (its build, insmod, probe, leak tracing, recovery) is the shared
`ModuleUnderTest` (toolkit/domains/module/), as the kernel_module domain's.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from toolkit.boxes.recipe import STATIC_SHELL
from toolkit.domains.base import Finding, Health, Verdict
from toolkit.domains.filesystem.options import FsOptions, Profile
from toolkit.domains.guest import Guest, Step, parameters_verdict, script_command
from toolkit.domains.module.subject import ModuleUnderTest, vitals
from toolkit.machines.protocol import MachineError
from toolkit.results.records import SubjectInfo, SurfaceEntry

SCRIPTS = Path(__file__).with_name("scripts")
GUEST_SCRIPTS = "fs"  # under the guest's scripts folder, apart from the module scripts
MOUNT_POINT = "/mnt/vexfs-vmtest-fs"
IMAGE = "/tmp/vexfs-vmtest-fs.img"  # /tmp is a tmpfs in the boxes: the loop device is as fast as memory
BUSY_INODES = "VFS: Busy inodes after unmount"
WRITE_REFUSAL = "write_refusal"  # the note write_refusal keeps
UNFORMATTED = "unformatted"  # the note of a device nothing formats that did not mount blank: the probe's stderr


@dataclass
class FilesystemUnderTest:
    """A filesystem type, the module behind it (a stand-in without .ko for a built-in one), its guest."""

    guest: Guest
    options: FsOptions
    module: ModuleUnderTest
    kernel_release: str
    work_dir: Path
    debug: str = "off"
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def fs_type(self) -> str:
        return self.options.fs_type

    @property
    def profile(self) -> Profile:
        return self.options.profile

    @property
    def has_module(self) -> bool:
        return self.module.module is not None

    @property
    def surface(self) -> tuple[SurfaceEntry, ...]:
        return self.module.surface

    @property
    def info(self) -> SubjectInfo:
        if self.options.builtin:
            return SubjectInfo("filesystem", self.fs_type, f"built into {self.kernel_release}", "")
        version = self.module.module.srcversion if self.module.module else ""
        return SubjectInfo("filesystem", self.fs_type, str(self.options.module_dir), version)

    def environment(self, **extra: str | int) -> dict[str, str | int]:
        """What the filesystem scripts read (see scripts/common.sh)."""
        return {
            "FS_TYPE": self.fs_type,
            "MOUNT_OPTIONS": self.options.mount_options or "",
            "MODULE": self.module.name if self.has_module else "",
            "KO": self.module.guest_ko if self.has_module else "",
            "IMAGE": IMAGE,
            "IMAGE_MIB": self.options.image_mib,
            "MOUNT_POINT": MOUNT_POINT,
            **extra,
        }

    def script(self, name: str, **env: str | int) -> str:
        """One of this domain's scripts, with the filesystem's environment and the module's parameters."""
        params = self.options.params if self.has_module else ()
        return script_command(f"{GUEST_SCRIPTS}/{name}", *params, env=self.environment(**env))

    def on_fs(self, run: str, **env: str | int) -> str:
        """The command running `run` (a shell command line) on the mounted filesystem."""
        return self.script("with-fs.sh", RUN=run, **env)

    @staticmethod
    def fsops(*args: str | int) -> str:
        """A command line of the guest's fsops.py (run on the filesystem: "$MOUNT_POINT" is its root)."""
        quoted = " ".join('"$MOUNT_POINT"' if arg == "$MOUNT_POINT" else shlex.quote(str(arg)) for arg in args)
        return f'python3 "$FSOPS" {quoted}'

    def step(self, what: str, command: str, timeout: float, **metrics: Any) -> Step:
        """A guest step on the filesystem: trouble setting it up or tearing it down, inodes left busy at umount,
        or module parameters the kernel did not take, end the test."""
        step = self.guest.step(what, command, timeout, **metrics)
        parameters = parameters_verdict(what, step.log, self.module.name, **metrics) if self.has_module else None
        failed = step.values().get("failed")
        detail = (step.result.stderr.strip().splitlines() or [""])[-1]
        if step.result.exit_status == 3 and failed == "unformatted":
            raise Finding(parameters or self.unformatted(what, step.result.stderr))
        if step.result.exit_status == 3 and failed:
            setup = f"{what}: could not set {self.fs_type} up: {failed} failed" + (f": {detail}" if detail else "")
            raise Finding(parameters or Verdict.failed(setup, step.log, **metrics))
        if step.result.exit_status == 4 and failed:
            teardown = f"{what}: {failed} failed after the test" + (f": {detail}" if detail else "")
            raise Finding(Verdict.failed(teardown, step.log, guest_dirty=True, **metrics))
        busy = [line for line in step.log if BUSY_INODES in line]
        if busy:
            raise Finding(Verdict.failed(f"{what}: {busy[0].split('] ')[-1].strip()}", busy, True, **metrics))
        if parameters:
            raise Finding(parameters)
        return step

    def unformatted(self, what: str, stderr: str) -> Verdict:
        """The skip of a test when the filesystem needs a device that nothing here can format: the guest has no
        mkfs for it, and it did not mount a blank one (what mount said, from stderr)."""
        said = [line.strip() for line in stderr.splitlines() if line.strip().startswith("mount:")]
        return Verdict.skipped(
            (f"{what}: " if what else "") + f"{self.fs_type} needs a block device, the guest has no "
            f"mkfs.{self.fs_type} to format one, and it did not mount a blank one" + (f" ({said[-1]})" if said else "")
        )

    def write_refusal(self) -> str:
        """Why the filesystem cannot be written, as the error said it ("" when it can): it refused to create a file
        at the root of a fresh mount with no permission, read-only or not supported. Learned by mount_cycles, else
        by one mount of its own; a Finding (the test skipped) when it needs a device nothing here formats."""
        if WRITE_REFUSAL not in self.notes:
            probe = self.step(
                "a mount to create a file in", self.script("mount-cycles.sh", CYCLES=1, BAD_OPTIONS=""), 70
            )
            self.notes[WRITE_REFUSAL] = probe.values().get("refused", "")
            if probe.values().get("failed") == "unformatted":
                self.notes[UNFORMATTED] = probe.result.stderr
        if UNFORMATTED in self.notes:
            raise Finding(self.unformatted("", str(self.notes[UNFORMATTED])))
        return str(self.notes[WRITE_REFUSAL])

    def unwritable(self, test: str) -> Verdict | None:
        """The skip of a test that writes files, when the filesystem refuses to (write_refusal); else None."""
        refusal = self.write_refusal()
        if not refusal:
            return None
        return Verdict.skipped(f"{self.fs_type} refused to create a file at the root of a fresh mount ({refusal}): "
                               f"{test} needs one it can write files in")  # fmt: skip

    @staticmethod
    def reports(step: Step) -> dict[str, Any]:
        """The JSON objects fsops.py printed during the step, merged."""
        found: dict[str, Any] = {}
        for line in step.result.stdout.splitlines():
            if line.startswith("{"):
                found.update(json.loads(line))
        return found

    def prepare(self) -> None:
        """The module's side first (its scripts, .ko, watchdogs), then this domain's scripts."""
        self.module.prepare()
        self.install()

    def install(self) -> None:
        files = {f"scripts/{GUEST_SCRIPTS}/{path.name}": path for path in sorted(SCRIPTS.iterdir()) if path.is_file()}
        self.guest.install(files, then=f"mkdir -p {MOUNT_POINT}")

    def with_workload(self, workload: str) -> ModuleUnderTest:
        """The module, exercised by workload while the module's tests (memory_leak) trace it."""
        return replace(self.module, workload=workload)

    # what the domain runner needs

    def evidence(self) -> list[str]:
        return self.guest.evidence()

    def audit(self, case: str) -> Verdict | None:
        return self.module.audit(case)

    def symbolize(self, verdict: Verdict) -> Verdict:
        return self.module.symbolize(verdict)

    def health(self) -> Health:
        """Fit when the guest answers, the module is absent or live and nothing is left mounted."""
        probe = f"{script_command('probe.sh', self.module.name, shell=STATIC_SHELL)}; mountpoint -q {MOUNT_POINT} && echo mounted=1"
        try:
            result = self.guest.root(probe, timeout=15)
        except MachineError as error:
            return Health(False, reason=f"it does not answer: {error}")
        state = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
        if state.get("mounted") == "1":
            return Health(False, vitals(state), f"{self.fs_type} is still mounted at {MOUNT_POINT}")
        module_state = state.get("state", "unknown")
        ok = module_state in ("absent", "live")
        return Health(ok, vitals(state), "" if ok else f"the module is {module_state}")

    def on(self, guest: Guest) -> FilesystemUnderTest:
        """The same filesystem prepared on another guest, with nothing of what the cases learned on this one."""
        moved = FilesystemUnderTest(guest, self.options, self.module.on(guest), self.kernel_release, self.work_dir,
                                    self.debug)  # fmt: skip
        moved.install()
        return moved

    def recover(self) -> str:
        how = self.module.recover()
        self.install()
        return how
