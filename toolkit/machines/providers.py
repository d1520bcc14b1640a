"""The providers that run VMs, picked by name: each is imported only when picked."""

from __future__ import annotations

from collections.abc import Callable

from toolkit.errors import UserError
from toolkit.machines.protocol import Provider


def _qemu() -> Provider:
    from toolkit.machines.qemu.provider import QemuMachine

    return QemuMachine


def _vagrant() -> Provider:
    from toolkit.machines.vagrant.provider import VagrantMachine

    return VagrantMachine


PROVIDERS: dict[str, Callable[[], Provider]] = {"qemu": _qemu, "vagrant": _vagrant}


def provider_class(name: str) -> Provider:
    try:
        load = PROVIDERS[name]
    except KeyError:
        raise UserError(f"unknown provider {name!r}: choose one of {', '.join(PROVIDERS)}") from None
    return load()
