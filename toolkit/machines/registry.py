"""The installation's VMs, by name: defined, opened, held, destroyed, and what interrupted runs left swept."""

from __future__ import annotations

import contextlib

from toolkit import kernels
from toolkit.config import Settings
from toolkit.errors import UserError
from toolkit.files import remove_tree
from toolkit.machines import leftovers, lock, vm_record
from toolkit.machines.box_supply import box_for
from toolkit.machines.protocol import Machine
from toolkit.machines.providers import provider_class


def check_name(settings: Settings, name: str) -> None:
    """An existing VM called name must be of the configured kernel and provider (checked before any box build)."""
    line = kernels.select(settings.kernel)
    provider_class(settings.provider)
    if vm_record.exists(settings, name):
        known = vm_record.load(settings, name)
        if known.kernel_line != line.name or known.provider != settings.provider:
            raise UserError(
                f"VM {name!r} exists with kernel {known.kernel_line} on {known.provider}, not {line.name} on "
                f"{settings.provider}: `invoke vm.destroy --name {name}` first, or pick another --name"
            )
        if known.libvirt_uri and known.libvirt_uri != settings.libvirt_uri:
            raise UserError(
                f"VM {name!r} runs on libvirt at {known.libvirt_uri}, not {settings.libvirt_uri}: "
                f"`invoke vm.destroy --name {name}` first, or pick another --name"
            )


def exists(settings: Settings, name: str) -> bool:
    return vm_record.exists(settings, name)


def locked(settings: Settings, name: str, purpose: str) -> contextlib.AbstractContextManager[None]:
    """Hold the VM called name for purpose; UserError at once when another process holds it."""
    return lock.held(vm_record.vm_dir(settings, name), name, purpose)


def define(settings: Settings, name: str) -> Machine:
    """The VM called name for the configured kernel and provider, recorded (not yet started)."""
    machine_class = provider_class(settings.provider)
    check_name(settings, name)
    machine_class.require_host_tools(settings)
    return machine_class.define(settings, name, box_for(settings, settings.kernel))


def open_existing(settings: Settings, name: str) -> Machine:
    known = vm_record.load(settings, name)
    return provider_class(known.provider)(settings, known)


def names(settings: Settings) -> list[str]:
    return vm_record.machine_names(settings)


def destroy(settings: Settings, name: str) -> None:
    """Destroy the VM called name, holding its lock; a record no provider can read goes with its folder."""
    with locked(settings, name, "destroying it"):
        try:
            machine = open_existing(settings, name)
        except vm_record.CorruptRecord:
            remove_tree(vm_record.vm_dir(settings, name))
            return
        machine.destroy()


def sweep(settings: Settings) -> list[str]:
    """Remove what interrupted runs left behind (see leftovers.py); one line for each thing removed."""
    return leftovers.sweep(settings, lambda name: destroy(settings, name))


def stale(settings: Settings) -> list[str]:
    """What interrupted runs left behind, removed by nothing (for commands that only look)."""
    return [leftover.what for leftover in leftovers.find(settings, lambda name: None)]


def checked_name(settings: Settings, name: str) -> str:
    """name when a VM can be called so (vm_record.checked_name); a UserError else."""
    return vm_record.checked_name(settings, name)


def checked_new_name(settings: Settings, name: str) -> str:
    """name when a user's VM (vm.up, a test run) can be called so: not the names of the VMs a run makes for itself
    either (a matrix's, a second guest's), which the next command's sweep destroys when nobody holds them."""
    for prefix, run in leftovers.RUN_PREFIXES.items():
        if name.startswith(prefix):
            raise UserError(
                f"VM name {name!r} starts with {prefix!r}, which names the VMs of {run} (removed when no run holds "
                "them): pick another --name"
            )
    return checked_name(settings, name)


def destroy_all(settings: Settings) -> list[str]:
    """Destroy every VM of this installation, whichever provider; the names of those destroyed."""
    destroyed = names(settings)
    for name in destroyed:
        destroy(settings, name)
    return destroyed
