"""The filesystem under test in its guest: its options, what is known of its type, the scripts that use it.

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
from toolkit.domains.guest import Guest, Step, parameters_verdict, script_command
from toolkit.domains.module.options import (
    ModuleOptions,
    build_in_option,
    build_timeout_option,
    keep_build_option,
    module_dir_option,
    params_option,
)
from toolkit.domains.module.subject import ModuleUnderTest, vitals
from toolkit.domains.options import option
from toolkit.machines.protocol import MachineError
from toolkit.results.records import SubjectInfo, SurfaceEntry

SCRIPTS = Path(__file__).with_name("scripts")
GUEST_SCRIPTS = "fs"  # under the guest's scripts folder, apart from the module scripts
MOUNT_POINT = "/mnt/vexfs-vmtest-fs"
IMAGE = "/tmp/vexfs-vmtest-fs.img"  # /tmp is a tmpfs in the boxes: the loop device is as fast as memory
BUSY_INODES = "VFS: Busy inodes after unmount"


@dataclass(frozen=True)
class Profile:
    """What the tests know of a filesystem type beyond what it tells at run time."""

    builtin: bool = False  # in the kernel itself: nothing to build or load
    bad_options: tuple[str, ...] = ("vexfs_vmtest_bogus=1",)  # each must make mount fail with EINVAL
    limits: str | None = None  # mount options setting a files and a bytes limit ({files}, {bytes})
    inode_cache: str | None = None  # the slab cache of its inodes (built-ins: what the memory test counts)
    vectors: bool = False  # VexFS's user.vexfs.vec and k-nearest query


PROFILES = {
    "vexfs": Profile(
        bad_options=("vexfs_vmtest_bogus=1", "dim=0", "dim=4097", "vtype=int32", "max_files=-1", "max_bytes=12Q"),
        limits="max_files={files},max_bytes={bytes}",
        vectors=True,
    ),
    "tmpfs": Profile(
        builtin=True,
        bad_options=("vexfs_vmtest_bogus=1", "size=12Q", "nr_inodes=x"),
        limits="nr_inodes={files},size={bytes}",
        inode_cache="shmem_inode_cache",
    ),
    "ext4": Profile(
        builtin=True, bad_options=("vexfs_vmtest_bogus=1", "data=bogus", "commit=x"), inode_cache="ext4_inode_cache"
    ),
}


def profile(fs_type: str) -> Profile:
    """The profile of fs_type; an unknown type is a module's, with the generic checks."""
    return PROFILES.get(fs_type, Profile())


@dataclass(frozen=True)
class FsOptions:
    """Which filesystem, from which module, mounted how; how hard to push it."""

    module_dir: Path = module_dir_option()
    fs_type: str = option(
        "vexfs", "filesystem type to test: one the module registers, or tmpfs or ext4 (built in: no module)"
    )
    mount_options: str | None = option(None, "options for every mount (mount -o), e.g. max_files=1000,dim=16")
    fs_limits: str | None = option(
        None,
        "mount options setting a files and a bytes limit, with {files} and {bytes} in place of the numbers, "
        "e.g. max_files={files},max_bytes={bytes} (default: the type's own, if known)",
    )
    params: tuple[str, ...] = params_option()
    build_in: str = build_in_option()
    mount_cycles: int = option(10, "mount/umount cycles for mount_cycles", minimum=1, maximum=100_000)
    stress_s: int = option(
        20, "seconds stress-ng runs its filesystem stressors", minimum=1, maximum=86_400, flag="stress-seconds"
    )  # at most a day
    keep_build: bool = keep_build_option()
    image_mib: int = option(
        128, "MiB of the scratch image of a block-backed filesystem", minimum=16, maximum=65_536, cli=False
    )  # at most 64 GiB: a sparse file behind a loop device
    build_timeout_s: float = build_timeout_option()

    @property
    def profile(self) -> Profile:
        return profile(self.fs_type)

    @property
    def builtin(self) -> bool:
        return self.profile.builtin

    @property
    def limits(self) -> str | None:
        """The mount options template setting the limits: --fs-limits when given, else the type's profile's."""
        return self.fs_limits if self.fs_limits is not None else self.profile.limits

    def module_options(self) -> ModuleOptions:
        """The options of this filesystem's module under test (or of its stand-in)."""
        return ModuleOptions(
            module_dir=self.module_dir,
            module=self.fs_type if self.builtin else None,
            params=self.params,
            build_in=self.build_in,
            keep_build=self.keep_build,
            load_timeout_s=60.0,
            build_timeout_s=self.build_timeout_s,
        )


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
