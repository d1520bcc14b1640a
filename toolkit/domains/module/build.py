"""Build an out-of-tree module against the guest kernel's headers: natively in a chroot of
the box's root filesystem (same gcc, headers and glibc as the guest), or inside the guest."""

from __future__ import annotations

import os
import shutil
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from toolkit import build_errors, process_group, user_namespace
from toolkit.debug_tiers import has_option
from toolkit.domains.base import Target
from toolkit.domains.module import build_tree, elf
from toolkit.domains.module.options import ModuleOptions
from toolkit.errors import UserError
from toolkit.files import remove_tree
from toolkit.machines.protocol import Machine

GUEST_SRC = "/root/vexfs-vmtest/src"
CODE_SECTION_PREFIXES = (".text", ".init.text", ".exit.text")
KUNIT_SECTION = ".kunit_test_suites"  # where a module's kunit_test_suites() puts its KUnit suites
DEBUG_LINES = ".debug_line"  # the DWARF section mapping code addresses to source lines
DEBUG_INFO = "CONFIG_DEBUG_INFO"  # a kernel built with it builds modules with -g


@dataclass(frozen=True)
class BuiltModule:
    """One .ko the build produced, with what its ELF says about it."""

    name: str
    path: Path
    size_bytes: int
    vermagic: str
    srcversion: str
    parameters: dict[str, str]
    code_sections: dict[str, int]
    symbols: tuple[elf.Symbol, ...]
    kunit_suites: bool = False  # it carries KUnit suites, which run as it loads on a kernel with KUnit
    debug_info: bool = False  # it carries DWARF line tables, which give a code address its file and line

    @classmethod
    def read(cls, path: Path) -> BuiltModule:
        info = elf.modinfo(path)
        parameters = dict(entry.split(":", 1) for entry in info.get("parmtype", []) if ":" in entry)
        sections = elf.sections(path)
        code = {
            name: s.size for name, s in sorted(sections.items()) if name.startswith(CODE_SECTION_PREFIXES) and s.size
        }
        return cls(
            name=info.get("name", [path.stem])[0],
            path=path,
            size_bytes=path.stat().st_size,
            vermagic=info.get("vermagic", [""])[0],
            srcversion=info.get("srcversion", [""])[0],
            parameters=parameters,
            code_sections=code,
            symbols=tuple(elf.function_symbols(path)),
            kunit_suites=KUNIT_SECTION in sections,
            debug_info=DEBUG_LINES in sections,
        )


@dataclass(frozen=True)
class BuildOutcome:
    where: str
    returncode: int
    duration_s: float
    output: str
    modules: tuple[BuiltModule, ...]
    compiled_in: str = ""  # the folder the compiler saw the sources in: the start of the paths in debug info

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and bool(self.modules)

    @property
    def warnings(self) -> list[str]:
        return [line for line in self.output.splitlines() if "warning:" in line]

    @property
    def first_error(self) -> str:
        """The first line naming an error (a compiler's, make's own); else make's `Error N`, or the last line."""
        lines = self.output.splitlines()
        found = build_errors.first_error(lines)
        return found or (lines[-1].strip() if lines else f"make exited with status {self.returncode}")


def line_tables(kernel_config: Path) -> list[str]:
    """What make needs for the module's code to carry line tables (reports then point into its source): nothing
    from a kernel with debug info (Debian's), `KCFLAGS=-g` from one without (debug kernels, most own kernels)."""
    return [] if has_option(kernel_config, DEBUG_INFO) else ["KCFLAGS=-g"]


def _copy_sources(source_dir: Path, work_dir: Path) -> Path:
    return _copy_tree(source_dir, work_dir, ignore=shutil.ignore_patterns(*build_tree.ARTEFACTS))


def _copy_tree(tree: Path, work_dir: Path, ignore: Callable[[str, list[str]], set[str]] | None = None) -> Path:
    """tree copied to the run's folder as src/ (what --keep-build keeps, where the tests take the .ko from)."""
    src = work_dir / "src"
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(tree, src, ignore=ignore, symlinks=True)
    return src


def remove_build_tree(work_dir: Path) -> None:
    """What a build left in work_dir besides its log: the copy of the sources with the objects, the archive."""
    remove_tree(work_dir / "src")
    (work_dir / "src.tar.gz").unlink(missing_ok=True)


def _modules_in(src: Path) -> tuple[BuiltModule, ...]:
    return tuple(BuiltModule.read(path) for path in sorted(src.rglob("*.ko")))


