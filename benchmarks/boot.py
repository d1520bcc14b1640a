"""Boot figures for the qemu provider, measured in one run: cold boot, snapshot start, reset, command round trip.

    .venv/bin/python benchmarks/boot.py [--kernel 6.1] [--commands 50]

Prints figures next to their targets; it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

from tabulate import tabulate

from toolkit import config, machines
from toolkit.machines.qemu import QemuMachine


def _timed(action) -> float:  # noqa: ANN001
    started = time.monotonic()
    action()
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", default=None)
    parser.add_argument("--commands", type=int, default=50)
    args = parser.parse_args()
    settings = config.load({"kernel": args.kernel})
    box = machines.box_for(settings, settings.kernel)
    name = f"bench-{uuid.uuid4().hex[:6]}"

    machine = QemuMachine.define(settings, name, box)
    try:
        machine.up()  # makes sure the ready snapshot exists
        machine.destroy()
        machine = QemuMachine.define(settings, name, box)
        cold = _timed(lambda: machine.up(cold=True))
        uptime = float(machine.run("cut -d' ' -f1 /proc/uptime", timeout=30).stdout)
        machine.destroy()
        machine = QemuMachine.define(settings, name, box)
        resume = _timed(machine.up)
        reset = _timed(machine.reset)
        machine.run("true", timeout=30)
        machine.run("true", timeout=30, sudo=True)
        user_rtt = [machine.run("true", timeout=30).duration_s for _ in range(args.commands)]
        root_rtt = [machine.run("true", timeout=30, sudo=True).duration_s for _ in range(args.commands)]
    finally:
        machine.destroy()

    rows = [
        ["cold boot -> SSH ready", f"{cold:.2f} s", "<= 6 s", f"guest uptime at ready {uptime:.2f} s"],
        ["snapshot start -> SSH ready", f"{resume:.2f} s", "<= 1 s", "copy template, -loadvm, SSH, set clock"],
        ["reset to ready snapshot", f"{reset:.2f} s", "", "a new QEMU process resuming the snapshot"],
        [
            "command round trip (vagrant)",
            f"{statistics.median(user_rtt) * 1000:.0f} ms",
            "<= 50 ms",
            f"median of {args.commands} `true` on one connection",
        ],
        [
            "command round trip (root)",
            f"{statistics.median(root_rtt) * 1000:.0f} ms",
            "<= 50 ms",
            f"median of {args.commands} `true` on one connection",
        ],
    ]
    print(
        f"kernel {box.kernel_release}, accelerator {machine.record.accel}, {settings.cpus} vCPUs, {settings.memory_mib} MiB"
    )
    print(tabulate(rows, headers=["what", "measured", "target", "how"], disable_numparse=True))


if __name__ == "__main__":
    main()
