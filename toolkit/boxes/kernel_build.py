"""Build a guest kernel from Debian's own source of a line, with a profile's config, as .deb packages.

A build tree lives under cache/kernels/<line>-<profile>-<tree key>/ (tree key: suite, source
version, build packages): `root/` is a chroot of the line's suite with the toolchain and
`linux-source-X.Y` at exactly the stock kernel's version; the tree is unpacked in root/build/linux
and built there with `make bindeb-pkg`. Each configuration built in it (config key: the fragments'
text) keeps its packages and record in builds/<config key>/. The tree is kept, so an interrupted
build carries on (a half-made chroot is made again; after a make that never ended, killed even with
SIGKILL, `make clean` first: objtool rewrites objects in place, and make cannot tell one it
stopped halfway), and a changed fragment rebuilds only what its options touch (Kbuild tracks
each object's options). ccache, shared by every build (cache/ccache), makes a fresh tree of a
known source, or a cleaned one, cheap too.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from toolkit import build_errors, host_checks, host_tools, user_namespace
from toolkit.boxes import debian_tree, kernel_config
from toolkit.boxes.store import Box
from toolkit.errors import UserError
from toolkit.files import atomic_write, locked, remove_tree
from toolkit.kernels import KernelLine
from toolkit.progress import Progress

LAYOUT_VERSION = 2
NEEDED_GIB = 12
# libdw-dev: newer kernels' own packaging (scripts/package/mkdebian, 7.x) build-depends on it
BUILD_PACKAGES = ("build-essential", "bc", "bison", "flex", "libssl-dev", "libelf-dev", "dpkg-dev", "debhelper",
                  "rsync", "cpio", "kmod", "ccache", "xz-utils", "zstd", "python3", "libdw-dev")  # fmt: skip
HEARTBEAT_S = 60.0
RECORD = "kernel.json"
# in the tree while its make runs: found at the start, the last one never ended (killed, or its host went down)
UNFINISHED = ".make-unfinished"
# make's own exits, done or failed: Kbuild's .DELETE_ON_ERROR removed what a failed recipe was making
MAKE_ENDED = (0, 2)
# The packages are build artifacts, installed once into a derived box: compressing them costs more than it saves.
PACKAGE_COMPRESSION = "none"
# The compilers of the kernel and of its host programs: ccache both, and the same, or the headers package compiles
# the host programs again (newer kernels' packaging rebuilds them with CC where CC and HOSTCC differ).
COMPILERS = ("CC=ccache gcc", "HOSTCC=ccache gcc")
# What `ccache --print-stats` says of the compiles since the build zeroed its counters.
CCACHE_COUNTERS = ("direct_cache_hit", "preprocessed_cache_hit", "cache_miss")

# What every command in the build chroot runs with: ccache at the bind-mounted cache, a fixed locale and PATH.
# ccache in depend mode: a miss is compiled straight away, not preprocessed first for a second look-up (a cold build
# takes about an eighth less CPU); a hit is a direct-mode hit, which a tree at the chroot's fixed path gets.
CHROOT_ENV = (
    "env",
    "LC_ALL=C",
    "LANG=C",
    "CCACHE_DIR=/ccache",
    "CCACHE_MAXSIZE=8G",
    "CCACHE_DEPEND=1",
    "PATH=/usr/bin:/bin:/usr/sbin:/sbin",
)


class KernelBuildFailed(UserError):
    """A stage of a kernel build failed; the message names it and its log."""


@dataclass(frozen=True)
class KernelBuild:
    """What to build: a variant line (e.g. 6.1-debug) from the source of its stock kernel's exact version."""

    line: KernelLine
    source_version: str

    @property
    def source_package(self) -> str:
        major, minor = self.source_version.split(".")[:2]
        return f"linux-source-{major}.{minor}"

    @property
    def local_version(self) -> str:
        return f"-vexfs-{self.line.profile}"

    @property
    def package_version(self) -> str:
        return f"{self.source_version}+vexfs.{self.line.profile}"

    def tree_key(self) -> str:
        """What the chroot and the source tree depend on."""
        recipe = {"suite": self.line.suite, "source": self.source_version, "packages": BUILD_PACKAGES,
                  "layout": LAYOUT_VERSION}  # fmt: skip
        return _digest(recipe)

    def config_key(self) -> str:
        """What the configuration built in the tree depends on."""
        return _digest(kernel_config.digest_input(self.line.profile))

    def key(self) -> str:
        return f"{self.tree_key()}-{self.config_key()}"

    @property
    def name(self) -> str:
        """The build tree's folder name."""
        return f"{self.line.name}-{self.tree_key()}"


