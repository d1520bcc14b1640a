"""The filesystem domain as it runs (declared in __init__.py): its tests in order, what can be known wrong
before a VM starts, and the filesystem, its module built first, prepared in the guest as their subject."""

from __future__ import annotations

from collections.abc import Iterator

from toolkit.config import Settings
from toolkit.domains.base import Domain, Target
from toolkit.domains.filesystem import DECLARATION
from toolkit.domains.filesystem.integrity import DataIntegrity
from toolkit.domains.filesystem.limits import Limits, template_problem
from toolkit.domains.filesystem.memory import Memory
from toolkit.domains.filesystem.mounts import Build, MountCycles
from toolkit.domains.filesystem.options import FsOptions
from toolkit.domains.filesystem.posix import PosixOps
from toolkit.domains.filesystem.stress import Stress
from toolkit.domains.filesystem.subject import FilesystemUnderTest
from toolkit.domains.filesystem.xattrs import XattrsAndVectors
from toolkit.domains.module.build import BuildOutcome, BuiltModule, build_for, remove_build_tree
from toolkit.domains.module.constraints import constraints as module_constraints
from toolkit.domains.module.subject import ModuleUnderTest
from toolkit.errors import UserError
from toolkit.results.records import SubjectInfo


def constraints(options: FsOptions, settings: Settings) -> list[str]:
    """What can be known wrong before a VM starts: the module's own checks, unless the type is built in."""
    problems = [] if options.builtin else module_constraints(options.module_options(), settings)
    if not options.fs_type or not options.fs_type.replace("_", "").isalnum():
        problems.append(f"--fs-type {options.fs_type!r} is not a filesystem type name")
    if any(character in (options.mount_options or "") for character in " \t\n'\""):
        problems.append(f"--mount-options {options.mount_options!r}: give them as a,b=c without spaces or quotes")
    if options.fs_limits is not None and (problem := template_problem(options.fs_limits)):
        problems.append(problem)
    return problems


def module_for(build: BuildOutcome, options: FsOptions) -> BuiltModule | None:
    """The module registering the filesystem: the one named like its type, or the only one built."""
    if not build.ok:
        return None
    named = [module for module in build.modules if module.name == options.fs_type]
    if named or len(build.modules) == 1:
        return (named or list(build.modules))[0]
    built = ", ".join(module.name for module in build.modules)
    raise UserError(f"{options.module_dir} builds {built}: none is named {options.fs_type} (give --fs-type)")


def subjects(target: Target, options: FsOptions) -> Iterator[FilesystemUnderTest]:
    """The filesystem in its prepared guest, its module built first (natively in the chroot, or in the guest); the
    build tree goes when its tests are done, unless kept."""
    target.work_dir.mkdir(parents=True, exist_ok=True)
    module_options = options.module_options()
    if options.builtin:
        build = BuildOutcome("kernel", 0, 0.0, f"{options.fs_type} is built into the kernel\n", ())
    else:
        where = f"{options.module_dir} for {target.kernel_release} ({options.build_in})"
        with target.progress.step(f"building {where}"):
            build = build_for(target, module_options)
        (target.work_dir / "build.log").write_text(build.output)
    guest = target.guest()
    module = ModuleUnderTest(guest, module_options, build, module_for(build, options), target.kernel_release,
                             target.work_dir, target.debug)  # fmt: skip
    subject = FilesystemUnderTest(guest, options, module, target.kernel_release, target.work_dir, target.debug)
    try:
        subject.prepare()
        yield subject
    finally:
        if not options.keep_build:
            remove_build_tree(target.work_dir)


def describe(options: FsOptions) -> SubjectInfo:
    source = "built into the kernel" if options.builtin else str(options.module_dir)
    return SubjectInfo("filesystem", options.fs_type, source)


DOMAIN = Domain(
    name=DECLARATION.name,
    summary=DECLARATION.summary,
    cases=(Build(), MountCycles(), PosixOps(), DataIntegrity(), XattrsAndVectors(), Stress(), Limits(), Memory()),
    options=DECLARATION.options,
    subjects=subjects,
    describe=describe,
    constraints=constraints,
    quick=DECLARATION.quick,
)
