"""What can be known wrong with a module under test's options (options.py) before a VM starts."""

from __future__ import annotations

from pathlib import Path

import psutil

from toolkit import user_namespace
from toolkit.config import Settings
from toolkit.domains.module import workload
from toolkit.domains.module.options import ModuleOptions
from toolkit.domains.module.parameters import MAX_PARAMETERS, parameter_problem
from toolkit.settings_help import CONFIG_FILE


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
    if options.build_in == "chroot" and (missing := user_namespace.problem("building in the box's chroot")):
        problems.append(f"{missing}, or pass --build-in guest")
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
