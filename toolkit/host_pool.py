"""Hosts handed to kernel lines as they free up, each host running at most its own number of VMs at once."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator, Mapping, Sequence

import psutil

from toolkit.config import Settings
from toolkit.errors import UserError
from toolkit.host_capacity import HOST_RESERVE_MIB, MIB
from toolkit.machines import providers
from toolkit.machines.vagrant import libvirt_capacity


class HostPool:
    """Slots per host (a libvirt URI, or "" for this machine); a line holds one while its VM lives."""

    def __init__(self, slots: Mapping[str, int], limit: int | None = None) -> None:
        kept = _capped(slots, sum(slots.values()) if limit is None else limit)
        self.slots = {host: count for host, count in kept.items() if count > 0}
        if not self.slots:
            raise UserError(f"no host can run a VM now: {', '.join(slots) or 'none given'}")
        self._free = dict(self.slots)
        self._changed = threading.Condition()

    @property
    def total(self) -> int:
        return sum(self.slots.values())

    @contextlib.contextmanager
    def host(self) -> Iterator[str]:
        """Wait for a free slot (on the host with the most free, the first listed among equals), hold it."""
        with self._changed:
            self._changed.wait_for(lambda: any(self._free.values()))
            chosen = max(self._free, key=lambda host: self._free[host])
            self._free[chosen] -= 1
        try:
            yield chosen
        finally:
            with self._changed:
                self._free[chosen] += 1
                self._changed.notify()


def _capped(slots: Mapping[str, int], limit: int) -> dict[str, int]:
    """At most limit slots in all, taken from the hosts with the most first (the first listed among equals)."""
    kept = dict.fromkeys(slots, 0)
    for _ in range(min(limit, sum(slots.values()))):
        host = max(slots, key=lambda uri: slots[uri] - kept[uri])
        kept[host] += 1
    return kept


# vCPUs per host CPU a matrix runs by default: a guest's work under TCG is mostly one exec after another, so one
# busy vCPU per VM (2-core host, 4 lines: 112 s two VMs at once, 205 s one at a time, 102 s four at once).
VCPUS_PER_CPU = 2


def parallel_jobs(settings: Settings, lines: int, requested: int | None = None) -> int:
    """VMs at once: up to VCPUS_PER_CPU vCPUs per host CPU, or `requested` (more VMs share the CPUs, each then
    slower), never more than memory allows."""
    by_cpu = max(1, (psutil.cpu_count() or 1) * VCPUS_PER_CPU // settings.cpus)
    by_memory = max(1, (psutil.virtual_memory().available // MIB - HOST_RESERVE_MIB) // settings.memory_mib)
    if requested is not None and requested < 1:
        raise UserError(f"--jobs must be at least 1, not {requested}")
    return min(requested or by_cpu, by_memory, lines)


def matrix_hosts(settings: Settings, lines: int, requested: int | None = None, hosts: Sequence[str] = ()) -> HostPool:
    """Where a matrix's lines run and how many at once on each: this machine by its CPUs and memory (qemu), or
    each libvirt host (vagrant: `hosts`, else the configured one) by what its libvirt reports; at most `requested`."""
    if settings.provider != "vagrant":
        if hosts:
            raise UserError("--hosts spreads lines over libvirt hosts: it needs --provider vagrant")
        return HostPool({"": parallel_jobs(settings, lines, requested)})
    if requested is not None and requested < 1:
        raise UserError(f"--jobs must be at least 1, not {requested}")
    slots = {}
    for uri in dict.fromkeys(hosts or [settings.libvirt_uri]):
        providers.provider_class("vagrant").require_host_tools(dataclasses.replace(settings, libvirt_uri=uri))
        slots[uri] = libvirt_capacity.read(uri).vms(settings.cpus, settings.memory_mib)
    return HostPool(slots, min(lines, requested or lines))
