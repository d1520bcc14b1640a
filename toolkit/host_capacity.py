"""Whether a host has room for one more VM now: its CPUs, its memory beside a reserve, disk for the VM's overlay.

Checked by every command that starts a VM before anything starts (`vm.up`, `test.kernel`, `test.fs`, the
matrix), and again by a run as it brings its VM up. A qemu VM runs on this host; a vagrant VM on its libvirt
host, as that libvirt reports it.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import psutil

from toolkit import host_checks
from toolkit.config import Settings
from toolkit.errors import UserError
from toolkit.machines.vagrant import libvirt_capacity

MIB = 2**20
HOST_RESERVE_MIB = libvirt_capacity.RESERVE_MIB
HOST_DISK_RESERVE_GIB = 2.0
# QEMU runs more vCPUs than the host has CPUs, but beyond two per CPU they only take turns and slow the guest down.
VCPUS_PER_HOST_CPU = 2


def host_vitals(settings: Settings) -> dict[str, float]:
    """The host's free memory, load and free disk (where VMs keep their overlays), as a run goes."""
    disk = shutil.disk_usage(settings.state_dir if settings.state_dir.exists() else Path.home())
    return {
        "mem_available_mib": psutil.virtual_memory().available // MIB,
        "load_1m": round(psutil.getloadavg()[0], 2),
        "disk_free_gib": round(disk.free / 2**30, 1),
    }


def _require_cpus(settings: Settings, host_cpus: int, where: str) -> None:
    most = VCPUS_PER_HOST_CPU * host_cpus
    if settings.cpus > most:
        raise UserError(
            f"cpus {settings.cpus} is more than {where} runs well: it has {host_cpus} CPU(s), a VM gets at most "
            f"{VCPUS_PER_HOST_CPU} vCPUs per CPU (more only take turns and slow the guest down): set cpus to {most} "
            "or fewer in vmtest.toml or VEXFS_CPUS"
        )


def require_host_capacity(settings: Settings) -> None:
    """Start no VM that would exhaust the host: vCPUs its CPUs can run, memory for it and a reserve, disk for its
    overlay (a vagrant VM's host: the CPUs and memory its libvirt reports)."""
    if settings.provider == "vagrant":
        host_checks.require_tool("virsh")
        capacity = libvirt_capacity.read(settings.libvirt_uri)
        _require_cpus(settings, capacity.cpus, f"libvirt at {settings.libvirt_uri}")
        if capacity.vms(1, settings.memory_mib) < 1:
            raise UserError(
                f"libvirt at {settings.libvirt_uri} has {capacity.available_mib} MiB available, a VM needs "
                f"{settings.memory_mib} MiB and the host keeps {HOST_RESERVE_MIB} MiB: stop VMs there or lower memory_mib"
            )
        return
    _require_cpus(settings, psutil.cpu_count() or 1, "this host")
    vitals = host_vitals(settings)
    if vitals["mem_available_mib"] < settings.memory_mib + HOST_RESERVE_MIB:
        raise UserError(
            f"the host has {vitals['mem_available_mib']:.0f} MiB available, a VM needs {settings.memory_mib} MiB "
            f"and the host keeps {HOST_RESERVE_MIB} MiB: stop other VMs (invoke vm.status) or lower memory_mib"
        )
    if vitals["disk_free_gib"] < HOST_DISK_RESERVE_GIB:
        raise UserError(
            f"only {vitals['disk_free_gib']:g} GiB free for VM overlays in {settings.state_dir}: free space there "
            "(invoke box.prune, vm.destroy) or set VEXFS_STATE_DIR to a bigger disk"
        )


def others_cpus(own: Sequence[int], sample_s: float = 0.5) -> float:
    """How many CPUs the host's other processes kept busy over sample_s: its whole use less that of the processes
    own names (a run's guests)."""
    ours = [psutil.Process(pid) for pid in own if psutil.pid_exists(pid)]
    for process in ours:
        process.cpu_percent(None)  # the start of its sample
    busy = psutil.cpu_percent(interval=sample_s) / 100 * (psutil.cpu_count() or 1)
    return max(0.0, busy - sum(process.cpu_percent(None) for process in ours) / 100)


def require_free_cpu(own: Sequence[int]) -> None:
    """Room on the CPUs for one more busy guest beside the run's own (own: their processes): under TCG a guest
    keeps about one CPU busy, and starved, its vCPUs report soft lockups that are not the subject's. The other
    processes may keep at most the CPUs less the two guests' busy (and half a CPU more); a UserError saying what
    they used else."""
    cpus = psutil.cpu_count() or 1
    others = others_cpus(own)
    if others > cpus - 1.5:
        raise UserError(f"the host's CPUs are busy: other processes kept {others:.1f} of its {cpus} CPUs busy")
