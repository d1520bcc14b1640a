"""A kernel from the user's own source tree (`--kernel-tree DIR`), built out of the tree as .deb packages.

The tree is only read. Its sources are copied (rsync: build products left out, times kept, only what changed
copied again) into a chroot of the suite nearest its version with the build toolchain
(`kernel_build.make_root`), and built there with `make O=`, so the tree's next revision rebuilds only what
changed (make, then ccache). Everything lives under cache/kernels/tree-<path key>/: root/ the chroot (root/build/src
the copy, root/build/out the objects), builds/<key>/ the packages and record of each revision and configuration
built. The configuration is the tree's own .config (without one: allnoconfig + kvm_guest.config, a guest's minimum)
with guest.config merged in, as a debug kernel's is. A make that never ended is followed by `make clean`
(kernel_build.make_watched).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from toolkit import host_checks, kernels
from toolkit.boxes import kernel_build, kernel_config
from toolkit.boxes.kernel_build import BuiltKernel, KernelBuildFailed
from toolkit.errors import UserError
from toolkit.files import locked
from toolkit.kernels import KernelLine
from toolkit.progress import Progress

# What a tree holds that is not its source: an in-tree build's products and configuration, and git's own files.
BUILD_PRODUCTS = (".git", ".config", ".config.old", "/include/config/", "/include/generated/",
                  "/arch/*/include/generated/", "*.o", "*.a", "*.ko", "*.mod", "*.mod.c", "*.cmd", "/vmlinux*",
                  "/System.map", "/Module.symvers", "/modules.*", "/debian/")  # fmt: skip
_MAKEFILE_FIELD = re.compile(r"^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)\s*=[ \t]*(\S*)", re.MULTILINE)
SOURCE = "/build/src"
OBJECTS = "/build/out"


@dataclass(frozen=True)
class KernelTree:
    """A kernel source tree as given: its kernel version, its revision (git describe, else a digest of its files)
    and the key of what a build of it depends on (revision and configuration)."""

    path: Path
    version: str
    revision: str
    key: str

    @property
    def line(self) -> KernelLine:
        return kernels.select(f"tree-{self.version}-{self.key}")

    @property
    def package_version(self) -> str:
        """The packages' Debian version: the kernel's version and the tree's revision."""
        return f"{self.version}+tree.{re.sub(r'[^A-Za-z0-9.]+', '.', self.revision)}".replace("-", ".")


def _digest(recipe: object) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def checked_path(text: str) -> Path:
    """The tree a --kernel-tree names, when it is one a build can use; a UserError else."""
    if not text.strip():
        raise UserError("--kernel-tree is empty: give the path of a kernel source tree, e.g. --kernel-tree ~/linux")
    if any(c.isspace() for c in text):
        raise UserError(f"--kernel-tree {text!r} has white space, which Kbuild cannot build in: move or link the "
                        "tree to a path without it")  # fmt: skip
    if ".." in Path(text).parts:
        raise UserError(f"--kernel-tree {text!r} goes up with '..': give the tree's path without it")
    path = Path(text).expanduser().resolve()
    if not path.is_dir():
        raise UserError(f"--kernel-tree {text!r} is not a folder: give the path of a kernel source tree")
    if not _makefile_fields(path).get("VERSION"):
        raise UserError(f"--kernel-tree {text!r} is not a kernel source tree (no Makefile with VERSION =): give the "
                        "top folder of one, where its Makefile is")  # fmt: skip
    return path


def _makefile_fields(path: Path) -> dict[str, str]:
    makefile = path / "Makefile"
    text = makefile.read_text(errors="replace")[:4096] if makefile.is_file() else ""
    return {name: value for name, value in _MAKEFILE_FIELD.findall(text)}


def kernel_version(path: Path) -> str:
    """What `make kernelversion` says, read from the Makefile: 6.1.170, 6.12.0-rc3."""
    fields = _makefile_fields(path)
    numbers = ".".join(fields[name] for name in ("VERSION", "PATCHLEVEL", "SUBLEVEL") if fields.get(name))
    return f"{numbers}{fields.get('EXTRAVERSION', '')}".lower()


def _git(path: Path, *arguments: str) -> str:
    done = subprocess.run([host_checks.require_tool("git"), "-C", str(path), *arguments], capture_output=True,
                          text=True)  # fmt: skip
    if done.returncode != 0:
        said = next(iter(done.stderr.strip().splitlines()), f"exit status {done.returncode}")
        raise UserError(
            f"git {arguments[0]} in {path} failed: {said}: check the tree's repository (`git status` there)"
        )
    return done.stdout


