"""What the debug tiers cost: the same module's 8 tests under `--debug off` and `--debug lite`, side by side.

    .venv/bin/python benchmarks/debug_tiers.py [--kernel 6.1] [--module-dir kernel/vexfs]

Each tier runs on a fresh VM of its own (the first start of a tier boots and saves its ready
snapshot; that boot is timed too). Prints seconds per test, the lite/off ratio, and the verdicts;
it asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
import uuid
from pathlib import Path

from tabulate import tabulate

from toolkit import config, debug_tiers, pipeline, plans
from toolkit.machines import registry


def _tier(settings: config.Settings, tier: str, module_dir: str) -> tuple[float, dict[str, tuple[float, str]]]:
    """(seconds to a VM ready in that tier, {test: (seconds, status)})."""
    tier_settings = dataclasses.replace(settings, debug=tier)
    name = f"bench-{tier}-{uuid.uuid4().hex[:6]}"
    try:
        started = time.monotonic()
        registry.define(tier_settings, name).up()
        up = time.monotonic() - started
        with tempfile.TemporaryDirectory() as scratch:
            plan = plans.plan("kernel_module", {"module_dir": module_dir})
            record = pipeline.one_vm(tier_settings, [plan], name, Path(scratch))
    finally:
        registry.open_existing(tier_settings, name).destroy()
    return up, {test.name: (test.duration_s, test.status.value) for test in record.runs[0].tests}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", default=None)
    parser.add_argument("--module-dir", default="kernel/vexfs")
    args = parser.parse_args()
    settings = config.load({"kernel": args.kernel})
    measured = {tier: _tier(settings, tier, args.module_dir) for tier in ("off", "lite")}
    (off_up, off), (lite_up, lite) = measured["off"], measured["lite"]
    rows = [["VM up (first start of the tier)", f"{off_up:.1f}", f"{lite_up:.1f}", f"{lite_up / off_up:.2f}", ""]]
    for test, (seconds, status) in off.items():
        lite_seconds, lite_status = lite[test]
        ratio = f"{lite_seconds / seconds:.2f}" if seconds else "-"
        rows.append([test, f"{seconds:.1f}", f"{lite_seconds:.1f}", ratio, f"{status} / {lite_status}"])
    total_off, total_lite = sum(s for s, _ in off.values()), sum(s for s, _ in lite.values())
    rows.append(["all tests", f"{total_off:.1f}", f"{total_lite:.1f}", f"{total_lite / total_off:.2f}", ""])
    print(f"kernel {settings.kernel}, {args.module_dir}; lite = {debug_tiers.TIERS['lite'].summary}")
    print(tabulate(rows, headers=["", "off (s)", "lite (s)", "lite/off", "verdicts off / lite"], disable_numparse=True))


if __name__ == "__main__":
    main()
