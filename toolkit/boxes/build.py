"""Build a box offline from Debian's mirror: mmdebstrap a root tree, then a disk, kernel and initramfs.

A build happens in a scratch directory that is renamed into place at the end, so an
interrupted build never leaves a half box behind.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from toolkit import host_checks, host_tools, user_namespace
from toolkit.boxes import debian_tree, initramfs, kernel_config, vmlinux
from toolkit.boxes.recipe import GUEST_FILES, STATIC_SHELL, BoxRecipe
from toolkit.boxes.store import Box, boxes_dir, building_dir, find, remove_abandoned_builds
from toolkit.errors import UserError
from toolkit.files import atomic_write, locked, remove_tree
from toolkit.progress import Progress

NEEDED_GIB = 4
RAW_IN_MEMORY_GIB = 4  # the memory available for a box's raw disk (about 1 GiB) to be made in memory, not on disk
GUEST_DIR = "usr/lib/vexfs-vmtest"
GUEST_PROGRAMS = ("agent", "kmsg-after")  # C sources in guest/, compiled in the box's root tree


class BuildStepFailed(UserError):
    """A step of a box build failed; the message names the step and its log."""


def _run(command: list[str], log: Path, step: str, descriptors: tuple[int, ...] = ()) -> None:
    with open(log, "a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        start = time.monotonic()
        done = subprocess.run(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, pass_fds=descriptors
        )
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    with open(log, "a") as out:
        out.write(f"({step}: exit status {done.returncode} after {time.monotonic() - start:.1f} s)\n")
    if done.returncode != 0:
        errors = [line for line in lines if line.startswith("E:")]
        reason = (errors or lines[-1:] or [f"exit status {done.returncode}"])[0]
        raise BuildStepFailed(f"box build failed at {step}: {reason} (full log: {log})")


def _chroot(rootfs: Path, log: Path, *command: str) -> None:
    _run(user_namespace.in_chroot(rootfs, *command), log, f"chroot {command[0]}")


def _query(rootfs: Path, package: str) -> str:
    command = user_namespace.in_chroot(rootfs, "dpkg-query", "-W", "-f", "${Version}", package)
    done = subprocess.run(command, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else ""


def _kernel_release(rootfs: Path) -> str:
    releases = sorted(p.name for p in (rootfs / "lib/modules").iterdir())
    if len(releases) != 1:
        raise UserError(f"expected one kernel in the box, found {releases or 'none'}: check the recipe's packages")
    return releases[0]


def _sshd_flags(rootfs: Path) -> str:
    """-r (no re-exec per connection) where this OpenSSH still accepts it."""
    check = subprocess.run(user_namespace.in_chroot(rootfs, "/usr/sbin/sshd", "-t", "-r"), capture_output=True)
    return "-r" if check.returncode == 0 else ""


def _install_guest_files(rootfs: Path, log: Path) -> None:
    """The vagrant user, sshd settings, and the fast-boot init and guest agent the qemu provider uses."""
    _chroot(rootfs, log, "useradd", "--create-home", "--shell", "/bin/bash", "--groups", "sudo", "vagrant")
    _chroot(rootfs, log, "usermod", "--password", "*", "vagrant")
    if (rootfs / STATIC_SHELL.lstrip("/")).exists():
        _chroot(rootfs, log, "usermod", "--shell", STATIC_SHELL, "root")
    guest = rootfs / GUEST_DIR
    guest.mkdir(parents=True, exist_ok=True)
    (guest / "boot").write_bytes((GUEST_FILES / "boot").read_bytes())
    (guest / "boot").chmod(0o755)
    (guest / "init").symlink_to("/bin/busybox")
    for program in GUEST_PROGRAMS:
        (guest / f"{program}.c").write_bytes((GUEST_FILES / f"{program}.c").read_bytes())
        _chroot(rootfs, log, "gcc", "-O2", "-Wall", "-o", f"/{GUEST_DIR}/{program}", f"/{GUEST_DIR}/{program}.c")
    (rootfs / "etc/inittab").write_text(
        (GUEST_FILES / "inittab").read_text().replace("@SSHD_FLAGS@", _sshd_flags(rootfs))
    )
    (rootfs / "etc/ssh/sshd_config.d/vexfs-vmtest.conf").write_bytes((GUEST_FILES / "sshd.conf").read_bytes())
    sudoers = rootfs / "etc/sudoers.d/vagrant"
    sudoers.write_bytes((GUEST_FILES / "sudoers").read_bytes())
    sudoers.chmod(0o440)
    (rootfs / "etc/hostname").write_text("vexfs-vm\n")
    (rootfs / "etc/hosts").write_text("127.0.0.1 localhost\n127.0.1.1 vexfs-vm\n")
    (rootfs / "etc/fstab").write_text("/dev/vda / ext4 rw,errors=remount-ro 0 1\n")
    network = rootfs / "etc/systemd/network/80-vexfs-dhcp.network"
    network.write_bytes((GUEST_FILES / "networkd-dhcp.network").read_bytes())
    _chroot(rootfs, log, "systemctl", "enable", "systemd-networkd")


def prezeroed_option(version: str) -> list[str]:
    """mke2fs's option, from its version line (e2fsprogs 1.47 and later), to take a new image as zeroed, as a
    sparse file is: inode tables and journal are not written, and are marked zeroed all the same."""
    found = re.search(r"\b(\d+)\.(\d+)", version)
    return ["-E", "assume_storage_prezeroed=1"] if found and (int(found[1]), int(found[2])) >= (1, 47) else []


@contextlib.contextmanager
def _raw_image(scratch: Path, size: int) -> Iterator[tuple[str, tuple[int, ...]]]:
    """A sparse raw image for mkfs to fill: in memory (a memfd, gone with this process whatever happens) while
    the host has RAW_IN_MEMORY_GIB available, else a file in scratch. Its path, and the descriptors the commands
    given that path must keep."""
    if psutil.virtual_memory().available < RAW_IN_MEMORY_GIB * 1024**3:
        raw = scratch / "box.raw"
        with open(raw, "wb") as image:
            image.truncate(size)
        yield str(raw), ()
        raw.unlink()
        return
    memory = os.memfd_create("box.raw")
    try:
        os.truncate(memory, size)
        yield f"/proc/self/fd/{memory}", (memory,)
    finally:
        os.close(memory)


def _make_disk(rootfs: Path, scratch: Path, disk_gib: int, log: Path) -> None:
    mkfs_ext4 = host_checks.require_tool("mkfs.ext4")
    version = subprocess.run([mkfs_ext4, "-V"], capture_output=True, text=True, timeout=30).stderr
    with _raw_image(scratch, disk_gib * 1024**3) as (raw, descriptors):
        # in the namespace, the tree's files show the owners they have in the guest
        mkfs = [mkfs_ext4, "-q", "-F", *prezeroed_option(version), "-L", "vexfs-root", "-d", str(rootfs), raw]
        _run(user_namespace.command(*mkfs), log, "mkfs.ext4", descriptors)
        convert = ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, str(scratch / "box.img")]
        _run(convert, log, "qemu-img convert", descriptors)


def _write_vagrant_metadata(scratch: Path, disk_gib: int) -> None:
    """metadata.json and the box's own Vagrantfile: with box.img, a vagrant-libvirt box."""
    metadata = {"provider": "libvirt", "format": "qcow2", "virtual_size": disk_gib}
    atomic_write(scratch / "metadata.json", json.dumps(metadata) + "\n")
    (scratch / "Vagrantfile").write_bytes((GUEST_FILES / "Vagrantfile").read_bytes())