def _make(command: list[str], timeout: float, running: Callable[[int], None] = lambda pid: None) -> tuple[int, str]:
    """Run the build command in a process group of its own, killed whole past timeout or when interrupted."""
    status, output = process_group.run(command, timeout, running)
    if status == process_group.TIMED_OUT:
        return status, f"{output}\nerror: build timed out after {timeout:g} s"
    return status, output


def mount_point(tree: Path) -> str:
    """Where a make in the box's chroot sees a kept tree: make's M=, the start of the paths in its output."""
    return f"/mnt/vexfs-vmtest-{tree.name}"


def make_in_tree(held: build_tree.HeldTree, sysroot: Path, make: Sequence[str], timeout: float) -> tuple[int, str]:
    """make's words run in sysroot's chroot with the held tree bind-mounted at its mount point, in a session of
    its own recorded while it runs; the tree marked finished unless make timed out."""
    mount = mount_point(held.path)
    command = user_namespace.in_chroot(sysroot, *make, binds=((held.path, mount),))
    (sysroot / mount.lstrip("/")).mkdir(parents=True, exist_ok=True)
    try:
        returncode, output = _make(command, timeout, held.running)
    finally:
        (sysroot / mount.lstrip("/")).rmdir()
    if returncode != process_group.TIMED_OUT:
        held.ended()
    return returncode, output


def build_in_chroot(
    sysroot: Path,
    release: str,
    source_dir: Path,
    work_dir: Path,
    timeout: float,
    say: Callable[[str], None] = lambda line: None,
) -> BuildOutcome:
    """make against sysroot's /lib/modules/<release>/build in the module's kept tree (bind-mounted into the
    chroot), so only what changed since the last run is compiled; the tree is then copied to the run's folder.

    Another build of the same tree is waited for, as long as a build may take; `say` tells of that wait, and
    of a make an earlier, killed build left running in the tree (ended before this one starts)."""
    headers = sysroot / "usr/src" / f"linux-headers-{release}"
    if not headers.is_dir():
        raise UserError(f"the box has no headers for {release} at /lib/modules/{release}/build: rebuild the box")
    tree = build_tree.tree_for(sysroot, release, source_dir)
    mount = mount_point(tree)
    make = ["env", "LC_ALL=C", "LANG=C", "make", f"-j{os.cpu_count() or 1}", "-C", f"/lib/modules/{release}/build",
            f"M={mount}", "modules", *line_tables(headers / ".config")]  # fmt: skip
    with build_tree.building(tree, f"building {source_dir} for {release}", timeout, say) as held:
        build_tree.sync(source_dir, tree)
        started = time.monotonic()
        returncode, output = make_in_tree(held, sysroot, make, timeout)
        duration = time.monotonic() - started
        src = _copy_tree(tree, work_dir)
    outcome = BuildOutcome("chroot", returncode, duration, output.replace(mount, str(source_dir)), (), mount)
    return outcome if returncode else replace(outcome, modules=_modules_in(src))


def build_in_guest(machine: Machine, source_dir: Path, work_dir: Path, timeout: float) -> BuildOutcome:
    """Copy the source into the guest, make there against its running kernel, copy the .ko files back."""
    src = _copy_sources(source_dir, work_dir)
    archive = work_dir / "src.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname=".")
    started = time.monotonic()
    machine.run(f"rm -rf {GUEST_SRC} && mkdir -p {GUEST_SRC}", timeout=30, sudo=True)
    machine.put(archive, "/tmp/vexfs-vmtest-src.tar.gz")
    build = "/lib/modules/$(uname -r)/build"
    line_tables_flag = f"$(grep -qx {DEBUG_INFO}=y {build}/.config || echo KCFLAGS=-g)"  # as line_tables
    make = f"LC_ALL=C LANG=C make -C {build} M={GUEST_SRC} modules {line_tables_flag}"
    result = machine.run(
        f"tar xzf /tmp/vexfs-vmtest-src.tar.gz -C {GUEST_SRC} && {make} 2>&1", timeout=timeout, sudo=True
    )
    if result.ok:
        listing = machine.run(f"cd {GUEST_SRC} && find . -name '*.ko'", timeout=30, sudo=True).stdout.split()
        for relative in listing:
            machine.run(f"cp {GUEST_SRC}/{relative} /tmp/", timeout=30, sudo=True)
            machine.get(f"/tmp/{Path(relative).name}", src / relative)
    output = (result.stdout + result.stderr).replace(GUEST_SRC, str(source_dir))
    outcome = BuildOutcome("guest", result.exit_status, time.monotonic() - started, output, (), GUEST_SRC)
    return replace(outcome, modules=_modules_in(src)) if result.ok else outcome


def build_for(target: Target, options: ModuleOptions) -> BuildOutcome:
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
