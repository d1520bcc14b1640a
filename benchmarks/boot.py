"""Machine figures for the qemu provider, measured in one run: cold boot, start from the ready template,
reset, the first command after a restore, command round trips and file copies, over the guest agent and
over SSH side by side (SSH stays for `vm.ssh` and the vagrant provider).

    .venv/bin/python benchmarks/boot.py [--kernel 6.1] [--starts 5] [--commands 30] [--copy-mib 8]

Prints medians next to their targets (and reference figures of SSH-only machines on a quiet host), the ratios,
and the load average before and after: timings on a shared host move with its load. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from tabulate import tabulate

from toolkit import config
from toolkit.machines import box_supply
from toolkit.machines.qemu.provider import QemuMachine
from toolkit.machines.recorded_machine import GUEST_USER
from toolkit.machines.ssh import SshSession


def _timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s"


def _ssh(machine: QemuMachine, user: str) -> SshSession:
    session = SshSession(machine.ssh_target(user), machine.commands_log)
    session.wait_until_ready(time.monotonic() + 120)
    return session


def _interleaved(agent: Callable[[], object], ssh: Callable[[], object], count: int) -> tuple[float, float]:
    """Medians of count runs of each, taken in turn (a change in the host's load hits both alike)."""
    agent(), ssh()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(count):
        times[0].append(_timed(agent))
        times[1].append(_timed(ssh))
    return _median(times[0]), _median(times[1])


def _round_trips(machine: QemuMachine, user: str, count: int) -> tuple[float, float]:
    session = _ssh(machine, user)
    sudo = user == "root"
    return _interleaved(
        lambda: machine.run("true", timeout=60, sudo=sudo), lambda: session.run("true", timeout=60), count
    )


def _copies(machine: QemuMachine, mib: int, count: int) -> tuple[float, float]:
    """A file of mib MiB copied into the guest and back as the vagrant user: over the agent, over SFTP."""
    session = _ssh(machine, GUEST_USER)
    with tempfile.TemporaryDirectory() as scratch:
        local = Path(scratch) / "copy.bin"
        local.write_bytes(os.urandom(mib * 1024 * 1024))

        def agent() -> None:
            machine.put(local, "/tmp/copy.bin")
            machine.get("/tmp/copy.bin", local)

        def ssh() -> None:
            session.put(local, "/tmp/copy.bin")
            session.get("/tmp/copy.bin", local)

        return _interleaved(agent, ssh, count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", default=None)
    parser.add_argument("--starts", type=int, default=5, help="starts and resets to take the median of")
    parser.add_argument("--commands", type=int, default=30, help="round trips to take the median of")
    parser.add_argument("--copy-mib", type=int, default=8, help="size of the file copied each way")
    args = parser.parse_args()
    settings = config.load({"kernel": args.kernel})
    box = box_supply.box_for(settings, settings.kernel)
    name = f"bench-{uuid.uuid4().hex[:6]}"
    load_before = _load()

    machine = QemuMachine.define(settings, name, box)
    try:
        machine.up()  # captures the ready template if it is not there yet
        machine.destroy()
        machine = QemuMachine.define(settings, name, box)
        cold = _timed(lambda: machine.up(cold=True))
        uptime = float(machine.run("cut -d' ' -f1 /proc/uptime", timeout=30).stdout)
        machine.destroy()
        starts, first_commands, ssh_ready = [], [], []
        for _ in range(args.starts):
            machine = QemuMachine.define(settings, name, box)
            started = time.monotonic()
            machine.up()
            starts.append(time.monotonic() - started)
            first_commands.append(machine.run("true", timeout=60, sudo=True).duration_s)
            _ssh(machine, "root").run("true", timeout=60)
            ssh_ready.append(time.monotonic() - started)
            machine.destroy()
        machine = QemuMachine.define(settings, name, box)
        machine.up()
        resets = [_timed(machine.reset) for _ in range(args.starts)]
        trips = {user: _round_trips(machine, user, args.commands) for user in ("root", GUEST_USER)}
        agent_copy, ssh_copy = _copies(machine, args.copy_mib, 3)
    finally:
        machine.destroy()

    rows = [
        ["cold boot -> agent ready", _s(cold), "", "", "5.7 s", f"guest uptime at ready {uptime:.2f} s"],
        ["template start -> agent ready", _s(_median(starts)), "", "<= 0.5 s", "1.40 s",
         "overlay on the template's disk, RAM file mapped privately, device state migrated in, clock set"],
        ["template start -> SSH answers", _s(_median(ssh_ready)), "", "", "", "what `vm.ssh` waits for"],
        ["first command after a start", _ms(_median(first_commands)), "", "", "", "a new QEMU translates the guest's code afresh"],
        ["reset to the ready template", _s(_median(resets)), "", "<= 0.5 s", "1.59 s", "QEMU killed, a new one restores"],
    ]  # fmt: skip
    for user, (agent, ssh) in trips.items():
        rows.append([f"`true` round trip ({user}), agent | SSH", f"{_ms(agent)} | {_ms(ssh)}", f"{ssh / agent:.1f}x",
                     "<= 20 ms", "71 ms" if user == "root" else "163 ms",
                     f"medians of {args.commands} each, in turn, on one connection"])  # fmt: skip
    rows.append([f"copy {args.copy_mib} MiB there and back, agent | SFTP", f"{_s(agent_copy)} | {_s(ssh_copy)}",
                 f"{ssh_copy / agent_copy:.1f}x", "", "", "as the vagrant user, medians of 3 in turn"])  # fmt: skip
    print(
        f"kernel {box.kernel_release}, accelerator {machine.record.accel}, {settings.cpus} vCPUs, "
        f"{settings.memory_mib} MiB, medians of {args.starts} starts and resets; "
        f"load average {load_before} before, {_load()} after"
    )
    headers = ["what", "measured", "SSH / agent", "target", "SSH only (reference, quiet host)", "how"]
    print(tabulate(rows, headers=headers, disable_numparse=True))


if __name__ == "__main__":
    main()
