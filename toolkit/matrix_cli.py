"""The kernel matrix from the command line (what `nox -s kernel-matrix -- ARGS` runs).

Its options are the registered domains' own (toolkit/domains/options.py), so every domain's
flags work here without this file naming them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from toolkit import config, debug, domains, interrupts, kernels, machines, runs
from toolkit.domains.options import merged_flags
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
    every_line = ",".join(line.name for line in kernels.CATALOGUE)
    every_domain = ",".join(domains.registered())
    arguments = Parser(prog="nox -s kernel-matrix --", description="Run test domains on every kernel line.")
    arguments.add_argument(
        "--kernels", default=every_line, help=f"comma-separated lines, by version or suite (default {every_line})"
    )
    arguments.add_argument("--domains", default=every_domain, help=f"comma-separated domains (default {every_domain})")
    arguments.add_argument("--provider", default=None, help="qemu (default) or vagrant")
    arguments.add_argument(
        "--debug", default=None, help=f"debug tier: {', '.join(debug.TIERS)} (default {debug.DEFAULT})"
    )
    arguments.add_argument("--jobs", type=int, default=None, help="VMs at once (default: what CPUs and memory allow)")
    arguments.add_argument(
        "--hosts", default="", help="comma-separated libvirt URIs to spread the lines over (vagrant provider; "
        "default: libvirt_uri); each runs as many VMs at once as its CPUs and memory allow"
    )  # fmt: skip
    for flag in merged_flags([domain.options for domain in domains.registered().values()]):
        default = f" (default {flag.default})" if flag.default not in (None, ()) else ""
        arguments.add_argument(
            f"--{flag.flag}", dest=flag.field, default=None, action="append" if flag.repeat else "store",
            help=flag.help + default,
        )  # fmt: skip
    return arguments


def main(argv: list[str]) -> int:
    """Run the matrix and print its table; 0 all passed, 1 anything failed, 2 usage error, 130/143 interrupted."""
    try:
        args = parser().parse_args(argv)
        settings = config.load({"provider": args.provider, "debug": args.debug})
        lines = kernels.select_many(args.kernels)
        values: dict[str, Any] = vars(args)
        plans = [runs.plan(domain.name, values) for domain in domains.select_many(args.domains)]
        hosts = runs.host_pool(settings, len(lines), args.jobs, [uri for uri in args.hosts.split(",") if uri])
        started = time.monotonic()
        at_once = ", ".join(f"{count} on {uri}" if uri else str(count) for uri, count in hosts.slots.items())
        print(
            f"[matrix] {len(lines)} lines ({', '.join(line.name for line in lines)}), {at_once} at a time", flush=True
        )

        def done(line: KernelLine, outcome: str) -> None:
            print(f"[matrix] {line.name} {outcome} after {time.monotonic() - started:.0f} s", flush=True)

        for what in machines.sweep(settings):
            print(f"[cleanup] removed {what}, left by an interrupted run", file=sys.stderr)
        with interrupts.handled():
            record = runs.matrix_run(settings, plans, lines, hosts, settings.results_dir, done)
    except interrupts.Interrupted as stop:
        print(f"interrupted by {stop}: the tests finished so far are in {settings.results_dir / 'latest'}",
              file=sys.stderr, flush=True)  # fmt: skip
        sys.stdout.flush()
        os._exit(stop.exit_code)  # lines still winding down in worker threads have nothing left to save
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
