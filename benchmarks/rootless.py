"""What building costs for whoever runs this: a box built from the mirror, and the module built in its chroot.

    .venv/bin/python benchmarks/rootless.py [--kernel 6.1] [--module-dir kernel/vexfs] [--builds 3]

Run it as root and as an ordinary user to compare the two: root's trees have their real owners, a user's are
made and entered in a user namespace. The box is built into a scratch cache (removed afterwards), then the
module is built in its chroot --builds times from a fresh tree and as many times again in the kept tree.
Prints seconds (medians for the module) and the load average; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

from toolkit import config, kernels
from toolkit.boxes import build
from toolkit.boxes.recipe import BoxRecipe
from toolkit.boxes.store import Box
from toolkit.domains.module import build_tree
from toolkit.domains.module.build import build_in_chroot
from toolkit.files import remove_tree


def _module_builds(box: Box, module_dir: Path, builds: int) -> tuple[list[float], list[float]]:
    """Seconds of each build from a fresh tree, and of each build again in the tree it left."""
    fresh: list[float] = []
    kept: list[float] = []
    for _ in range(builds):
        remove_tree(build_tree.tree_for(box.rootfs, box.kernel_release, module_dir))
        for times in (fresh, kept):
            with tempfile.TemporaryDirectory() as work:
                started = time.monotonic()
                outcome = build_in_chroot(box.rootfs, box.kernel_release, module_dir, Path(work), 600)
                times.append(time.monotonic() - started)
            if not outcome.ok:
                raise SystemExit(f"the module did not build: {outcome.first_error}")
    return fresh, kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", default="6.1")
    parser.add_argument("--module-dir", type=Path, default=Path("kernel/vexfs"))
    parser.add_argument("--builds", type=int, default=3)
    args = parser.parse_args()
    settings = config.load()
    scratch = Path(tempfile.mkdtemp(prefix="vexfs-vmtest-bench-", dir=settings.cache_dir.parent))
    try:
        started = time.monotonic()
        box = build.build(BoxRecipe(kernels.select(args.kernel)), scratch, settings.mirror, scratch / "logs")
        box_s = time.monotonic() - started
        fresh, kept = _module_builds(box, args.module_dir, args.builds)
    finally:
        remove_tree(scratch)
    who = "root" if os.geteuid() == 0 else "an ordinary user (user namespace)"
    print(f"as {who}, box {args.kernel}, load average {' '.join(f'{load:.1f}' for load in os.getloadavg())}")
    rows = [
        ["box build", f"{box_s:.1f}"],
        [f"module build, fresh tree (median of {args.builds})", f"{statistics.median(fresh):.1f}"],
        [f"module build, kept tree (median of {args.builds})", f"{statistics.median(kept):.1f}"],
    ]
    print(tabulate(rows, headers=["", "seconds"], disable_numparse=True))


if __name__ == "__main__":
    main()
