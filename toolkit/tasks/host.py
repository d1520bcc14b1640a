"""setup: check and prepare the host for a provider."""

from __future__ import annotations

from invoke import Context

from toolkit.commands import command


@command(help={"provider": "also prepare this provider: vagrant installs Vagrant and libvirt and starts libvirt"})
def setup(c: Context, provider: str = "qemu") -> None:
    """Check and prepare the host for a provider (./setup has installed the qemu provider's packages)."""
    from toolkit.machines import providers
    from toolkit.tasks.common import settings

    found = settings(c, provider=provider)
    for change in providers.provider_class(found.provider).prepare_host(found):
        print(f"changed: {change}")
    print(f"provider {found.provider} ready")
