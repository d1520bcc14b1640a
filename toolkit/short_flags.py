"""Short flags, chosen on purpose: a letter means one option in every command, invoke tasks and the matrix alike.

Every other option is long only. The letters keep clear of invoke's own (-c -d -D -e -f -F -h -l
-p -r -R -T -V -w, given before a task's name), so no letter means two things on one command line.
"""

from __future__ import annotations

SHORT_FLAGS = {
    "k": ("kernel", "kernels"),  # the kernel line; the matrix's lines
    "n": ("name",),  # the VM; a matrix run's VM names
    "m": ("module-dir",),  # the module's source
    "j": ("jobs",),  # how many at once: VMs (the matrix), compile jobs (kernel.build)
    "o": ("output",),  # the file written
    "s": ("sudo",),  # as root in the guest
}


def short_flag(long: str) -> str | None:
    """The letter of a long option (without its dashes), None when it has none."""
    return next((letter for letter, longs in SHORT_FLAGS.items() if long in longs), None)
