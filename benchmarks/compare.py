"""virtme-ng and vexfs-vmtest side by side, measured in one run on the same kernel (a box's), with ratios.

    .venv/bin/python benchmarks/compare.py [--kernel 6.1] [--repeat 3] [--no-vagrant] [--no-matrix]

virtme-ng comes from PyPI into a scratch venv; it boots the box's kernel with the box's modules (linked
into /lib/modules for the run, as virtme-ng looks for them there, and unlinked after) and the host's
root over 9p, under TCG, and a run counts only when the guest printed the command's output. It needs
busybox-static and kmod on the host. Prints every figure and the ratios; it asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from toolkit import config, kernels
from toolkit.boxes.store import Box
from toolkit.machines import box_supply, registry
from toolkit.text_tables import table

REPO = Path(__file__).resolve().parents[1]
COMMANDS = 50


def _seconds(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


@contextlib.contextmanager
def _modules_linked(box: Box) -> Iterator[None]:
    """/lib/modules/<release> pointing at the box's modules while virtme-ng runs (left alone if it exists; a
    link, one a killed run left, is made again)."""
    target = Path("/lib/modules") / box.kernel_release
    if target.is_symlink():
        target.unlink()
    made = not target.exists()
    if made:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(box.rootfs / "lib/modules" / box.kernel_release)
    try:
        yield
    finally:
        if made:
            target.unlink()


def _virtme_ng(scratch: Path) -> Path:
    """vng from PyPI in a venv of its own."""
    subprocess.run([sys.executable, "-m", "venv", str(scratch / "venv")], check=True)
    subprocess.run([str(scratch / "venv/bin/pip"), "install", "-q", "virtme-ng"], check=True)
    return scratch / "venv/bin"


def virtme_ng_runs(box: Box, repeat: int) -> tuple[list[float], str]:
    """Seconds of each cold `vng --run KERNEL -- uname -r` that printed the release, and vng's version."""
    missing = [tool for tool in ("busybox", "depmod") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"virtme-ng needs {', '.join(missing)} on the host: apt-get install busybox-static kmod")
    with tempfile.TemporaryDirectory() as scratch, _modules_linked(box):
        bin_dir = _virtme_ng(Path(scratch))
        environment = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
        version = subprocess.run(["vng", "--version"], capture_output=True, text=True, env=environment).stdout
        command = ["vng", "--run", str(box.kernel), "--disable-kvm", "--force-9p", "--user", "root", "-v",
                   "--", "uname", "-r"]  # fmt: skip
        counted = []
        for _ in range(repeat):
            started = time.monotonic()
            done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300, cwd=scratch)
            seconds = time.monotonic() - started
            if box.kernel_release in (line.rstrip("\r") for line in (done.stdout + done.stderr).splitlines()):
                counted.append(seconds)
    return counted, version.strip()


