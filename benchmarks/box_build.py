"""Where a box build's seconds go: mmdebstrap's stages (download, essential packages, the rest), the guest files,
the disk image.

    .venv/bin/python benchmarks/box_build.py [--kernel 6.1] [--builds 1]

Each build goes into a scratch cache next to the user's (removed afterwards), so no box of the user's is touched
and nothing is reused. The build's log is read as it grows and each line stamped with the host's clock: a stage
lasts from its first line to the next stage's. Prints medians over --builds and the load average before and
after; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from tabulate import tabulate

from toolkit import config, kernels
from toolkit.boxes import build
from toolkit.boxes.recipe import BoxRecipe
from toolkit.files import remove_tree

# mmdebstrap's lines that start a stage, and words of the build's own commands ("$ ..." lines) that do.
STAGES = {
    "I: extracting archives": "mmdebstrap: extract the essential packages",
    "I: installing essential packages": "mmdebstrap: install the essential packages",
    "I: installing remaining packages": "mmdebstrap: download and install the box's packages",
    "I: cleaning package lists": "mmdebstrap: clean up",
}
COMMANDS = {
    "mmdebstrap ": "mmdebstrap: set up, apt-get update, download the essential packages",
    " tar -xf ": "unpack mmdebstrap's tarball (an ordinary user's build)",
    "chroot.sh": "guest files, kernel and initramfs",
    "mkfs.ext4": "disk image: mkfs.ext4 -d",
    "qemu-img convert": "disk image: qcow2",
}


def _stage(line: str) -> str | None:
    if line.startswith("$ "):
        return next((name for word, name in COMMANDS.items() if word in line), None)
    return next((name for start, name in STAGES.items() if line.startswith(start)), None)


def _follow(log: Path, stamps: list[tuple[float, str]], stop: threading.Event) -> None:
    """Appends (host seconds, stage) as the log's lines open stages, until stop is set."""
    read = 0
    while not stop.wait(0.1):
        if not log.exists():
            continue
        text = log.read_text(errors="replace")
        lines = text[read:].split("\n")[:-1]  # a line without its newline yet is read next time
        read += sum(len(line) + 1 for line in lines)
        for line in lines:
            stage = _stage(line)
            if stage and (not stamps or stamps[-1][1] != stage):
                stamps.append((time.monotonic(), stage))


def timed_build(line: kernels.KernelLine, settings: config.Settings) -> dict[str, float]:
    """Seconds of each stage of one box build in a scratch cache, and "total"."""
    scratch = Path(tempfile.mkdtemp(prefix="vexfs-vmtest-bench-", dir=settings.cache_dir.parent))
    recipe = BoxRecipe(line)
    stamps: list[tuple[float, str]] = []
    stop = threading.Event()
    follower = threading.Thread(target=_follow, args=(scratch / "logs" / f"box-{recipe.name}.log", stamps, stop))
    started = time.monotonic()
    follower.start()
    try:
        build.build(recipe, scratch, settings.mirror, scratch / "logs")
    finally:
        ended = time.monotonic()
        stop.set()
        follower.join()
        remove_tree(scratch)
    seconds: dict[str, float] = {"total": ended - started}
    for (at, stage), (until, _) in zip(stamps, [*stamps[1:], (ended, "")], strict=True):
        seconds[stage] = seconds.get(stage, 0.0) + until - at
    return seconds


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", default="6.1")
    parser.add_argument("--builds", type=int, default=1, help="box builds to take the median of")
    args = parser.parse_args()
    if args.builds < 1:
        raise SystemExit(f"--builds must be at least 1, got {args.builds}")
    settings = config.load()
    line = kernels.select(args.kernel)
    load_before = _load()
    builds = [timed_build(line, settings) for _ in range(args.builds)]
    stages = [*dict.fromkeys(stage for seconds in builds for stage in seconds if stage != "total"), "total"]
    rows = [[stage, f"{statistics.median(seconds.get(stage, 0.0) for seconds in builds):.1f} s"] for stage in stages]
    print(f"box {line.name}, medians of {args.builds} builds; load average {load_before} before, {_load()} after")
    print(tabulate(rows, headers=["stage", "time"], disable_numparse=True))


if __name__ == "__main__":
    main()
