"""Machines: the providers that run VMs, picked by name."""

from __future__ import annotations

from toolkit import kernels
from toolkit.boxes import build, store
from toolkit.boxes.recipe import BoxRecipe
from toolkit.config import Settings
from toolkit.errors import UserError
from toolkit.machines import record
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
    """The box for a kernel line, built first if the cache lacks it."""
    recipe = BoxRecipe(kernels.select(kernel))
    return store.find(settings.cache_dir, recipe) or build.build(
        recipe, settings.cache_dir, settings.mirror, settings.cache_dir / "logs"
    )


def define(settings: Settings, name: str) -> Machine:
    """The VM called name for the configured kernel and provider, recorded (not yet started)."""
    machine_class = provider_class(settings.provider)
    kernels.select(settings.kernel)
    machine_class.require_host_tools(settings)
    return machine_class.define(settings, name, box_for(settings, settings.kernel))


def open_existing(settings: Settings, name: str) -> Machine:
    known = record.load(settings, name)
    return provider_class(known.provider)(settings, known)


def names(settings: Settings) -> list[str]:
    return record.machine_names(settings)
