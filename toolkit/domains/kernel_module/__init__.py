"""The kernel_module domain: build an out-of-tree module against the guest's kernel and put it
through build, load, unload, lifecycle_stress, memory_leak, hang_detection, concurrency and
error_handling, in the guest."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psutil

from toolkit.domains.base import Domain
from toolkit.domains.kernel_module.build import BuildOutcome, BuiltModule, build_in_chroot, build_in_guest
from toolkit.domains.kernel_module.concurrency import Concurrency
from toolkit.domains.kernel_module.errors import ErrorHandling
from toolkit.domains.kernel_module.hangs import HangDetection
from toolkit.domains.kernel_module.leaks import MemoryLeak
from toolkit.domains.kernel_module.lifecycle import Build, LifecycleStress, Load, Unload
from toolkit.domains.kernel_module.subject import ModuleOptions, ModuleUnderTest
from toolkit.errors import UserError
from toolkit.machines.base import Machine
from toolkit.progress import Progress
from toolkit.results.records import TestRecord

DOMAIN = Domain(
    "kernel_module",
    (Build(), Load(), Unload(), LifecycleStress(), MemoryLeak(), HangDetection(), Concurrency(), ErrorHandling()),
)
BUILD_PLACES = ("chroot", "guest")

__all__ = ["DOMAIN", "ModuleOptions", "check_constraints", "run"]


def check_constraints(options: ModuleOptions, memory_mib: int) -> None:
    """Everything that can be known wrong before a VM starts, reported together in one line."""
    problems = []
    source = options.source_dir
    if not source.is_dir():
        problems.append(f"module directory {source} does not exist (give --module-dir DIR)")
    elif not any((source / name).is_file() for name in ("Makefile", "Kbuild")):
        problems.append(f"{source} has no Makefile or Kbuild: an out-of-tree module needs one with obj-m")
    if options.build_in not in BUILD_PLACES:
        problems.append(f"--build-in must be one of {', '.join(BUILD_PLACES)}, not {options.build_in!r}")
    elif options.build_in == "chroot" and os.geteuid() != 0:
        problems.append("building in the box's chroot needs root: run as root or pass --build-in guest")
    if options.cycles < 1:
        problems.append(f"--cycles must be at least 1, not {options.cycles}")
    for name in ("load_timeout_s", "watch_s", "build_timeout_s"):
        if getattr(options, name) <= 0:
            problems.append(f"{name} must be positive")
    if options.load_timeout_s < 15:
        problems.append("the load timeout must be at least 15 s so the kernel's hang reports (10 s) can arrive")
    for param in options.params:
        if "=" not in param or param.startswith("="):
            problems.append(f"module parameter {param!r} is not NAME=VALUE")
    available_mib = psutil.virtual_memory().available // 2**20
    if available_mib < memory_mib + 256:
        problems.append(
            f"the VM needs {memory_mib} MiB but the host has {available_mib} MiB available: lower memory_mib"
        )
    if problems:
        raise UserError("; ".join(problems))


def _build(machine: Machine, options: ModuleOptions, release: str, work_dir: Path) -> BuildOutcome:
    if options.build_in == "chroot" and machine.sysroot is not None:
        return build_in_chroot(machine.sysroot, release, options.source_dir, work_dir, options.build_timeout_s)
    return build_in_guest(machine, options.source_dir, work_dir, options.build_timeout_s)


def _selected(build: BuildOutcome, options: ModuleOptions) -> list[BuiltModule | None]:
    if not build.ok:
        return [None]
    if options.module is None:
        return list(build.modules)
    chosen = [module for module in build.modules if module.name == options.module]
    if not chosen:
        built = ", ".join(module.name for module in build.modules)
        raise UserError(f"--module {options.module}: {options.source_dir} builds {built}, not {options.module}")
    return chosen


def run(
    machine: Machine, options: ModuleOptions, work_dir: Path, progress: Progress
) -> Iterator[tuple[ModuleUnderTest, list[TestRecord]]]:
    """Build once, then run every case for each module the build produced (or the one chosen)."""
    release = machine.run("uname -r", timeout=30).stdout.strip()
    work_dir.mkdir(parents=True, exist_ok=True)
    with progress.step(f"building {options.source_dir} for {release} ({options.build_in})"):
        build = _build(machine, options, release, work_dir)
    (work_dir / "build.log").write_text(build.output)
    for module in _selected(build, options):
        subject = ModuleUnderTest(machine, options, build, module, release, work_dir)
        if module is not None:
            subject.prepare()
        yield subject, DOMAIN.run(subject, Progress(f"{progress.label} {subject.name}"))
