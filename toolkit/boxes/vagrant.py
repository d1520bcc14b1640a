"""A box as a Vagrant libvirt box: packaged as a .box archive and added under a versioned name."""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

from toolkit import host_checks
from toolkit.boxes.store import Box
from toolkit.errors import UserError

BOX_FILES = ("metadata.json", "Vagrantfile", "box.img", "vmlinux", "vmlinuz", "initrd.img")
ADD_TIMEOUT_S = 600
LOCAL_LIBVIRT = "qemu:///system"


def box_name(box: Box) -> str:
    """The name Vagrant knows the box by, e.g. vexfs/bookworm-6.1."""
    return f"vexfs/{box.suite}-{box.kernel_line}"


def box_version(box: Box) -> str:
    """A version Vagrant can order: the build time, e.g. 2026.1127.125156."""
    built = datetime.datetime.fromisoformat(box.built)
    return f"{built:%Y}.{built:%m%d}.{built:%H%M%S}"


def boot_volumes(box: Box) -> list[tuple[Path, str]]:
    """The box's kernel and initrd with the names of their copies on a remote libvirt host (machines/vagrant/libvirt_files.py)."""
    prefix = f"vexfs-{box.name}-{box_version(box)}"
    return [(box.kernel, f"{prefix}-{box.kernel.name}"), (box.initrd, f"{prefix}-initrd.img")]


def added_versions(name: str) -> list[str]:
    listing = subprocess.run(
        ["vagrant", "box", "list", "--machine-readable"], capture_output=True, text=True, timeout=120
    )
    versions, current = [], ""
    for line in listing.stdout.splitlines():
        fields = line.split(",")
        if len(fields) >= 4 and fields[2] == "box-name":
            current = fields[3]
        elif len(fields) >= 4 and fields[2] == "box-version" and current == name:
            versions.append(fields[3])
    return versions


def add(box: Box) -> str:
    """Register the box with Vagrant (once per build); returns its name."""
    host_checks.require_tool("vagrant")
    name, version = box_name(box), box_version(box)
    if version in added_versions(name):
        return name
    archive = box.path / "vagrant.box"
    catalog = box.path / "vagrant-catalog.json"
    try:
        with tarfile.open(archive, "w") as tar:
            for file in BOX_FILES:
                if (box.path / file).exists():
                    tar.add(box.path / file, arcname=file)
        entry = {"version": version, "providers": [{"name": "libvirt", "url": archive.as_uri()}]}
        catalog.write_text(json.dumps({"name": name, "versions": [entry]}))
        done = subprocess.run(
            ["vagrant", "box", "add", "--provider", "libvirt", "--box-version", version, catalog.as_uri()],
            capture_output=True, text=True, timeout=ADD_TIMEOUT_S,
        )  # fmt: skip
    finally:
        archive.unlink(missing_ok=True)
        catalog.unlink(missing_ok=True)
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise UserError(f"vagrant box add {name} {version} failed: {reason[0]}")
    return name


def remove(box: Box) -> None:
    """Forget the box's version in Vagrant, and the volumes made of it in this machine's libvirt (the base
    volume vagrant-libvirt made, the kernel and initrd copies a qemu+ssh URI to this machine made)."""
    name, version = box_name(box), box_version(box)
    if shutil.which("vagrant") and version in added_versions(name):
        command = ["vagrant", "box", "remove", "--force", "--provider", "libvirt", "--box-version", version, name]
        subprocess.run(command, capture_output=True, text=True, timeout=ADD_TIMEOUT_S)
    if shutil.which("virsh"):
        image = f"{name.replace('/', '-VAGRANTSLASH-')}_vagrant_box_image_{version}_box.img"
        for volume in (image, *(copy for _, copy in boot_volumes(box))):
            subprocess.run(
                ["virsh", "-c", LOCAL_LIBVIRT, "vol-delete", "--pool", "default", volume],
                capture_output=True,
                timeout=60,
            )
