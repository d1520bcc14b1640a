"""How many VMs a libvirt host runs at once: its CPUs and memory as libvirt reports them (`virsh nodeinfo`,
`virsh nodememstats`, wherever the host is), divided by a VM's own, never oversubscribed."""

from __future__ import annotations

import re
from dataclasses import dataclass

from toolkit.errors import UserError
from toolkit.machines.vagrant.libvirt_host import virsh

RESERVE_MIB = 1024  # what a host keeps for itself beyond its VMs


@dataclass(frozen=True)
class HostCapacity:
    uri: str
    cpus: int
    available_mib: int  # free memory plus what the kernel can reclaim from its caches

    def vms(self, cpus: int, memory_mib: int) -> int:
        """VMs of that size at once, with a CPU each of their vCPUs and their memory beside the host's reserve."""
        return max(0, min(self.cpus // cpus, (self.available_mib - RESERVE_MIB) // memory_mib))

    def describe(self) -> str:
        return f"{self.cpus} CPUs, {self.available_mib} MiB available"


def _kib(text: str, label: str) -> int:
    found = re.search(rf"^{label}\s*:\s*(\d+) KiB", text, re.MULTILINE)
    if not found:
        raise ValueError(label)
    return int(found.group(1))


def parse(uri: str, nodeinfo: str, nodememstats: str) -> HostCapacity:
    """The capacity in `virsh nodeinfo` and `virsh nodememstats` output."""
    cpus = re.search(r"^CPU\(s\):\s*(\d+)", nodeinfo, re.MULTILINE)
    try:
        if not cpus:
            raise ValueError("CPU(s)")
        available = sum(_kib(nodememstats, label) for label in ("free", "buffers", "cached"))
    except ValueError as missing:
        raise UserError(f"libvirt at {uri} reports no {missing} (virsh nodeinfo, nodememstats)") from None
    return HostCapacity(uri, int(cpus.group(1)), available // 1024)


def read(uri: str) -> HostCapacity:
    """The host's capacity now, asked of its libvirt."""
    answers = [virsh(uri, command, timeout=60) for command in ("nodeinfo", "nodememstats")]
    failed = next((done for done in answers if done.returncode != 0), None)
    if failed is not None:
        reason = (failed.stderr.strip().splitlines() or ["no answer"])[-1]
        raise UserError(f"libvirt at {uri} does not tell its CPUs and memory: {reason}")
    return parse(uri, answers[0].stdout, answers[1].stdout)
