"""The two providers side by side, measured in one run: start -> SSH ready, and command round trip.

    .venv/bin/python benchmarks/providers.py [--commands 30]

Prints figures (and the vagrant/qemu ratio); it asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
import uuid

from tabulate import tabulate

from toolkit import config
from toolkit.machines import registry


def _measure(settings: config.Settings, commands: int) -> dict[str, float]:
    name = f"bench-{settings.provider}-{uuid.uuid4().hex[:6]}"
    machine = registry.define(settings, name)
    try:
        started = time.monotonic()
        machine.up()
        up = time.monotonic() - started
        machine.run("true", timeout=30, sudo=True)
        root = [machine.run("true", timeout=30, sudo=True).duration_s for _ in range(commands)]
        user = [machine.run("true", timeout=30).duration_s for _ in range(commands)]
    finally:
        machine.destroy()
    return {"up": up, "root": statistics.median(root) * 1000, "user": statistics.median(user) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=30)
    args = parser.parse_args()
    base = config.load()
    qemu = _measure(dataclasses.replace(base, provider="qemu"), args.commands)
    vagrant = _measure(dataclasses.replace(base, provider="vagrant"), args.commands)
    rows = [
        ["start -> SSH ready", f"{qemu['up']:.2f} s", f"{vagrant['up']:.2f} s", f"{vagrant['up'] / qemu['up']:.0f}x"],
        ["command round trip (root)", f"{qemu['root']:.0f} ms", f"{vagrant['root']:.0f} ms", f"{vagrant['root'] / qemu['root']:.1f}x"],
        ["command round trip (vagrant)", f"{qemu['user']:.0f} ms", f"{vagrant['user']:.0f} ms", f"{vagrant['user'] / qemu['user']:.1f}x"],
    ]  # fmt: skip
    print("qemu: resumes the box's ready snapshot; vagrant: `vagrant up` of the same box under libvirt (systemd boot)")
    print(tabulate(rows, headers=["what", "qemu", "vagrant", "vagrant / qemu"], disable_numparse=True))
    print("(`vagrant ssh -c` costs ~2.5 s per command; both providers keep one Fabric connection instead)")


if __name__ == "__main__":
    main()
