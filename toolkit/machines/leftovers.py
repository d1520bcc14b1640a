"""What a run killed with SIGKILL (or a lost machine) leaves behind, found and removed by the next command.

Half-built boxes, VM folders without a record, matrix VMs nobody holds (a matrix run always
destroys its own), QEMU processes of VMs that no longer exist, and libvirt domains of ours with
no VM record. VMs a user made (`vm.up`) stay: they are health-checked when next used.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import psutil

from toolkit.boxes.store import remove_abandoned_builds
from toolkit.config import Settings
from toolkit.files import remove_tree
from toolkit.machines import lock, record

MATRIX_PREFIX = "matrix-"
DOMAIN_PREFIX = "vexfs-"
LIBVIRT_SOCKET = Path("/var/run/libvirt/libvirt-sock")


def _vm_folders(settings: Settings) -> list[Path]:
    root = record.vms_dir(settings)
    return sorted(path for path in root.iterdir() if path.is_dir()) if root.is_dir() else []


def _unrecorded_folders(settings: Settings) -> list[str]:
    removed = []
    for folder in _vm_folders(settings):
        if not (folder / record.RECORD).exists() and lock.is_free(folder):
            remove_tree(folder)
            removed.append(f"VM folder {folder.name} without a record")
    return removed


def _orphan_matrix_vms(settings: Settings, destroy: Callable[[str], None]) -> list[str]:
    removed = []
    for folder in _vm_folders(settings):
        if folder.name.startswith(MATRIX_PREFIX) and (folder / record.RECORD).exists() and lock.is_free(folder):
            destroy(folder.name)
            removed.append(f"VM {folder.name} of a matrix run that did not finish")
    return removed


def _stale_qemu(settings: Settings) -> list[str]:
    """QEMU processes of ours whose VM folder is gone (their overlay deleted under them)."""
    removed = []
    known = {folder.name for folder in _vm_folders(settings)}
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if not cmdline or "qemu-system" not in cmdline[0] or "-name" not in cmdline:
            continue
        name = cmdline[cmdline.index("-name") + 1]
        drives = [arg for arg in cmdline if arg.startswith("file=") and str(record.vms_dir(settings)) in arg]
        if name.startswith(DOMAIN_PREFIX) and drives and name.removeprefix(DOMAIN_PREFIX) not in known:
            with contextlib.suppress(psutil.Error):
                os.kill(process.pid, signal.SIGKILL)
                removed.append(f"QEMU process {process.pid} of VM {name.removeprefix(DOMAIN_PREFIX)}")
    return removed


def _virsh(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["virsh", "-c", settings.libvirt_uri, *args], capture_output=True, text=True, timeout=30)


def _orphan_domains(settings: Settings) -> list[str]:
    """libvirt domains of this installation (their console log lies in our VM folders) with no VM record,
    only where a local libvirtd runs."""
    if shutil.which("virsh") is None or not LIBVIRT_SOCKET.exists() or not settings.libvirt_uri.startswith("qemu:///"):
        return []
    try:
        listed = _virsh(settings, "list", "--all", "--name")
    except subprocess.TimeoutExpired:
        return []
    removed = []
    ours = str(record.vms_dir(settings))
    for domain in listed.stdout.split():
        if not domain.startswith(DOMAIN_PREFIX) or record.exists(settings, domain.removeprefix(DOMAIN_PREFIX)):
            continue
        if ours not in _virsh(settings, "dumpxml", domain).stdout:  # another installation's (its console is elsewhere)
            continue
        _virsh(settings, "destroy", domain)
        _virsh(settings, "undefine", domain, "--remove-all-storage", "--nvram")
        removed.append(f"libvirt domain {domain}")
    return removed


def sweep(settings: Settings, destroy: Callable[[str], None]) -> list[str]:
    """Remove what interrupted runs left; one line per thing removed. destroy(name) destroys a recorded VM."""
    removed = [f"half-built box {name}" for name in remove_abandoned_builds(settings.cache_dir)]
    removed += _unrecorded_folders(settings)
    removed += _orphan_matrix_vms(settings, destroy)
    removed += _stale_qemu(settings)
    removed += _orphan_domains(settings)
    return removed
