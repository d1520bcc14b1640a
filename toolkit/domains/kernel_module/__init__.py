"""The kernel_module domain: build an out-of-tree module against the guest's kernel and put it
through build, load, unload, lifecycle_stress, memory_leak, concurrency, hang_detection,
error_handling, interfaces and its own tests (module_tests), in the guest."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psutil

from toolkit.config import CONFIG_FILE, Settings
from toolkit.domains.base import Domain, Target
from toolkit.domains.guest import Guest
from toolkit.domains.kernel_module import ioctls, workload
from toolkit.domains.kernel_module.build import (
    BuildOutcome,
    BuiltModule,
    build_in_chroot,
    build_in_guest,
    remove_build_tree,
)
from toolkit.domains.kernel_module.concurrency import Concurrency
from toolkit.domains.kernel_module.errors import ErrorHandling
from toolkit.domains.kernel_module.guest_tests import ModuleTests
from toolkit.domains.kernel_module.hangs import HangDetection
from toolkit.domains.kernel_module.interfaces import Interfaces
from toolkit.domains.kernel_module.leaks import MemoryLeak
from toolkit.domains.kernel_module.lifecycle import Build, LifecycleStress, Load, Unload
from toolkit.domains.kernel_module.subject import MAX_PARAMETERS, ModuleOptions, ModuleUnderTest, parameter_problem
from toolkit.errors import UserError
from toolkit.results.records import SubjectInfo


def constraints(options: ModuleOptions, settings: Settings) -> list[str]:
    """What can be known wrong before a VM starts."""
    problems = []
    source = options.module_dir
    try:
        if not source.is_dir():
            what = "is not a directory" if source.exists() else "does not exist"
            problems.append(f"module directory {source} {what} (give --module-dir DIR, or module_dir in {CONFIG_FILE})")
        elif not any((source / name).is_file() for name in ("Makefile", "Kbuild")):
            problems.append(f"{source} has no Makefile or Kbuild: an out-of-tree module needs one with obj-m")
    except OSError as error:  # a name too long, a folder this user may not look into
        problems.append(f"module directory {str(source)[:80]} cannot be used ({error.strerror}): give --module-dir DIR")
    if options.guest_tests is not None and not _is_dir(options.guest_tests):
        problems.append(f"--guest-tests {str(options.guest_tests)[:80]} is not a directory: give the folder of the "
                        "module's own test scripts (*.sh)")  # fmt: skip
    if len(options.params) > MAX_PARAMETERS:
        problems.append(f"{len(options.params)} module parameters: give at most {MAX_PARAMETERS}")
    if options.build_in == "chroot" and os.geteuid() != 0:
        problems.append("building in the box's chroot needs root: run as root or pass --build-in guest")
    problems += [problem for problem in map(parameter_problem, options.params) if problem]
    if options.workload is not None and (said := workload.problem(options.workload)):
        problems.append(said)
    available_mib = psutil.virtual_memory().available // 2**20
    if available_mib < settings.memory_mib + 256:
        problems.append(
            f"the VM needs {settings.memory_mib} MiB but the host has {available_mib} MiB available: lower memory_mib"
        )
    return problems


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long, a folder this user may not look into
        return False


def build(target: Target, options: ModuleOptions) -> BuildOutcome:
    """Build the module for the target's kernel: natively in the box's chroot, or in the guest."""
    machine = target.machine
    if options.build_in == "chroot" and machine.sysroot is not None:
        return build_in_chroot(
            machine.sysroot,
            target.kernel_release,
            options.module_dir,
            target.work_dir,
            options.build_timeout_s,
            target.progress.say,
        )
    return build_in_guest(machine, options.module_dir, target.work_dir, options.build_timeout_s)


def _selected(build: BuildOutcome, options: ModuleOptions) -> list[BuiltModule | None]:
    if not build.ok:
        return [None]
    if options.module is None:
        return list(build.modules)
    chosen: list[BuiltModule | None] = [module for module in build.modules if module.name == options.module]
    if not chosen:
        built = ", ".join(module.name for module in build.modules)
        raise UserError(f"--module {options.module}: {options.module_dir} builds {built}, not {options.module}")
    return chosen


def subjects(target: Target, options: ModuleOptions) -> Iterator[ModuleUnderTest]:
    """Build once, then each module the build produced (or the one chosen), in its prepared guest; the build tree
    goes when they are done, unless kept."""
    target.work_dir.mkdir(parents=True, exist_ok=True)
    with target.progress.step(f"building {options.module_dir} for {target.kernel_release} ({options.build_in})"):
        outcome = build(target, options)
    (target.work_dir / "build.log").write_text(outcome.output)
    try:
        yield from built_subjects(target, options, outcome, target.guest())
    finally:
        if not options.keep_build:
            remove_build_tree(target.work_dir)


def built_subjects(
    target: Target, options: ModuleOptions, build: BuildOutcome, guest: Guest
) -> Iterator[ModuleUnderTest]:
    """The subjects of a finished build, each prepared in the guest as it comes (with the ioctl commands the
    module's sources define)."""
    commands = ioctls.scan(options.module_dir, target.machine.sysroot).commands if build.ok else ()
    for module in _selected(build, options):
        subject = ModuleUnderTest(guest, options, build, module, target.kernel_release, target.work_dir, target.debug,
                                  ioctls=commands)  # fmt: skip
        subject.prepare()
        yield subject


def describe(options: ModuleOptions) -> SubjectInfo:
    return SubjectInfo("module", options.subject_name, str(options.module_dir))


DOMAIN = Domain(
    name="kernel_module",
    summary="an out-of-tree module built against the guest's kernel: build, load, unload, stress, leaks, hangs, "
    "concurrency, error handling, interfaces, its own tests",
    cases=(
        Build(),
        Load(),
        Unload(),
        LifecycleStress(),
        MemoryLeak(),
        Concurrency(),
        HangDetection(),
        ErrorHandling(),
        Interfaces(),
        ModuleTests(),
    ),  # fmt: skip
    options=ModuleOptions,
    quick={"cycles": 3, "watch_s": 3.0, "race_rounds": 2, "exercise_s": 5.0},
    subjects=subjects,
    describe=describe,
    constraints=constraints,
)

__all__ = ["DOMAIN", "ModuleOptions"]
