"""The guest's delay-loop calibration, which a ready template keeps for every VM restored from it.

Under TCG the boot CPU's loops per jiffy come from the TSC ("value calculated using timer
frequency"), but each other vCPU counts loops of its own at the emulation speed of that moment
(QEMU's TCG has no invariant TSC, so the kernel cannot copy the boot CPU's). On a loaded host they
come out several times too small, and every mdelay/udelay on those vCPUs that much too short: a
module's 16 s busy loop in init lasted 2 s there, and no soft lockup was reported. A capture whose
vCPUs disagree boots again with the boot CPU's value for all of them (`lpj=`).
"""

from __future__ import annotations

import re

COMMAND = "grep '^bogomips' /proc/cpuinfo; dmesg | grep -o 'lpj=[0-9]*' | head -n 1"
TOLERANCE = 1.1  # how far apart vCPUs' calibrations may be


def boot_cpu_lpj_if_uneven(report: str) -> int | None:
    """From COMMAND's output: the boot CPU's loops per jiffy when the vCPUs' calibrations lie more than
    TOLERANCE apart, else None (also when the kernel did not say)."""
    bogomips = [float(line.split(":", 1)[1]) for line in report.splitlines() if line.startswith("bogomips")]
    found = re.search(r"^lpj=(\d+)$", report, re.MULTILINE)
    if found is None or not bogomips or max(bogomips) <= min(bogomips) * TOLERANCE:
        return None
    return int(found.group(1))