def build(recipe: BoxRecipe, cache_dir: Path, mirror: str, log_dir: Path) -> Box:
    """The box for recipe, built now unless the cache already holds it."""
    existing = find(cache_dir, recipe)
    if existing:
        return existing
    for tool in ("mmdebstrap", host_tools.DEBIAN_KEYRING, "mkfs.ext4", "qemu-img", "tar"):
        host_checks.require_tool(tool)
    user_namespace.require(f"building the {recipe.line.name} box")
    host_checks.require_free_space(cache_dir, NEEDED_GIB, f"building the {recipe.line.name} box")
    debian_tree.require_scratch_space(f"building the {recipe.line.name} box")
    with locked(boxes_dir(cache_dir) / f".{recipe.name}.lock"):
        existing = find(cache_dir, recipe)
        return existing or _build_locked(recipe, cache_dir, mirror, log_dir)


@contextlib.contextmanager
def _scratch(recipe: BoxRecipe, cache_dir: Path, log_dir: Path) -> Iterator[tuple[Path, Path, Progress]]:
    """A scratch folder for the box (removed whatever happens; a finished box was renamed away), its log, progress."""
    remove_abandoned_builds(cache_dir)
    scratch = building_dir(cache_dir, recipe.name)
    log = log_dir / f"box-{recipe.name}.log"
    log_dir.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    try:
        scratch.mkdir(parents=True)
        yield scratch, log, Progress(f"box {recipe.line.name}")
    finally:
        remove_tree(scratch)


def _build_locked(recipe: BoxRecipe, cache_dir: Path, mirror: str, log_dir: Path) -> Box:
    with _scratch(recipe, cache_dir, log_dir) as (scratch, log, progress):
        rootfs = scratch / "rootfs"
        with progress.step(f"mmdebstrap {recipe.line.suite} from {mirror} (log: {log})", 1, 5):
            command = ["mmdebstrap", "--variant=minbase", f"--include={','.join(recipe.packages)}",
                       *recipe.dpkg_options(),
                       # mirrors of sid may be snapshots whose Release has expired
                       "--aptopt=Acquire::Check-Valid-Until \"false\""]  # fmt: skip
            debian_tree.make(command, recipe.line.suite, mirror, rootfs, lambda words, step: _run(words, log, step))
        with progress.step("guest files", 2, 5):
            _install_guest_files(rootfs, log)
        return assemble(recipe, scratch, log, progress, 3, 5)


