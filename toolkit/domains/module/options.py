"""A module under test's options (what can be known wrong with them before a VM starts: constraints.py).

The options every domain testing a module offers (its folder, its parameters, where it is
built, whether its build tree is kept, how long the build may take) are declared once here:
each domain's options dataclass takes its fields from these declarations.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.domains.options import option
from toolkit.settings_help import CONFIG_FILE

BUILD_PLACES = ("chroot", "guest")


def module_dir_option() -> Any:
    return option(Path("kernel/vexfs"), f"directory with the module's Kbuild/Makefile (or module_dir in {CONFIG_FILE})")


def params_option() -> Any:
    return option(
        (), f"NAME=VALUE passed to insmod (repeatable; replaces module_params of {CONFIG_FILE})", flag="module-param"
    )


def build_in_option() -> Any:
    return option("chroot", "where to build: chroot (the box's root filesystem) or guest", choices=BUILD_PLACES)


def keep_build_option() -> Any:
    return option(
        False, "keep the module's build tree (sources and objects) in the run folder; the build log stays anyway"
    )


def build_timeout_option() -> Any:
    return option(600.0, "seconds the build may take", minimum=1, cli=False)


@dataclass(frozen=True)
class ModuleOptions:
    """How to test: which source, which module, its parameters, limits."""

    module_dir: Path = module_dir_option()
    module: str | None = option(None, "test only this module when the directory builds several")
    params: tuple[str, ...] = params_option()
    build_in: str = build_in_option()
    guest_tests: Path | None = option(
        None, "folder of the module's own tests run in the guest by module_tests (*.sh printing TAP or KTAP; "
        "default: tests/ in the module directory)",
    )  # fmt: skip
    workload: Path | None = option(
        None, "shell script the guest runs with the module loaded: by each of concurrency's users round after "
        "round, once in memory_leak's window, throughout hang_detection's watch (MODULE and SURFACE in its "
        "environment); a run that exits non-zero fails the test",
    )  # fmt: skip
    cycles: int = option(20, "load/unload cycles for lifecycle_stress", minimum=1, maximum=100_000)
    keep_build: bool = keep_build_option()
    load_timeout_s: float = option(25.0, "seconds insmod or rmmod may take", minimum=15, cli=False)
    watch_s: float = option(
        12.0, "seconds the module is used without a break under the watchdogs (concurrency's users, or "
        "hang_detection's own watch when they did not)", minimum=1, cli=False,
    )  # fmt: skip
    race_rounds: int = option(5, "load/unload rounds of each of concurrency's racers", minimum=1, cli=False)
    build_timeout_s: float = build_timeout_option()
    exercise_s: float = option(
        20.0, "seconds the interfaces test may spend walking what the module exposes", minimum=1, maximum=3600,
        cli=False,
    )  # fmt: skip

    @property
    def subject_name(self) -> str:
        return self.module or self.module_dir.name
