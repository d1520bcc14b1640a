"""The whole kernel matrix against its lines run one by one, measured in one go (boxes warm).

    .venv/bin/python benchmarks/matrix.py [--kernels 5.10,6.1,6.12,7.x] [--jobs N]

Prints wall times side by side (and their ratio); it asserts nothing. Goal: 4 lines <= 3 min.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

from toolkit import config, host_pool, kernels, pipeline, plans
from toolkit.machines import box_supply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", default=",".join(line.name for line in kernels.CATALOGUE))
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args()
    settings = config.load()
    lines = kernels.select_many(args.kernels)
    chosen = [plans.plan("kernel_module", {"module_dir": "kernel/vexfs"})]
    for line in lines:
        box_supply.box_for(settings, line.name)
    hosts = host_pool.matrix_hosts(settings, len(lines), args.jobs)
    jobs = hosts.total
    with tempfile.TemporaryDirectory() as scratch:
        singles = {}
        for line in lines:
            started = time.monotonic()
            pipeline.matrix(settings, chosen, [line], host_pool.matrix_hosts(settings, 1, 1), Path(scratch) / line.name)
            singles[line.name] = time.monotonic() - started
        started = time.monotonic()
        record = pipeline.matrix(settings, chosen, lines, hosts, Path(scratch) / "matrix")
        matrix = time.monotonic() - started
    total = sum(singles.values())
    rows = [[f"line {name} alone", f"{seconds:.0f} s"] for name, seconds in singles.items()]
    rows += [["sum of single lines", f"{total:.0f} s"], [f"matrix, {jobs} at a time", f"{matrix:.0f} s"],
             ["matrix / sum", f"{matrix / total:.2f}"], ["goal for 4 lines", "<= 180 s"]]  # fmt: skip
    counts = record.summary()
    print(f"{len(lines)} lines, vexfs, {settings.cpus} vCPUs per VM; matrix verdicts: {counts}")
    print(tabulate(rows, headers=["what", "wall time"], disable_numparse=True))


if __name__ == "__main__":
    main()
