"""What a run killed with SIGKILL (or a lost machine) leaves behind: found by any command, removed by those that
start VMs (and `vm.destroy --all`), each thing said.

Only what is provably dead and nobody's is a leftover: a half-built box whose building process is
gone, a VM folder without a record that nobody holds, a matrix VM or a test run's second guest nobody holds
(the run always destroys its own), a QEMU process of ours whose VM folder is gone (its disk deleted under it: nobody
can reach it again), a libvirt domain of ours with no VM record. A folder in vms/ whose name no VM
can have is not ours to judge. VMs a user made (`vm.up`) stay: they are health-checked when next used.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import psutil

from toolkit.boxes import store
from toolkit.config import Settings
from toolkit.files import remove_tree
from toolkit.machines import lock, vm_record

MATRIX_PREFIX = "matrix-"
SECOND_GUEST_PREFIX = "apart-"  # a test run's second guest (toolkit/domains/lanes.py), destroyed as the run ends
RUN_PREFIXES = {MATRIX_PREFIX: "a matrix run", SECOND_GUEST_PREFIX: "a test run's second guest"}
DOMAIN_PREFIX = "vexfs-"
LIBVIRT_SOCKET = Path("/var/run/libvirt/libvirt-sock")


@dataclass(frozen=True)
class Leftover:
    """One thing a killed run left, and how to remove it."""

    what: str
    remove: Callable[[], None]


def _vm_folders(settings: Settings) -> list[Path]:
    root = vm_record.vms_dir(settings)
    found = root.iterdir() if root.is_dir() else ()
    return sorted(path for path in found if path.is_dir() and vm_record.NAME.fullmatch(path.name))


def _half_built_boxes(settings: Settings) -> list[Leftover]:
    return [Leftover(f"half-built box {store.abandoned_box_name(scratch)}", partial(remove_tree, scratch))
            for scratch in store.abandoned_builds(settings.cache_dir)]  # fmt: skip


def _unrecorded_folders(settings: Settings) -> list[Leftover]:
    return [Leftover(f"VM folder {folder.name} without a record", partial(remove_tree, folder))
            for folder in _vm_folders(settings)
            if not (folder / vm_record.RECORD).exists() and lock.is_free(folder)]  # fmt: skip


def _orphan_run_vms(settings: Settings, destroy: Callable[[str], None]) -> list[Leftover]:
    """The VMs a run makes and destroys itself (a matrix's lines, a second guest) that nobody holds."""
    return [Leftover(f"VM {folder.name} of {run} that did not finish", partial(destroy, folder.name))
            for folder in _vm_folders(settings)
            for prefix, run in RUN_PREFIXES.items()
            if folder.name.startswith(prefix) and (folder / vm_record.RECORD).exists() and lock.is_free(folder)]  # fmt: skip


def _overlay_folder(cmdline: list[str], settings: Settings) -> Path | None:
    """The VM folder in our vms/ holding the disk a QEMU command line opens, None when it opens none there."""
    ours = vm_record.vms_dir(settings)
    for argument in cmdline:
        for option in argument.split(","):
            if option.startswith("file=") and Path(option.removeprefix("file=")).parent.parent == ours:
                return Path(option.removeprefix("file=")).parent
    return None


def _stale_qemu(settings: Settings) -> list[Leftover]:
    """QEMU processes of this user's that run a disk of a VM folder of ours that is gone."""
    found = []
    for process in psutil.process_iter(["name", "cmdline", "uids"]):
        cmdline = process.info["cmdline"] or []
        uids = process.info["uids"]
        if not cmdline or "qemu-system" not in cmdline[0] or uids is None or uids.real != os.getuid():
            continue
        folder = _overlay_folder(cmdline, settings)
        named = cmdline[cmdline.index("-name") + 1] if "-name" in cmdline[:-1] else ""
        if folder is None or not named.startswith(DOMAIN_PREFIX) or folder.exists():
            continue
        found.append(Leftover(f"QEMU process {process.pid} of VM {folder.name}, whose folder is gone",
                              partial(_kill, process)))  # fmt: skip
    return found


def _kill(process: psutil.Process) -> None:
    with contextlib.suppress(psutil.Error):
        if process.is_running():  # the same process (psutil checks its start time), not one that took its pid
            os.kill(process.pid, signal.SIGKILL)


def _virsh(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["virsh", "-c", settings.libvirt_uri, *args], capture_output=True, text=True, timeout=30)


def _orphan_domains(settings: Settings) -> list[Leftover]:
    """libvirt domains of this installation (their console log lies in our VM folders) with no VM record,
    only where a local libvirtd runs."""
    if shutil.which("virsh") is None or not LIBVIRT_SOCKET.exists() or not settings.libvirt_uri.startswith("qemu:///"):
        return []
    try:
        listed = _virsh(settings, "list", "--all", "--name")
    except subprocess.TimeoutExpired:
        return []
    found = []
    ours = str(vm_record.vms_dir(settings))
    for domain in listed.stdout.split():
        name = domain.removeprefix(DOMAIN_PREFIX)
        if (
            not domain.startswith(DOMAIN_PREFIX)
            or not vm_record.NAME.fullmatch(name)
            or vm_record.exists(settings, name)
        ):
            continue
        if ours not in _virsh(settings, "dumpxml", domain).stdout:  # another installation's (its console is elsewhere)
            continue
        found.append(Leftover(f"libvirt domain {domain}", partial(_undefine, settings, domain)))
    return found


def _undefine(settings: Settings, domain: str) -> None:
    _virsh(settings, "destroy", domain)
    _virsh(settings, "undefine", domain, "--remove-all-storage", "--nvram")


def find(settings: Settings, destroy: Callable[[str], None]) -> list[Leftover]:
    """What interrupted runs left, removed by nothing yet. destroy(name) destroys a recorded VM."""
    return [
        *_half_built_boxes(settings),
        *_unrecorded_folders(settings),
        *_orphan_run_vms(settings, destroy),
        *_stale_qemu(settings),
        *_orphan_domains(settings),
    ]


def sweep(settings: Settings, destroy: Callable[[str], None]) -> list[str]:
    """Remove what interrupted runs left; one line per thing removed."""
    removed = []
    for leftover in find(settings, destroy):
        leftover.remove()
        removed.append(leftover.what)
    return removed