def _invoke(*words: str) -> float:
    """Wall seconds of an invoke command line (what a user waits for); exits when it fails to run."""
    started = time.monotonic()
    done = subprocess.run([str(REPO / ".venv/bin/invoke"), *words], cwd=REPO, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        sys.exit(f"`invoke {' '.join(words)}` failed: {(done.stderr or done.stdout).strip()[-400:]}")
    return time.monotonic() - started


def command_start(repeat: int) -> float:
    """Median wall seconds of `invoke --list`: the interpreter, invoke and every task's module loaded and the
    command line read, which every command pays before its own work."""
    return statistics.median(_invoke("--list") for _ in range(max(repeat, 5)))


def _edited(module: Path, *words: str) -> float:
    """Wall seconds of `invoke test.kernel` on module after an edit of one of its sources (what make rebuilds)."""
    source = sorted(module.glob("*.c"))[-1]
    source.write_text(source.read_text() + f"/* edit {uuid.uuid4().hex[:8]} */\n")
    return _invoke("test.kernel", "-m", str(module), *words)


def ours(settings: config.Settings, repeat: int) -> dict[str, float]:
    """Cold boot, snapshot start, reset, command round trip and the quick and full loops on kernel/vexfs."""
    name = f"bench-{uuid.uuid4().hex[:6]}"
    machine = registry.define(settings, name)
    try:
        machine.up()  # the ready snapshot exists from here on
        machine.destroy()
        machine = registry.define(settings, name)
        cold = _seconds(lambda: machine.up(cold=True))
        machine.destroy()
        machine = registry.define(settings, name)
        start = _seconds(machine.up)
        resets = [_seconds(machine.reset) for _ in range(repeat)]
        machine.run("true", timeout=30, sudo=True)
        rtt = [machine.run("true", timeout=30, sudo=True).duration_s for _ in range(COMMANDS)]
    finally:
        registry.open_existing(settings, name).destroy()
    quick, full = loops(repeat)
    return {"cold": cold, "start": start, "reset": statistics.median(resets), "rtt": statistics.median(rtt),
            "quick": statistics.median(quick), "full": full}  # fmt: skip


def loops(repeat: int) -> tuple[list[float], float]:
    """The quick loop `repeat` times and the full one, each after an edit, on a VM only `invoke` uses (a VM
    this process held would send every command of theirs over SSH), warmed by a first run."""
    name = f"bench-loop-{uuid.uuid4().hex[:6]}"
    _invoke("vm.up", "--name", name)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            module = Path(scratch) / "vexfs"
            shutil.copytree(REPO / "kernel" / "vexfs", module)
            _invoke("test.kernel", "--name", name, "--quick", "-m", str(module))  # the VM and the build tree warm
            quick = [_edited(module, "--name", name, "--quick") for _ in range(repeat)]
            full = _edited(module, "--name", name)
    finally:
        _invoke("vm.destroy", "--name", name)
    return quick, full


def vagrant_up(settings: config.Settings) -> float:
    vagrant = dataclasses.replace(settings, provider="vagrant")
    name = f"bench-vagrant-{uuid.uuid4().hex[:6]}"
    machine = registry.define(vagrant, name)
    try:
        return _seconds(machine.up)
    finally:
        machine.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", default=kernels.DEFAULT)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-vagrant", action="store_true", help="leave out `vagrant up`")
    parser.add_argument("--no-matrix", action="store_true", help="leave out the 4-line matrix")
    args = parser.parse_args()
    settings = config.load({"kernel": args.kernel})
    box = box_supply.box_for(settings, settings.kernel)
    load = os.getloadavg()[0]
    vng, vng_version = virtme_ng_runs(box, args.repeat)
    we = ours(settings, args.repeat)
    vng_s = statistics.median(vng) if vng else float("nan")
    ready_and_command = we["start"] + we["rtt"]
    rows = [
        [f"virtme-ng cold --run of `uname -r` ({len(vng)} of {args.repeat} counted)", f"{vng_s:.2f} s", "", ""],
        ["a command's start (`invoke --list`)", f"{command_start(args.repeat):.2f} s", "<= 0.15 s", ""],
        ["our cold boot -> ready", f"{we['cold']:.2f} s", "<= 4 s", f"{vng_s / we['cold']:.1f}x faster than vng"],
        ["our snapshot start -> ready", f"{we['start']:.2f} s", "<= 0.5 s", ""],
        ["our snapshot start + one command", f"{ready_and_command:.2f} s", "",
         f"{vng_s / ready_and_command:.1f}x faster than vng"],
        ["our reset", f"{we['reset']:.2f} s", "<= 0.5 s", ""],
        ["our command round trip (root)", f"{we['rtt'] * 1000:.0f} ms", "<= 20 ms", ""],
        ["edit -> all verdicts, --quick (warm VM, vexfs)", f"{we['quick']:.1f} s", "<= 0.5x vng",
         f"{we['quick'] / vng_s:.1f}x vng"],
        ["edit -> all verdicts, full (warm VM, vexfs)", f"{we['full']:.1f} s", "<= 15 s", ""],
    ]  # fmt: skip
    if not args.no_vagrant:
        rows.append(["vagrant up (vagrant provider)", f"{vagrant_up(settings):.1f} s", "", ""])
    if not args.no_matrix:
        started = time.monotonic()
        subprocess.run([str(REPO / ".venv/bin/nox"), "-s", "kernel-matrix"], cwd=REPO, capture_output=True, text=True)
        matrix = time.monotonic() - started
        rows.append(["4-line matrix, warm boxes, full tests, both domains", f"{matrix:.0f} s", "<= 60 s", ""])
    print(f"kernel {box.kernel_release} ({box.name}), TCG, {settings.cpus} vCPUs, {settings.memory_mib} MiB; "
          f"{vng_version}; load average at start {load:.2f}")  # fmt: skip
    print(table(rows, ["what", "measured", "target", "ratio"]))


if __name__ == "__main__":
    main()
