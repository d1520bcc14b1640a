"""What a debug kernel's build costs: the first build, a changed fragment, a new tree on a warm ccache.

    VEXFS_CACHE_DIR=DIR .venv/bin/python benchmarks/kernel_build.py [--kernel 6.1] [--jobs 2] [--option CONFIG_X=y]

The builds go where `invoke kernel.build` puts them, in the cache: give it a folder of its own for cold figures (the
line's stock box is taken from there, built first if it lacks it). Three builds of the line's debug kernel, in turn:
the profile as configured (cold when the cache is new); the same with one option added to the profile's fragment (in a
copy of kernel/configs/: the same tree, so Kbuild rebuilds what the option touches); the profile as configured in a new
tree (the build tree removed, ccache kept). Each row says the wall time (chroot, unpack and configure included), the
compiles and how ccache served them, compiles per minute, the CPU time the build's processes took and the host's mean
load average meanwhile: wall figures on a shared host move with its load, CPU time much less. Asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import shutil
import statistics
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from tabulate import tabulate

from toolkit import config, kernels
from toolkit.boxes import kernel_build, kernel_config
from toolkit.files import remove_tree
from toolkit.machines import box_supply

LOAD_SAMPLE_S = 15.0
OPTION = re.compile(r"^CONFIG_[A-Z0-9_]+=\S+$")


@contextlib.contextmanager
def _load_sampled() -> Iterator[list[float]]:
    """The host's 1-minute load average, sampled every LOAD_SAMPLE_S while the block runs."""
    samples = [os.getloadavg()[0]]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(LOAD_SAMPLE_S):
            samples.append(os.getloadavg()[0])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield samples
    finally:
        done.set()
        sampler.join()


def _row(name: str, build: kernel_build.KernelBuild, settings: config.Settings, jobs: int) -> list[str]:
    """Build now (refused when the cache already holds this configuration) and say what it took."""
    if kernel_build.find(settings.cache_dir, build):
        raise SystemExit(f"error: {build.line.name} with this configuration is already built in {settings.cache_dir}: "
                         "give VEXFS_CACHE_DIR a new folder")  # fmt: skip
    before = _children_cpu_s()
    with _load_sampled() as loads:
        built = kernel_build.build(build, settings.cache_dir, settings.mirror, jobs)
    cpu_s = _children_cpu_s() - before
    served = built.ccache
    compiles = sum(served.values())
    hits = served.get("direct_cache_hit", 0) + served.get("preprocessed_cache_hit", 0)
    per_minute = compiles / (built.build_s / 60)
    return [name, f"{built.build_s / 60:.1f}", str(compiles), f"{hits} ({served.get('direct_cache_hit', 0)} direct)",
            f"{per_minute:.0f}", f"{cpu_s / 60:.1f}", f"{statistics.mean(loads):.1f}"]  # fmt: skip


def _children_cpu_s() -> float:
    """User and system CPU seconds of this process's finished children (the build's commands) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def _fragment_with(profile: str, option: str) -> Iterator[None]:
    """kernel/configs/ as a copy whose profile fragment ends with option, while the block runs."""
    original = kernel_config.CONFIGS
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "configs"
        shutil.copytree(original, copy)
        fragment = copy / f"{profile}.config"
        fragment.write_text(fragment.read_text() + f"{option}\n")
        kernel_config.CONFIGS = copy
        try:
            yield
        finally:
            kernel_config.CONFIGS = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", default=None)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--option", default="CONFIG_DEBUG_SG=y", help="the option the fragment change adds")
    args = parser.parse_args()
    if not OPTION.match(args.option):
        parser.error(f"--option {args.option!r} is not a Kconfig setting: give one like CONFIG_DEBUG_SG=y")
    settings = config.load({"kernel": args.kernel})
    line = kernels.select(settings.kernel)
    variant = line if line.profile else line.variant("debug")
    base = box_supply.box_for(settings, variant.base.name)
    headers = ["build", "wall (min)", "compiles", "ccache hits", "compiles/min", "CPU (min)", "mean load"]
    rows = []

    def report(name: str) -> None:
        rows.append(_row(name, kernel_build.for_box(variant, base), settings, args.jobs))
        print(tabulate(rows[-1:], headers=headers, disable_numparse=True), flush=True)

    print(f"{variant.name} from {base.kernel_package_version}, -j{args.jobs}, {os.cpu_count()} CPUs, "
          f"cache {settings.cache_dir}", flush=True)  # fmt: skip
    report("first")
    with _fragment_with(variant.profile, args.option):
        report(f"fragment + {args.option}")
    remove_tree(kernel_build.kernels_dir(settings.cache_dir) / kernel_build.for_box(variant, base).name)
    report("new tree, ccache kept")
    print(tabulate(rows, headers=headers, disable_numparse=True))


if __name__ == "__main__":
    main()