def _digest(recipe: object) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class BuiltKernel:
    """A finished build: its packages and what it took."""

    release: str
    image_deb: str
    headers_deb: str
    build_s: float
    missing_options: tuple[str, ...]
    ccache: dict[str, int]

    def debs(self, folder: Path) -> list[Path]:
        return [folder / self.image_deb, folder / self.headers_deb]


def kernels_dir(cache_dir: Path) -> Path:
    return cache_dir / "kernels"


def for_box(line: KernelLine, base: Box) -> KernelBuild:
    return KernelBuild(line, base.kernel_package_version)


def output_dir(cache_dir: Path, build: KernelBuild) -> Path:
    """Where a configuration's packages and record are kept, inside its build tree's folder."""
    return kernels_dir(cache_dir) / build.name / "builds" / build.config_key()


def find(cache_dir: Path, build: KernelBuild) -> BuiltKernel | None:
    record = output_dir(cache_dir, build) / RECORD
    if not record.is_file():
        return None
    data = json.loads(record.read_text())
    return BuiltKernel(**{**data, "missing_options": tuple(data["missing_options"])})


def remove_except(cache_dir: Path, keep: set[KernelBuild]) -> list[Path]:
    """Remove every build tree and every configuration's packages not kept (nothing in progress); what went."""
    root = kernels_dir(cache_dir)
    configs = {build.name: build.config_key() for build in keep}
    removed = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if not folder.is_dir():
            continue
        outdated = [folder] if folder.name not in configs else sorted(
            output for output in (folder / "builds").glob("*") if output.name != configs[folder.name]
        )  # fmt: skip
        try:
            with locked(folder / ".lock", wait=False):
                for path in outdated:
                    remove_tree(path)
        except BlockingIOError:
            continue
        removed += outdated
    return removed


def debs_dir(cache_dir: Path, build: KernelBuild) -> Path:
    return output_dir(cache_dir, build) / "debs"


def _in_namespace(root: Path, ccache: Path, *command: str) -> list[str]:
    """command run in root's chroot, in the user namespace, with /proc and the ccache mounted."""
    return user_namespace.in_chroot(root, *CHROOT_ENV, *command, binds=((ccache, "/ccache"),))


def build(kernel: KernelBuild, cache_dir: Path, mirror: str, jobs: int) -> BuiltKernel:
    """The kernel packages for a build, made now unless the cache holds them."""
    found = find(cache_dir, kernel)
    if found:
        return found
    require_build_host(cache_dir, f"building the {kernel.line.name} kernel")
    folder = kernels_dir(cache_dir) / kernel.name
    folder.mkdir(parents=True, exist_ok=True)
    with locked(folder / ".lock"):
        return find(cache_dir, kernel) or _build_locked(kernel, folder, cache_dir / "ccache", mirror, jobs)


def require_build_host(cache_dir: Path, why: str, *tools: str) -> None:
    """What building a kernel in a chroot of a suite needs of this host: its tools (and tools), a user namespace
    when not root, free space in the cache and where mmdebstrap unpacks."""
    for tool in ("mmdebstrap", host_tools.DEBIAN_KEYRING, "tar", *tools):
        host_checks.require_tool(tool)
    user_namespace.require(why)
    host_checks.require_free_space(cache_dir, NEEDED_GIB, why)
    debian_tree.require_scratch_space(why)


