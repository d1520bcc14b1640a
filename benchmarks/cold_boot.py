"""Where a cold boot's seconds go, per debug tier: QEMU and the firmware, the kernel, the guest's init.

    .venv/bin/python benchmarks/cold_boot.py [--kernel 6.1] [--tiers off,lite] [--boots 3]

A cold boot is what a new shape's first start pays once, before its ready template is saved: `up(cold=True)`
on a VM of that shape. The tiers boot in turn (a change in the host's load hits each alike), --boots times
each. The phases come from the host's clock and the guest's own: what passes before the guest's clock starts
(QEMU, the firmware, loading the kernel, the kernel's first steps), then the kernel until it runs /init, of which
the deferred page initialisation (where the lite tier poisons the guest's free memory), then the initramfs and
the boot script until "guest ready", then until the agent answers. Where a shape had no ready template yet, its
first start (a boot, then the template saved: what a user's first run pays) is timed too. Prints medians and the
load average before and after; asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import statistics
import threading
import time
import uuid

from tabulate import tabulate

from toolkit import config, debug_tiers
from toolkit.machines import box_supply
from toolkit.machines.qemu.provider import QemuMachine

READY = "vexfs-vmtest: guest ready"
GUEST_FIGURES = "dmesg | grep -E 'deferred pages initialised in|Run /init as init process'"


@dataclasses.dataclass(frozen=True)
class ColdBoot:
    """One cold boot: seconds on the host's clock from QEMU's start, and on the guest's from its clock's start."""

    total_s: float  # host: until the agent answers
    host_ready_s: float  # host: until the console says "guest ready"
    guest_ready_s: float  # guest: its uptime when its boot script said "guest ready"
    init_s: float  # guest: its uptime when the kernel ran /init
    deferred_pages_s: float  # guest: the deferred page initialisation, as the kernel timed it
    capture_s: float  # host: the shape's first start (a boot, its ready template saved); nan when it was saved before

    @property
    def before_clock_s(self) -> float:
        return self.host_ready_s - self.guest_ready_s

    @property
    def to_ready_s(self) -> float:
        return self.guest_ready_s - self.init_s

    @property
    def to_agent_s(self) -> float:
        return self.total_s - self.host_ready_s


def _seconds(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    return float(found.group(1)) if found else float("nan")


def _when_ready(machine: QemuMachine, started: float, seen: list[float], stop: threading.Event) -> None:
    """Appends the host's seconds since started at which the console first says "guest ready"."""
    while not stop.wait(0.02):
        if READY in machine.console_text():
            seen.append(time.monotonic() - started)
            return


def cold_boot(settings: config.Settings, tier: str) -> ColdBoot:
    """A cold boot of a VM in tier (its ready template made first if it is missing), measured, then destroyed."""
    tiered = dataclasses.replace(settings, debug=tier)
    box = box_supply.box_for(tiered, tiered.kernel)
    name = f"bench-cold-{uuid.uuid4().hex[:6]}"
    machine = QemuMachine.define(tiered, name, box)
    try:
        capturing = not machine.template().exists()
        started = time.monotonic()
        machine.up()
        capture = time.monotonic() - started if capturing else float("nan")
        machine.destroy()
        machine = QemuMachine.define(tiered, name, box)
        seen: list[float] = []
        stop = threading.Event()
        started = time.monotonic()
        watcher = threading.Thread(target=_when_ready, args=(machine, started, seen, stop))
        watcher.start()
        try:
            machine.up(cold=True)
            total = time.monotonic() - started
        finally:
            stop.set()
            watcher.join()
        figures = machine.run(GUEST_FIGURES, timeout=60, sudo=True).stdout
        console = machine.console_text()
    finally:
        machine.destroy()
    return ColdBoot(
        total,
        seen[0] if seen else float("nan"),
        _seconds(READY + r" after ([0-9.]+) s", console),
        _seconds(r"\[ *([0-9.]+)\] Run /init as init process", figures),
        _seconds(r"deferred pages initialised in ([0-9]+)ms", figures) / 1000,
        capture,
    )


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", default=None)
    parser.add_argument("--tiers", default="off,lite", help="debug tiers to boot, in turn")
    parser.add_argument("--boots", type=int, default=3, help="cold boots of each tier to take the median of")
    args = parser.parse_args()
    settings = config.load({"kernel": args.kernel})
    tiers = [debug_tiers.select(tier).name for tier in args.tiers.split(",")]
    if args.boots < 1:
        raise SystemExit(f"--boots must be at least 1, got {args.boots}")
    load_before = _load()
    boots: dict[str, list[ColdBoot]] = {tier: [] for tier in tiers}
    for _ in range(args.boots):
        for tier in tiers:
            boots[tier].append(cold_boot(settings, tier))

    def median(tier: str, figure: str) -> str:
        values = [getattr(boot, figure) for boot in boots[tier] if not math.isnan(getattr(boot, figure))]
        return f"{statistics.median(values):.2f} s ({len(values)})" if values else "-"

    rows = []
    for tier in tiers:
        rows.append([
            tier, median(tier, "total_s"), median(tier, "before_clock_s"), median(tier, "init_s"),
            median(tier, "deferred_pages_s"), median(tier, "to_ready_s"), median(tier, "to_agent_s"),
            median(tier, "capture_s"),
        ])  # fmt: skip
    print(
        f"kernel line {settings.kernel}, accelerator as probed, {settings.cpus} vCPUs, {settings.memory_mib} MiB, "
        f"medians (of how many) of {args.boots} cold boots per tier; load average {load_before} before, {_load()} after"
    )
    headers = ["tier", "cold boot -> agent", "before the guest's clock", "kernel -> /init", "of which deferred pages",
               "/init -> guest ready", "guest ready -> agent", "first start of the shape, template saved"]  # fmt: skip
    print(tabulate(rows, headers=headers, disable_numparse=True))


if __name__ == "__main__":
    main()
