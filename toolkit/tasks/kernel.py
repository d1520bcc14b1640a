"""kernel.*: kernels built from a line's Debian source with a profile's config (debug kernels)."""

from __future__ import annotations

import os

from invoke import Context

from toolkit import kernels
from toolkit.commands import collection, command
from toolkit.errors import UserError
from toolkit.run_options import KERNEL_HELP

JOBS_PER_CPU = 4  # compile jobs beyond four per CPU only wait for one


def compile_jobs(jobs: int | None, cpus: int) -> int:
    """The compile jobs a build runs: jobs as given (1 to JOBS_PER_CPU per CPU of the host's cpus), else one per CPU."""
    if jobs is None:
        return cpus
    if not 1 <= jobs <= JOBS_PER_CPU * cpus:
        raise UserError(
            f"--jobs must be between 1 and {JOBS_PER_CPU * cpus} ({JOBS_PER_CPU} per CPU of this host's {cpus}), "
            f"not {jobs}: leave it out for one job per CPU"
        )
    return jobs


@command(
    help={
        "kernel": KERNEL_HELP,
        "profile": f"config profile (kernel/configs/<profile>.config): {', '.join(kernels.PROFILES)}",
        "jobs": f"parallel compile jobs, 1 to {JOBS_PER_CPU} per CPU (default: one per CPU of the host)",
    }
)
def kernel_build(c: Context, kernel: str | None = None, profile: str = "debug", jobs: int | None = None) -> None:
    """Build a kernel from the line's Debian source with a profile's config, and the box `<line>-<profile>` around it."""
    from toolkit.machines import box_supply
    from toolkit.tasks.common import settings, stoppable
    from toolkit.user_folders import CACHE

    parallel = compile_jobs(jobs, os.cpu_count() or 1)
    found = settings(c, writes=[CACHE], kernel=kernel)
    line = kernels.select(found.kernel)
    variant = line if line.profile else line.variant(profile)
    with stoppable("the build stopped: run the same command again to resume it"):
        box = box_supply.variant_box(found, variant, parallel)
    print(
        f"box {box.name}: kernel {box.kernel_release} ({box.kernel_package_version}), "
        f"{box.size_bytes() / 2**20:.0f} MiB, in {box.path}; use it with --kernel {variant.name}"
    )


ns = collection("kernel", kernel_build)