def revision(path: Path) -> tuple[str, str]:
    """(what names the tree's revision, a digest of its exact content): git describe and HEAD with the diff to it,
    else `files` and each source file's path, size and time. git reads only the user's own repositories (another
    user's could make it run that user's commands, git's safe.directory), so another's tree is keyed by its files."""
    repository = path / ".git"
    if repository.exists() and repository.stat().st_uid == os.geteuid():
        head = _git(path, "rev-parse", "HEAD").strip()
        diff = _git(path, "diff", "HEAD", "--binary")
        untracked = _git(path, "status", "--porcelain", "--untracked-files=all")
        describe = _git(path, "describe", "--always", "--dirty", "--tags", "--abbrev=12").strip()
        return describe, _digest([head, diff, untracked])
    files = sorted(
        (str(file.relative_to(path)), file.stat().st_size, file.stat().st_mtime_ns)
        for file in path.rglob("*")
        if file.is_file() and not _product(file.relative_to(path))
    )
    return "files", _digest(files)


def _product(relative: Path) -> bool:
    """Whether a file of the tree is one of BUILD_PRODUCTS, not a source a build copies."""
    parts, name = relative.parts, relative.name
    generated = parts[:2] in (("include", "config"), ("include", "generated")) or (
        parts[:1] == ("arch",) and parts[2:4] == ("include", "generated")
    )
    top = len(parts) == 1 and (name.startswith(("vmlinux", "modules.")) or name in ("System.map", "Module.symvers"))
    return (
        parts[0] in (".git", "debian")
        or generated
        or top
        or name.startswith(".config")
        or name.endswith((".o", ".a", ".ko", ".mod", ".mod.c", ".cmd"))
    )


def configuration(path: Path) -> str:
    """The configuration a build starts from: the tree's .config, or the base targets when it has none."""
    own = path / ".config"
    return own.read_text(errors="replace") if own.is_file() else " ".join(kernel_config.BASE_TARGETS)


def inspect(text: str) -> KernelTree:
    """The tree a --kernel-tree names, its version, revision and build key; a UserError for one a build cannot use."""
    path = checked_path(text)
    version = kernel_version(path)
    described, content = revision(path)
    suite = kernels.nearest_suite(version)
    guest = (kernel_config.CONFIGS / "guest.config").read_text()
    key = _digest({"content": content, "config": configuration(path), "guest": guest, "suite": suite,
                   "packages": kernel_build.BUILD_PACKAGES})  # fmt: skip
    return KernelTree(path, version, described, key[:6])


def folder(cache_dir: Path, tree: KernelTree) -> Path:
    """The tree's build folder: one per tree path, so each revision of it builds on the last one's objects."""
    return kernel_build.kernels_dir(cache_dir) / f"tree-{_digest(str(tree.path))[:12]}"


def output_dir(cache_dir: Path, tree: KernelTree) -> Path:
    return folder(cache_dir, tree) / "builds" / tree.key


def find(cache_dir: Path, tree: KernelTree) -> BuiltKernel | None:
    record = output_dir(cache_dir, tree) / kernel_build.RECORD
    if not record.is_file():
        return None
    data = json.loads(record.read_text())
    return BuiltKernel(**{**data, "missing_options": tuple(data["missing_options"])})


def packages(cache_dir: Path, tree: KernelTree, mirror: str, jobs: int) -> list[Path]:
    """The tree's kernel packages (image, headers), built now unless the cache holds them."""
    built = find(cache_dir, tree) or _build(cache_dir, tree, mirror, jobs)
    return built.debs(output_dir(cache_dir, tree) / "debs")


def _build(cache_dir: Path, tree: KernelTree, mirror: str, jobs: int) -> BuiltKernel:
    kernel_build.require_build_host(cache_dir, f"building the kernel tree {tree.path}", "rsync")
    where = folder(cache_dir, tree)
    where.mkdir(parents=True, exist_ok=True)
    with locked(where / ".lock"):
        return find(cache_dir, tree) or _build_locked(tree, where, cache_dir / "ccache", mirror, jobs)