def _build_locked(kernel: KernelBuild, folder: Path, ccache: Path, mirror: str, jobs: int) -> BuiltKernel:
    progress = Progress(f"kernel {kernel.line.name}")
    log = folder / "build.log"
    kept = "in the kept tree" if (folder / "root/build/linux/.unpacked").exists() else "in a new tree"
    progress.say(f"{kernel.source_package} {kernel.source_version}, profile {kernel.line.profile}, {kept} (log: {log})")
    started = time.monotonic()
    root = folder / "root"
    with progress.step(f"build chroot: {kernel.line.suite} with the toolchain and {kernel.source_package}", 1, 4):
        _make_root(kernel, root, mirror, log)
    ccache.mkdir(parents=True, exist_ok=True)
    tree = root / "build/linux"
    with progress.step("unpack the source and configure", 2, 4):
        _unpack(kernel, root, ccache, log)
        missing = _configure(kernel, root, ccache, log)
    if missing:
        progress.say(f"options this kernel does not take: {', '.join(missing)}")
    with progress.step(f"make bindeb-pkg -j{jobs} (ccache: {ccache})", 3, 4):
        in_root(root, ccache, log, "ccache", "--zero-stats")
        for package in tree.parent.glob("*.deb"):
            package.unlink()
        _make_packages(kernel, root, ccache, log, jobs, progress)
        hits = ccache_stats(root, ccache)
    with progress.step("collect the packages", 4, 4):
        release = in_root(root, ccache, log, "make", "-s", "-C", "/build/linux", "kernelrelease",
                           f"LOCALVERSION={kernel.local_version}", capture=True).strip()  # fmt: skip
        built = collect(tree.parent, folder / "builds" / kernel.config_key(), release, started, missing, hits)
    progress.say(f"kernel {release} built in {built.build_s / 60:.1f} min{ccache_summary(hits)}")
    return built


def collect(made: Path, output: Path, release: str, started: float, missing: list[str],
            hits: dict[str, int]) -> BuiltKernel:  # fmt: skip
    """The packages make left in made moved to output/debs, checked (one image, one headers of release) and recorded
    in output, with the build's time since started, the options it did not take and its ccache counts."""
    debs = output / "debs"
    remove_tree(debs)
    debs.mkdir(parents=True)
    for package in made.glob("*.deb"):
        os.replace(package, debs / package.name)
    image = _only_file(debs, f"linux-image-{release}_*.deb")
    headers = _only_file(debs, f"linux-headers-{release}_*.deb")
    built = BuiltKernel(release, image.name, headers.name, round(time.monotonic() - started, 1), tuple(missing), hits)
    atomic_write(output / RECORD, json.dumps(asdict(built), indent=2) + "\n")
    return built


def ccache_stats(root: Path, ccache: Path) -> dict[str, int]:
    """The build's compiles by how ccache served them (none where this ccache cannot say)."""
    done = subprocess.run(_in_namespace(root, ccache, "ccache", "--print-stats"), capture_output=True, text=True)
    counters = dict(line.split("\t", 1) for line in done.stdout.splitlines() if "\t" in line)
    return {name: int(counters[name]) for name in CCACHE_COUNTERS if counters.get(name, "").isdigit()}


def ccache_summary(stats: dict[str, int]) -> str:
    if len(stats) < len(CCACHE_COUNTERS):
        return ""
    hits = stats["direct_cache_hit"] + stats["preprocessed_cache_hit"]
    return f"; ccache: {hits} of {hits + stats['cache_miss']} compiles cached ({stats['direct_cache_hit']} direct)"


