"""The module under test in its guest: its guest files, the scripts that use it, recovery.

Every domain testing a module loads it through here: the scripts beside this file (probe, leak
tracing, slab validation, the exerciser) go to every guest, with the testing domain's own.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shlex
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from toolkit import kernel_log
from toolkit.boxes.recipe import STATIC_SHELL
from toolkit.domains.base import Health, Verdict
from toolkit.domains.guest import GUEST_DIR, SCRIPTS_DIR, Guest, problem_verdict, script_command
from toolkit.domains.module import symbols, workload
from toolkit.domains.module.build import BuildOutcome, BuiltModule
from toolkit.domains.module.ioctls import IoctlCommand
from toolkit.domains.module.options import ModuleOptions
from toolkit.machines.protocol import MachineError
from toolkit.results.records import SubjectInfo, SurfaceEntry

SCRIPTS = Path(__file__).with_name("scripts")
MOUNT_POINT = "/mnt/vexfs-vmtest"
IOCTLS_FILE = "ioctls.json"  # in GUEST_DIR: the ioctl commands of the module's sources, for scripts/exercise.py
SURFACE = "/tmp/vexfs-vmtest-surface.json"  # what it exposes (exercise.py surface); SURFACE.before: before insmod
# scripts/exercise.py imported rather than run as a script, so that its bytecode is compiled once per guest, not at
# every run (a quarter of a second under TCG); words after it are its arguments (common.sh's exercise_py)
EXERCISE = f"PYTHONPATH={SCRIPTS_DIR} python3 -c 'import sys, exercise; sys.exit(exercise.main(sys.argv))'"
DEBUGFS = "/sys/kernel/debug"
# The kernel reports hangs itself: hung tasks after 10 s, soft lockups after 2 x 5 s.
WATCHDOG_SYSCTLS = {
    "kernel.hung_task_timeout_secs": "10",
    "kernel.hung_task_warnings": "-1",
    "kernel.watchdog_thresh": "5",
    "kernel.panic_on_oops": "0",
    "kernel.printk": "7 4 1 7",
}

ERRNO_NAMES = {os.strerror(number): name for number, name in errno.errorcode.items()}


def with_errno(message: str) -> str:
    """insmod's message with the errno's name added: 'No such device' -> 'No such device (ENODEV)'."""
    for text, name in ERRNO_NAMES.items():
        if message.rstrip().endswith(text):
            return f"{message.rstrip()} ({name})"
    return message.strip()


VITALS = {"mem_available_kib": int, "slab_unreclaimable_kib": int, "load_1m": float, "module_core_bytes": int}


def vitals(state: dict[str, str]) -> dict[str, float]:
    """The guest's memory and load and the module's size, from probe.sh's report (what it could read)."""
    found: dict[str, float] = {}
    for key, kind in VITALS.items():
        try:
            found[key] = kind(state[key])
        except (KeyError, ValueError):
            continue
    return found


SECTION_AT = re.compile(r"^(?P<name>\.[\w.]+):0x(?P<address>[0-9a-f]{1,16})$")


def loaded_sections(said: str) -> dict[str, int]:
    """probe.sh's `sections=` value (`.text:0xffffffffc0210000 .init.text:0x...`): section -> load address;
    entries that are not a section's name and a 64-bit address skipped."""
    found = (SECTION_AT.match(entry) for entry in said.split())
    return {match["name"]: int(match["address"], 16) for match in found if match}