def _build_locked(tree: KernelTree, where: Path, ccache: Path, mirror: str, jobs: int) -> BuiltKernel:
    line = tree.line
    progress = Progress(f"kernel {line.name}")
    log = where / "build.log"
    kept = "on the objects of its last build" if (where / "root/build/out/.config").exists() else "from scratch"
    progress.say(f"{tree.path} ({tree.version}, {tree.revision}), {kept} (log: {log})")
    started = time.monotonic()
    root = where / "root"
    with progress.step(f"build chroot: {line.suite} with the toolchain", 1, 4):
        kernel_build.make_root(root, line.suite, kernel_build.BUILD_PACKAGES, mirror, log)
    ccache.mkdir(parents=True, exist_ok=True)
    with progress.step("copy the tree's sources and configure", 2, 4):
        _copy_sources(tree.path, root / SOURCE.lstrip("/"), log)
        missing = _configure(tree, root, ccache, log)
    if missing:
        progress.say(f"options this kernel does not take: {', '.join(missing)}")
    with progress.step(f"make O={OBJECTS} bindeb-pkg -j{jobs} (ccache: {ccache})", 3, 4):
        kernel_build.in_root(root, ccache, log, "ccache", "--zero-stats")
        for package in (root / "build").glob("*.deb"):
            package.unlink()
        command = ["nice", "-n", "10", "make", "-C", SOURCE, f"O={OBJECTS}", f"-j{jobs}", *kernel_build.COMPILERS,
                   "LOCALVERSION=", f"KDEB_PKGVERSION={tree.package_version}",
                   f"KDEB_COMPRESS={kernel_build.PACKAGE_COMPRESSION}", "KBUILD_BUILD_USER=vexfs-vmtest",
                   "KBUILD_BUILD_HOST=vexfs-vmtest", "bindeb-pkg"]  # fmt: skip
        kernel_build.make_watched(root, ccache, log, command, root / OBJECTS.lstrip("/"), progress)
        hits = kernel_build.ccache_stats(root, ccache)
    with progress.step("collect the packages", 4, 4):
        release = kernel_build.in_root(root, ccache, log, "make", "-s", "-C", OBJECTS, "LOCALVERSION=",
                                        "kernelrelease", capture=True).strip()  # fmt: skip
        built = kernel_build.collect(root / "build", where / "builds" / tree.key, release, started, missing, hits)
    progress.say(f"kernel {release} built in {built.build_s / 60:.1f} min{kernel_build.ccache_summary(hits)}")
    return built


def _copy_sources(tree: Path, copy: Path, log: Path) -> None:
    """The tree's sources into copy, the same files as the tree (times kept: make sees what changed)."""
    copy.mkdir(parents=True, exist_ok=True)
    excluded = [f"--exclude={pattern}" for pattern in BUILD_PRODUCTS]
    command = ["rsync", "-a", "--delete", "--delete-excluded", *excluded, f"{tree}/", f"{copy}/"]
    with open(log, "a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise KernelBuildFailed(f"copying the kernel tree {tree} failed (rsync status {done.returncode}; log: {log})")


def _configure(tree: KernelTree, root: Path, ccache: Path, log: Path) -> list[str]:
    """The tree's .config (else allnoconfig + kvm_guest.config) with guest.config merged in; the guest's options this
    kernel did not take."""
    objects = root / OBJECTS.lstrip("/")
    objects.mkdir(parents=True, exist_ok=True)
    guest = kernel_config.CONFIGS / "guest.config"
    (root / "build/guest.config").write_text(guest.read_text())
    own = tree.path / ".config"
    if own.is_file():
        (objects / ".config").write_text(own.read_text(errors="replace"))
        kernel_build.in_root(root, ccache, log, "make", "-C", SOURCE, f"O={OBJECTS}", "olddefconfig")
    else:
        kernel_build.in_root(root, ccache, log, "make", "-C", SOURCE, f"O={OBJECTS}", *kernel_config.BASE_TARGETS)
    merge = f"cd {SOURCE} && scripts/kconfig/merge_config.sh -m -O {OBJECTS} {OBJECTS}/.config /build/guest.config"
    kernel_build.in_root(root, ccache, log, "sh", "-c", merge)
    kernel_build.in_root(root, ccache, log, "make", "-C", SOURCE, f"O={OBJECTS}", "olddefconfig")
    return kernel_config.missing(kernel_config.settings(guest.read_text()), (objects / ".config").read_text())