def _only_file(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise KernelBuildFailed(f"kernel build produced {len(found)} packages matching {pattern} in {folder}")
    return found[0]


def _run(command: list[str], log: Path, stage: str, capture: bool = False) -> str:
    with open(log, "a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        done = subprocess.run(command, stdout=subprocess.PIPE if capture else out, stderr=out,
                              stdin=subprocess.DEVNULL, text=True)  # fmt: skip
    if done.returncode != 0:
        raise KernelBuildFailed(f"kernel build failed at {stage}: {_first_error(log)} (full log: {log})")
    return done.stdout or ""


def _first_error(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines()[-400:] if line.strip()]
    return build_errors.first_error(lines) or (lines[-1] if lines else "no output")


def in_root(root: Path, ccache: Path, log: Path, *command: str, capture: bool = False) -> str:
    return _run(
        _in_namespace(root, ccache, *command),
        log,
        command[0] if command[0] != "make" else " ".join(command[:4]),
        capture,
    )


def _make_root(kernel: KernelBuild, root: Path, mirror: str, log: Path) -> None:
    make_root(root, kernel.line.suite, (*BUILD_PACKAGES, f"{kernel.source_package}={kernel.source_version}"), mirror,
              log)  # fmt: skip


def make_root(root: Path, suite: str, packages: tuple[str, ...], mirror: str, log: Path) -> None:
    """A build chroot of suite with packages; one left half-made by an interrupted build is made again."""
    done = root / ".complete"
    if done.exists():
        return
    remove_tree(root)
    command = ["mmdebstrap", "--variant=minbase", f"--include={','.join(packages)}",
               "--aptopt=Acquire::Check-Valid-Until \"false\""]  # fmt: skip
    debian_tree.make(command, suite, mirror, root, lambda words, stage: _run(words, log, stage))
    done.touch()


def _unpack(kernel: KernelBuild, root: Path, ccache: Path, log: Path) -> None:
    if (root / "build/linux/.unpacked").exists():
        return
    remove_tree(root / "build/linux")
    (root / "build/linux").mkdir(parents=True)
    tarball = f"/usr/src/{kernel.source_package}.tar.xz"
    in_root(root, ccache, log, "tar", "-xf", tarball, "-C", "/build/linux", "--strip-components=1")
    (root / "build/linux/.unpacked").touch()


def _configure(kernel: KernelBuild, root: Path, ccache: Path, log: Path) -> list[str]:
    """allnoconfig + kvm_guest.config + the profile's fragments; the requested options this kernel did not take."""
    configs = root / "build/configs"
    configs.mkdir(parents=True, exist_ok=True)
    requested: dict[str, str] = {}
    names = []
    for fragment in kernel_config.fragments(kernel.line.profile):
        (configs / fragment.name).write_text(fragment.read_text())
        requested.update(kernel_config.settings(fragment.read_text()))
        names.append(f"/build/configs/{fragment.name}")
    tree = "/build/linux"
    in_root(root, ccache, log, "make", "-C", tree, *kernel_config.BASE_TARGETS)
    in_root(root, ccache, log, "sh", "-c", f"cd {tree} && scripts/kconfig/merge_config.sh -m .config {' '.join(names)}")
    in_root(root, ccache, log, "make", "-C", tree, "olddefconfig")
    return kernel_config.missing(requested, (root / "build/linux/.config").read_text())


def _make_packages(kernel: KernelBuild, root: Path, ccache: Path, log: Path, jobs: int, progress: Progress) -> None:
    """make bindeb-pkg at low priority, a heartbeat line every minute (files compiled, time so far)."""
    command = ["nice", "-n", "10", "make", "-C", "/build/linux", f"-j{jobs}", *COMPILERS,
               f"LOCALVERSION={kernel.local_version}", f"KDEB_PKGVERSION={kernel.package_version}",
               f"KDEB_COMPRESS={PACKAGE_COMPRESSION}", "KBUILD_BUILD_USER=vexfs-vmtest",
               "KBUILD_BUILD_HOST=vexfs-vmtest", "bindeb-pkg"]  # fmt: skip
    make_watched(root, ccache, log, command, root / "build/linux", progress)


def make_watched(root: Path, ccache: Path, log: Path, command: list[str], objects: Path, progress: Progress) -> None:
    """command (a make of bindeb-pkg) in root's chroot, writing into objects (a folder of root), a heartbeat line
    every minute (files compiled, time so far); `make clean` there first when the last make never ended."""
    wrapped = _in_namespace(root, ccache, *command)
    unfinished = objects / UNFINISHED
    if unfinished.exists():
        progress.say("the last make in this tree never ended: make clean, then all of it again (ccache)")
        in_root(root, ccache, log, "make", "-C", f"/{objects.relative_to(root)}", "clean")
    unfinished.touch()
    started = time.monotonic()
    offset = log.stat().st_size if log.exists() else 0
    with open(log, "a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        process = subprocess.Popen(wrapped, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        while True:
            try:
                returncode = process.wait(timeout=HEARTBEAT_S)
                break
            except subprocess.TimeoutExpired:
                progress.say(
                    f"make: {_compiled(log, offset)} files compiled, {(time.monotonic() - started) / 60:.1f} min"
                )
    if returncode in MAKE_ENDED:
        unfinished.unlink()
    if returncode != 0:
        raise KernelBuildFailed(f"kernel build failed at make bindeb-pkg: {_first_error(log)} (full log: {log})")


def _compiled(log: Path, offset: int) -> int:
    with open(log, "rb") as text:
        text.seek(offset)
        return len(re.findall(rb"^\s+CC \[?M?\]?\s", text.read(), re.MULTILINE))
