"""The files a remote libvirt host needs or writes for a VM, kept as volumes of its `default` pool and
moved through libvirt itself, as vagrant-libvirt moves the box's disk: the box's kernel and initrd
(direct kernel boot reads them on the host), and the serial console QEMU writes there, which is
downloaded into the VM's folder here whenever it is read."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from toolkit.boxes.store import Box
from toolkit.boxes.vagrant import boot_volumes
from toolkit.errors import UserError
from toolkit.machines.vagrant.libvirt_host import virsh

POOL = "default"
UPLOAD_TIMEOUT_S = 900.0


def _path(uri: str, volume: str) -> str:
    """The volume's path on the host, "" when it has none."""
    done = virsh(uri, "vol-path", "--pool", POOL, volume)
    return done.stdout.strip() if done.returncode == 0 else ""


def _complete(uri: str, volume: str) -> bool:
    """An upload cut short leaves the volume's file shorter than its capacity (vol-upload writes every byte)."""
    info = dict(
        line.split(":", 1) for line in virsh(uri, "vol-info", "--bytes", "--pool", POOL, volume).stdout.splitlines()
        if ":" in line
    )  # fmt: skip
    sizes = [info.get(key, "").split()[:1] for key in ("Capacity", "Allocation")]
    return all(sizes) and int(sizes[1][0]) >= int(sizes[0][0])


def _failed(what: str, uri: str, done: subprocess.CompletedProcess[str]) -> UserError:
    stderr = done.stderr.strip().splitlines()
    return UserError(f"{what} on libvirt at {uri} failed: {(stderr or ['no output'])[-1]}")


def upload(uri: str, local: Path, volume: str) -> str:
    """The host's path of volume, holding local's bytes: uploaded unless the host has it whole already."""
    if _path(uri, volume) and _complete(uri, volume):
        return _path(uri, volume)
    virsh(uri, "vol-delete", "--pool", POOL, volume)
    created = virsh(uri, "vol-create-as", POOL, volume, str(local.stat().st_size), "--format", "raw")
    if created.returncode != 0:
        raise _failed(f"creating volume {volume}", uri, created)
    sent = virsh(uri, "vol-upload", "--pool", POOL, volume, str(local), timeout=UPLOAD_TIMEOUT_S)
    if sent.returncode != 0:
        virsh(uri, "vol-delete", "--pool", POOL, volume)
        raise _failed(f"uploading {local.name} as volume {volume}", uri, sent)
    return _path(uri, volume)


def boot_files(uri: str, box: Box) -> tuple[str, str]:
    """The host's paths of the box's kernel and initrd (the files its Vagrantfile boots), uploaded once per build."""
    kernel, initrd = (upload(uri, local, volume) for local, volume in boot_volumes(box))
    return kernel, initrd


def console_volume(domain: str) -> str:
    return f"{domain}-console.log"


def console_path(uri: str, domain: str) -> str:
    """Where QEMU on the host writes the domain's serial console: an empty volume made for it."""
    volume = console_volume(domain)
    virsh(uri, "vol-delete", "--pool", POOL, volume)
    created = virsh(uri, "vol-create-as", POOL, volume, "0", "--format", "raw")
    if created.returncode != 0:
        raise _failed(f"creating the console volume {volume}", uri, created)
    return _path(uri, volume)


def fetch_console(uri: str, domain: str, local: Path) -> None:
    """Download the console into local; local is rewritten (its time moved) only when the console grew."""
    partial = local.with_name(f".{local.name}.download")
    try:
        done = virsh(uri, "vol-download", "--pool", POOL, console_volume(domain), str(partial), timeout=120)
    except subprocess.TimeoutExpired:
        return
    if done.returncode != 0 or not partial.exists():
        partial.unlink(missing_ok=True)
        return
    if local.exists() and local.read_bytes() == partial.read_bytes():
        partial.unlink()
        return
    os.replace(partial, local)


def remove_console(uri: str, domain: str) -> None:
    virsh(uri, "vol-delete", "--pool", POOL, console_volume(domain))
