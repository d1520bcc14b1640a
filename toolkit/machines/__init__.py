"""Machines: the providers that run VMs, picked by name."""

from __future__ import annotations

import contextlib
from pathlib import Path

from toolkit import kernels
from toolkit.boxes import build, kernel_build, store
from toolkit.boxes import vagrant as vagrant_box
from toolkit.boxes.recipe import BoxRecipe
from toolkit.config import Settings
from toolkit.errors import UserError
from toolkit.files import remove_tree
from toolkit.machines import leftovers, lock, record
from toolkit.machines.base import Machine, Provider
from toolkit.machines.qemu import QemuMachine
from toolkit.machines.vagrant import VagrantMachine

PROVIDERS: dict[str, Provider] = {"qemu": QemuMachine, "vagrant": VagrantMachine}


def provider_class(name: str) -> Provider:
    try:
        return PROVIDERS[name]
    except KeyError:
        raise UserError(f"unknown provider {name!r}: choose one of {', '.join(PROVIDERS)}") from None


def box_for(settings: Settings, kernel: str) -> store.Box:
    """The box for a kernel line, built first if the cache lacks it (a variant's from its cached kernel build:
    building the kernel is `kernel.build`'s)."""
    line = kernels.select(kernel)
    recipe = BoxRecipe(line)
    found = store.find(settings.cache_dir, recipe)
    if found or not line.profile:
        return found or build.build(recipe, settings.cache_dir, settings.mirror, settings.cache_dir / "logs")
    base = box_for(settings, line.base.name)
    wanted = kernel_build.for_box(line, base)
    built = kernel_build.find(settings.cache_dir, wanted)
    if built:
        debs = built.debs(kernel_build.debs_dir(settings.cache_dir, wanted))
        return build.derive(recipe, base, debs, settings.cache_dir, settings.cache_dir / "logs")
    raise UserError(
        f"no {line.name} kernel built yet: run `invoke kernel.build --kernel {line.base.name} --profile "
        f"{line.profile}` (about 20-45 min on 2 cores, cached afterwards)"
    )


def variant_box(settings: Settings, line: kernels.KernelLine, jobs: int) -> store.Box:
    """The box of a built variant line: its stock box, the kernel built from that box's source, the two combined."""
    base = box_for(settings, line.base.name)
    kernel_build.build(kernel_build.for_box(line, base), settings.cache_dir, settings.mirror, jobs)
    return box_for(settings, line.name)


def stale_kernel_builds(settings: Settings) -> list[Path]:
    """Remove kernel builds for no current variant of a cached stock box (older fragments, older sources)."""
    stock = {box.kernel_line: box for box in store.list_boxes(settings.cache_dir)}
    current = {
        kernel_build.for_box(variant, stock[variant.base.name])
        for variant in kernels.every_line()
        if variant.profile and variant.base.name in stock
    }
    return kernel_build.remove_except(settings.cache_dir, current)


def prune_cache(settings: Settings) -> list[str]:
    """Remove what the cache no longer needs; one line for each thing removed.

    Boxes of an older recipe (after a toolkit upgrade) no VM of this installation uses, kernel builds
    for no current variant, half-built boxes of killed builds and the build logs of boxes gone.
    """
    removed = [f"half-built box {name}" for name in store.remove_abandoned_builds(settings.cache_dir)]
    removed += [
        f"outdated kernel build {path.relative_to(settings.cache_dir)}" for path in stale_kernel_builds(settings)
    ]
    current = {BoxRecipe(line).name for line in kernels.every_line()}
    used = {open_existing(settings, name).record.box for name in names(settings)}
    for box in store.list_boxes(settings.cache_dir):
        if box.name not in current and str(box.path) not in used:
            vagrant_box.remove(box)
            store.remove(box)
            removed.append(f"stale box {box.name} (kernel {box.kernel_line})")
    logs = store.remove_logs_of_gone_boxes(settings.cache_dir, settings.cache_dir / "logs")
    return removed + [f"build log of box {name}, which is gone" for name in logs]


def check_name(settings: Settings, name: str) -> None:
    """An existing VM called name must be of the configured kernel and provider (checked before any box build)."""
    line = kernels.select(settings.kernel)
    provider_class(settings.provider)
    if record.exists(settings, name):
        known = record.load(settings, name)
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
    return record.exists(settings, name)


def locked(settings: Settings, name: str, purpose: str) -> contextlib.AbstractContextManager[None]:
    """Hold the VM called name for purpose; UserError at once when another process holds it."""
    return lock.held(record.vm_dir(settings, name), name, purpose)


def define(settings: Settings, name: str) -> Machine:
    """The VM called name for the configured kernel and provider, recorded (not yet started)."""
    machine_class = provider_class(settings.provider)
    check_name(settings, name)
    machine_class.require_host_tools(settings)
    return machine_class.define(settings, name, box_for(settings, settings.kernel))


def open_existing(settings: Settings, name: str) -> Machine:
    known = record.load(settings, name)
    return provider_class(known.provider)(settings, known)


def names(settings: Settings) -> list[str]:
    return record.machine_names(settings)


def destroy(settings: Settings, name: str) -> None:
    """Destroy the VM called name, holding its lock; a record no provider can read goes with its folder."""
    with locked(settings, name, "destroying it"):
        try:
            machine = open_existing(settings, name)
        except record.CorruptRecord:
            remove_tree(record.vm_dir(settings, name))
            return
        machine.destroy()


def sweep(settings: Settings) -> list[str]:
    """Remove what interrupted runs left behind (see leftovers.py); one line for each thing removed."""
    return leftovers.sweep(settings, lambda name: destroy(settings, name))


def stale(settings: Settings) -> list[str]:
    """What interrupted runs left behind, removed by nothing (for commands that only look)."""
    return [leftover.what for leftover in leftovers.find(settings, lambda name: None)]


def checked_name(settings: Settings, name: str) -> str:
    """name when a VM can be called so (record.checked_name); a UserError else."""
    return record.checked_name(settings, name)


def checked_new_name(settings: Settings, name: str) -> str:
    """name when a user's VM (vm.up, a test run) can be called so: not the matrix's own names either, which the
    next command's sweep destroys when nobody holds them."""
    if name.startswith(leftovers.MATRIX_PREFIX):
        raise UserError(
            f"VM name {name!r} starts with {leftovers.MATRIX_PREFIX!r}, which names the matrix's own VMs "
            "(removed when no run holds them): pick another --name"
        )
    return checked_name(settings, name)


def destroy_all(settings: Settings) -> list[str]:
    """Destroy every VM of this installation, whichever provider; the names of those destroyed."""
    destroyed = names(settings)
    for name in destroyed:
        destroy(settings, name)
    return destroyed