@dataclass
class ModuleUnderTest:
    """One built module, its guest, and what the tests learn about it as they go."""

    guest: Guest
    options: ModuleOptions
    build: BuildOutcome
    module: BuiltModule | None
    kernel_release: str
    work_dir: Path
    debug: str = "off"
    filesystems: list[str] = field(default_factory=list)
    workload: str = ""  # a guest command using the loaded module instead of mounting its filesystems
    ioctls: tuple[IoctlCommand, ...] = ()  # the ioctl commands its sources define
    surface: tuple[SurfaceEntry, ...] = ()  # what it exposed when it loaded, once interfaces found it
    watched_s: float = 0.0  # the longest the module was loaded and used without a break, its kernel log clean
    use: str = ""  # what concurrency's users did with it, with counts
    domain_scripts: Path | None = None  # the folder of the testing domain's own scripts, installed beside these
    # where its code sections were the last time a probe saw it loaded (/sys/module/NAME/sections): what places
    # the bare addresses of a report made after it was unloaded
    sections: dict[str, int] = field(default_factory=dict)
    # the kernel's jiffies as the first of its tests that reads kmemleak began: objects allocated before are not its
    kmemleak_since: int | None = None

    @property
    def name(self) -> str:
        return self.module.name if self.module else self.options.subject_name

    @property
    def info(self) -> SubjectInfo:
        version = self.module.srcversion if self.module else ""
        return SubjectInfo("module", self.name, str(self.options.module_dir), version)

    @property
    def workload_name(self) -> str:
        """The user's workload's file name ("" without one)."""
        return self.options.workload.name if self.options.workload else ""

    @property
    def guest_ko(self) -> str:
        return f"{GUEST_DIR}/{self.name}.ko"

    def insmod_command(self, ko: str | None = None, params: tuple[str, ...] | None = None) -> str:
        """insmod with the module's parameters, each quoted so it reaches the kernel literally."""
        chosen = self.options.params if params is None else params
        return shlex.join(["insmod", ko or self.guest_ko, *chosen])

    def script(self, name: str, shell: str = "sh", **env: str | int) -> str:
        """A module script (shared or the domain's own) run by shell with the module's environment and its parameters as arguments."""
        base = {
            "MODULE": self.name,
            "KO": self.guest_ko,
            "FILESYSTEMS": " ".join(self.filesystems),
            "MOUNT_POINT": MOUNT_POINT,
            "IOCTLS": f"{GUEST_DIR}/{IOCTLS_FILE}",
            "SURFACE": SURFACE,
            **({"WORKLOAD_SCRIPT": f"{GUEST_DIR}/{workload.GUEST_NAME}"} if self.options.workload else {}),
            **({"WORKLOAD": self.workload} if self.workload else {}),
        }
        return script_command(name, *self.options.params, env={**base, **env}, shell=shell)

    def prepare(self) -> None:
        """Scripts and .ko into the guest, watchdogs armed (again after every rollback): one transfer."""
        scripts = [*SCRIPTS.iterdir(), *(self.domain_scripts.iterdir() if self.domain_scripts else ())]
        files = {f"scripts/{p.name}": p for p in sorted(scripts) if p.suffix in (".sh", ".c", ".py")}
        if self.module:
            files[f"{self.name}.ko"] = self.module.path
        if self.options.workload:
            files[workload.GUEST_NAME] = self.options.workload
        settings = " ".join(f"{key}={shlex.quote(value)}" for key, value in WATCHDOG_SYSCTLS.items())
        debugfs = f"{{ mountpoint -q {DEBUGFS} || mount -t debugfs none {DEBUGFS}; }} 2>/dev/null"
        with tempfile.TemporaryDirectory() as scratch:
            files[IOCTLS_FILE] = Path(scratch, IOCTLS_FILE)
            files[IOCTLS_FILE].write_text(json.dumps([asdict(ioctl) for ioctl in self.ioctls]))
            self.guest.install(files, then=f"sysctl -q -w {settings} && mkdir -p {MOUNT_POINT}; {debugfs}; true")

    def note_surface(self) -> None:
        """Before insmod: what the system exposes, so that a script can find what the module adds (its surface)."""
        self.guest.root(f"{EXERCISE} snapshot {SURFACE}.before", timeout=60)

    def probe(self) -> dict[str, str]:
        """Module and kernel state in one round trip; where its code sections are, when it is loaded."""
        result = self.guest.root(script_command("probe.sh", self.name, shell=STATIC_SHELL), timeout=15)
        state = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
        self.sections.update(loaded_sections(state.get("sections", "")))
        return state

    def loaded(self) -> bool:
        return self.guest.root(f"grep -q '^{self.name} ' /proc/modules").ok

    def unload_quietly(self) -> None:
        """Leave the module unloaded (its filesystems unmounted first), whatever a test left behind."""
        if self.loaded():
            unmount = f"umount -a -t {','.join(self.filesystems)} 2>/dev/null; " if self.filesystems else ""
            self.guest.root(f"{unmount}rmmod {self.name}", timeout=30)

    # what the domain runner needs

    def evidence(self) -> list[str]:
        return self.guest.evidence()

    def audit(self, case: str) -> Verdict | None:
        """Under a debug tier, after every case that used the module: every slab cache validated now."""
        if self.debug == "off" or case == "build":
            return None
        step = self.guest.step(
            f"slab validation after {case}", script_command("validate.sh", shell=STATIC_SHELL), 120, judge=False
        )
        problems = step.problems
        if not problems:
            return None
        return problem_verdict(f"slab validation after the test found corruption{self.blame(step.log)}", problems)

    def blame(self, log: tuple[str, ...] | list[str]) -> str:
        """Where a kernel report's stack or an object's allocation/free track names this module, say so."""
        named = next((line.strip() for line in log if f"[{self.name}]" in line), None)
        if named:
            return f" (the report names {self.name}: {named})"
        bare = next((line.strip() for line in log if kernel_log.module_addresses(line)), None)
        return f" (the report points into unloaded module code, {self.name}'s: {bare})" if bare else ""

    def symbolize(self, verdict: Verdict) -> Verdict:
        """verdict with the places in the module's source its addresses point at (symbols.py). Bare addresses the
        recorded sections do not place are looked for where the module is now (a report made as it loaded, before
        a probe saw it: its init already freed), when the guest answers."""
        if self.module is None:
            return verdict
        if symbols.unplaced(self.code(), verdict.kernel_log):
            with contextlib.suppress(MachineError):
                self.probe()
        return symbols.symbolized(verdict, self.code(), self.module.path, self.module.debug_info,
                                  self.build.compiled_in, self.guest.machine.sysroot)  # fmt: skip

    def code(self) -> symbols.ModuleCode:
        """What places an address in the module's code, with the sections recorded so far."""
        assert self.module is not None
        module = self.module
        return symbols.ModuleCode(module.name, module.symbols, module.code_sections, dict(self.sections))

    def health(self) -> Health:
        """Fit when the guest answers and the module is absent or live; the guest's vitals besides."""
        try:
            state = self.probe()
        except MachineError as error:
            return Health(False, reason=f"it does not answer: {error}")
        module_state = state.get("state", "unknown")
        ok = module_state in ("absent", "live")
        return Health(ok, vitals(state), "" if ok else f"the module is {module_state}")

    def on(self, guest: Guest) -> ModuleUnderTest:
        """The same module prepared on another guest, with nothing of what the cases learned on this one."""
        moved = ModuleUnderTest(guest, self.options, self.build, self.module, self.kernel_release, self.work_dir,
                                self.debug, workload=self.workload, ioctls=self.ioctls,
                                domain_scripts=self.domain_scripts)  # fmt: skip
        moved.prepare()
        return moved

    def recover(self) -> str:
        """Roll the guest back to its ready snapshot, or replace it if that fails; then prepare again. The console
        it had is kept with the results first (rolled-back/)."""
        machine = self.guest.machine
        self.guest.keep_console(self.work_dir / "rolled-back")
        try:
            machine.reset()
            how = "guest rolled back to its ready snapshot"
        except MachineError:
            machine.replace()
            how = "guest replaced"
        self.prepare()
        return how
