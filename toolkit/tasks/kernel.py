"""kernel.*: kernels built from a line's Debian source with a profile's config (debug kernels)."""

from __future__ import annotations

import os

from invoke import Context

from toolkit import kernels, machines
from toolkit.cli import command
from toolkit.run_options import KERNEL_HELP
from toolkit.tasks.common import collection, settings, stoppable


@command(
    help={
        "kernel": KERNEL_HELP,
        "profile": f"config profile (kernel/configs/<profile>.config): {', '.join(kernels.PROFILES)}",
        "jobs": "parallel compile jobs (default: the host's CPUs)",
    }
)
def kernel_build(c: Context, kernel: str | None = None, profile: str = "debug", jobs: int = 0) -> None:
    """Build a kernel from the line's Debian source with a profile's config, and the box `<line>-<profile>` around it."""
    found = settings(c, kernel=kernel)
    line = kernels.select(found.kernel)
    variant = line if line.profile else line.variant(profile)
    with stoppable("the build stopped: run the same command again to resume it"):
        box = machines.variant_box(found, variant, jobs or os.cpu_count() or 1)
    print(
        f"box {box.name}: kernel {box.kernel_release} ({box.kernel_package_version}), "
        f"{box.size_bytes() / 2**20:.0f} MiB, in {box.path}; use it with --kernel {variant.name}"
    )


ns = collection("kernel", kernel_build)
