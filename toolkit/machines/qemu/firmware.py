"""The firmware QEMU starts a guest's kernel with: qboot where this QEMU has it, else its default, SeaBIOS.

The kernel is booted directly (`-kernel`), so the firmware only has to hand over to it. qboot does just that,
with the same ACPI tables and e820 map; SeaBIOS also scans for option ROMs and boot devices, which under TCG
cost 0.5-1.5 s of a cold boot on a loaded 2-core host (docs/benchmarks.md). Debian's qemu-system-data ships
qboot.rom, other distributions may not: QEMU is asked where its data files are, and without it nothing changes.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

QBOOT = "qboot.rom"
ASK_TIMEOUT_S = 10.0


@functools.cache
def data_dirs() -> tuple[Path, ...]:
    """The folders this QEMU looks up firmware files in (`-L help`); none when it cannot say."""
    try:
        done = subprocess.run(
            ["qemu-system-x86_64", "-L", "help"], capture_output=True, text=True, timeout=ASK_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return ()
    if done.returncode != 0:
        return ()
    return tuple(Path(line.strip()) for line in done.stdout.splitlines() if line.strip())


def bios(dirs: tuple[Path, ...]) -> str:
    """QBOOT when one of dirs holds it, else "" (QEMU's default firmware)."""
    return QBOOT if any((folder / QBOOT).is_file() for folder in dirs) else ""
