"""The kernel_module domain as it runs (declared in __init__.py): its tests in order, the module built once
for them and each module the build produced prepared in the guest as their subject."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from toolkit.domains.base import Domain, Target
from toolkit.domains.guest import Guest
from toolkit.domains.kernel_module import DECLARATION
from toolkit.domains.kernel_module.concurrency import Concurrency
from toolkit.domains.kernel_module.errors import ErrorHandling
from toolkit.domains.kernel_module.guest_tests import ModuleTests
from toolkit.domains.kernel_module.hangs import HangDetection
from toolkit.domains.kernel_module.interfaces import Interfaces
from toolkit.domains.kernel_module.lifecycle import LifecycleStress, Load, Unload
from toolkit.domains.module import ioctls
from toolkit.domains.module.build import BuildOutcome, BuiltModule, build_for, remove_build_tree
from toolkit.domains.module.build_case import Build
from toolkit.domains.module.constraints import constraints
from toolkit.domains.module.leaks import MemoryLeak
from toolkit.domains.module.options import ModuleOptions
from toolkit.domains.module.subject import ModuleUnderTest
from toolkit.errors import UserError
from toolkit.results.records import SubjectInfo

SCRIPTS = Path(__file__).with_name("scripts")  # this domain's own, installed beside the shared module scripts


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
        outcome = build_for(target, options)
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
                                  ioctls=commands, domain_scripts=SCRIPTS)  # fmt: skip
        subject.prepare()
        yield subject


def describe(options: ModuleOptions) -> SubjectInfo:
    return SubjectInfo("module", options.subject_name, str(options.module_dir))


DOMAIN = Domain(
    name=DECLARATION.name,
    summary=DECLARATION.summary,
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
    options=DECLARATION.options,
    quick=DECLARATION.quick,
    subjects=subjects,
    describe=describe,
    constraints=constraints,
)

__all__ = ["DOMAIN"]
