"""The kernel matrix from the command line (what `nox -s kernel-matrix -- ARGS` runs)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from toolkit import config, kernels, runs
from toolkit.domains.kernel_module import ModuleOptions
from toolkit.errors import UserError
from toolkit.kernels import KernelLine
from toolkit.machines.base import MachineError
from toolkit.results import reports


class ArgumentError(UserError):
    """argparse's complaint, as a one-line usage error."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ArgumentError(f"{message}: see `nox -s kernel-matrix -- --help`")


def parser() -> Parser:
    every = ",".join(line.name for line in kernels.CATALOGUE)
    arguments = Parser(prog="nox -s kernel-matrix --", description="Run the kernel_module domain on every kernel line.")
    arguments.add_argument(
        "--kernels", default=every, help=f"comma-separated lines, by version or suite (default {every})"
    )
    arguments.add_argument("--module-dir", default="kernel/vexfs", help="the module's source directory")
    arguments.add_argument("--module", default=None, help="test only this module of the directory")
    arguments.add_argument("--provider", default=None, help="qemu (default) or vagrant")
    arguments.add_argument("--jobs", type=int, default=None, help="VMs at once (default: what CPUs and memory allow)")
    arguments.add_argument("--build-in", default="chroot", choices=("chroot", "guest"))
    arguments.add_argument("--cycles", type=int, default=20)
    return arguments


def main(argv: list[str]) -> int:
    """Run the matrix and print its table; 0 all passed, 1 anything failed, 2 usage error."""
    try:
        args = parser().parse_args(argv)
        settings = config.load({"provider": args.provider})
        lines = kernels.select_many(args.kernels)
        options = ModuleOptions(Path(args.module_dir).resolve(), args.module, (), args.build_in, args.cycles)
        jobs = runs.parallel_jobs(settings, len(lines), args.jobs)
        started = time.monotonic()
        print(f"[matrix] {len(lines)} lines ({', '.join(line.name for line in lines)}), {jobs} at a time", flush=True)

        def done(line: KernelLine, outcome: str) -> None:
            print(f"[matrix] {line.name} {outcome} after {time.monotonic() - started:.0f} s", flush=True)

        record = runs.matrix_run(settings, options, lines, jobs, settings.results_dir, done)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return UserError.exit_code
    except MachineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(reports.matrix(record))
    counts = record.summary()
    print(f"\n{counts['passed']} passed, {counts['failed']} failed, {counts['error']} error, {counts['skipped']} skipped "
          f"in {time.monotonic() - started:.0f} s; results: {settings.results_dir / record.run_id} (report.html)")  # fmt: skip
    return record.exit_status()