def assemble(recipe: BoxRecipe, scratch: Path, log: Path, progress: Progress, first: int, total: int) -> Box:
    """Turn scratch/rootfs (guest files in place, one kernel installed) into a box and move it into the cache."""
    rootfs = scratch / "rootfs"
    with progress.step("kernel and initramfs", first, total):
        release = _kernel_release(rootfs)
        version = _query(rootfs, f"linux-image-{release}") or _query(rootfs, f"linux-image-{release}-unsigned")
        headers = _query(rootfs, f"linux-headers-{release}")
        if headers != version:
            raise UserError(
                f"the {recipe.line.suite} mirror has linux-image {version} but linux-headers {headers or 'missing'} "
                f"for {release}: retry when the mirror has caught up"
            )
        if kernel_config.without_kernel_log(rootfs / f"boot/config-{release}"):
            raise UserError(f"kernel {release} has no kernel log (CONFIG_PRINTK is off in /boot/config-{release}), so "
                            "no oops, warning or leak it reports could be read: build it with CONFIG_PRINTK=y")  # fmt: skip
        bz_image = (rootfs / f"boot/vmlinuz-{release}").read_bytes()
        (scratch / "vmlinuz").write_bytes(bz_image)
        if vmlinux.has_pvh_entry(rootfs / f"boot/config-{release}"):
            (scratch / "vmlinux").write_bytes(vmlinux.extract(bz_image))
        (scratch / "initrd.img").write_bytes(initramfs.build(rootfs, release))
    with progress.step(f"disk image ({recipe.disk_gib} GiB, qcow2)", first + 1, total):
        _make_disk(rootfs, scratch, recipe.disk_gib, log)
        _write_vagrant_metadata(scratch, recipe.disk_gib)
    with progress.step("record and move into place", first + 2, total):
        built = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        box = Box(scratch, recipe.name, recipe.line.name, recipe.line.suite, release, version, built)
        box.save()
        final = boxes_dir(scratch.parent.parent) / recipe.name
        os.rename(scratch, final)
    progress.say(f"box {recipe.name}: kernel {release} ({version})")
    return Box.load(final)


def derive(recipe: BoxRecipe, base: Box, debs: list[Path], cache_dir: Path, log_dir: Path) -> Box:
    """The box for a built variant line: base's root tree with the built kernel's packages in place of Debian's."""
    existing = find(cache_dir, recipe)
    if existing:
        return existing
    user_namespace.require(f"building the {recipe.line.name} box")
    host_checks.require_free_space(cache_dir, NEEDED_GIB, f"building the {recipe.line.name} box")
    with locked(boxes_dir(cache_dir) / f".{recipe.name}.lock"):
        return find(cache_dir, recipe) or _derive_locked(recipe, base, debs, cache_dir, log_dir)


def _derive_locked(recipe: BoxRecipe, base: Box, debs: list[Path], cache_dir: Path, log_dir: Path) -> Box:
    with _scratch(recipe, cache_dir, log_dir) as (scratch, log, progress):
        rootfs = scratch / "rootfs"
        with progress.step(f"copy the {base.kernel_line} box's tree (log: {log})", 1, 5):
            copy = ["cp", "-a", "--reflink=auto", str(base.rootfs), str(rootfs)]
            _run(user_namespace.command(*copy), log, "copy the base tree")
        with progress.step(f"install {', '.join(deb.name for deb in debs)} in place of {base.kernel_release}", 2, 5):
            for deb in debs:
                (rootfs / "tmp" / deb.name).write_bytes(deb.read_bytes())
            # from the base's mirror, what the packages need beyond them (a distribution's kernel: pahole, ...)
            _chroot(rootfs, log, "apt-get", "update", "-q")
            _chroot(rootfs, log, "apt-get", "install", "-y", "-q", "--no-install-recommends",
                    *(f"/tmp/{deb.name}" for deb in debs))  # fmt: skip
            stock = ("linux-image-amd64", "linux-headers-amd64", f"linux-image-{base.kernel_release}",
                     f"linux-headers-{base.kernel_release}")  # fmt: skip
            _chroot(rootfs, log, "apt-get", "purge", "-y", "-q", *stock)
            _chroot(rootfs, log, "apt-get", "autoremove", "--purge", "-y", "-q")
            for deb in debs:
                (rootfs / "tmp" / deb.name).unlink()
            remove_tree(rootfs / "var/lib/apt/lists")
            (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True)
        return assemble(recipe, scratch, log, progress, 3, 5)
