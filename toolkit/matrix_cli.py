"""The kernel matrix from the command line (what `nox -s kernel-matrix -- ARGS` runs).

Its flags are made from the run's declaration (toolkit/run_options.py: `invoke test.kernel` has the
same ones, `--kernels` and `--jobs` for `--kernel`), the registered domains' options included.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from toolkit import config, host_capacity, interrupts, runs, streams
from toolkit.domains.options import Flag
from toolkit.errors import UserError
from toolkit.kernels import KernelLine
from toolkit.machines import providers
from toolkit.machines.protocol import MachineError
from toolkit.results import reports
from toolkit.run_options import MATRIX
from toolkit.short_flags import short_flag
from toolkit.tasks.common import sweep

METAVARS = {int: "INT", float: "NUMBER"}


class ArgumentError(UserError):
    """argparse's complaint, as a one-line usage error."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ArgumentError(f"{message}: see `{MATRIX.invocation} --help`")


def _add(arguments: argparse.ArgumentParser, flag: Flag) -> None:
    """flag as argparse takes it: text in (its checks are the run's, as for invoke), None when not given."""
    names = [f"--{flag.flag}", *([f"-{letter}"] if (letter := short_flag(flag.flag)) else [])]
    if flag.kind is bool:
        arguments.add_argument(*names, dest=flag.field, action="store_true", help=flag.described())
        return
    action = "append" if flag.repeat else "store"
    metavar = METAVARS.get(flag.kind, "STRING")
    arguments.add_argument(*names, dest=flag.field, action=action, metavar=metavar, help=flag.described())


def parser() -> Parser:
    arguments = Parser(prog=MATRIX.invocation, description="Run test domains on every kernel line.", allow_abbrev=False)
    for flag in MATRIX.flags():
        _add(arguments, flag)
    arguments.add_argument("--config", metavar="STRING", help=config.CONFIG_HELP)
    return arguments


def main(argv: list[str]) -> int:
    """Run the matrix and print its table; 0 all passed, 1 anything failed, 2 usage error, 130/143/129 interrupted."""
    streams.forgive_output()
    try:
        values = vars(parser().parse_args(argv))
        request = MATRIX.request(values, Path(values["config"]) if values["config"] else None)
        settings, lines = request.settings, list(request.lines)
        if settings.provider != "vagrant":  # a vagrant matrix's hosts are each checked as its pool is made
            host_capacity.require_host_capacity(settings)
            providers.provider_class(settings.provider).require_host_tools(settings)
        hosts = runs.host_pool(settings, len(lines), request.jobs, request.hosts)
        started = time.monotonic()
        at_once = ", ".join(f"{count} on {uri}" if uri else str(count) for uri, count in hosts.slots.items())
        print(
            f"[matrix] {len(lines)} lines ({', '.join(line.name for line in lines)}), {at_once} at a time", flush=True
        )

        def done(line: KernelLine, outcome: str) -> None:
            print(f"[matrix] {line.name} {outcome} after {time.monotonic() - started:.0f} s", flush=True)

        sweep(settings)
        with interrupts.handled():
            record = runs.matrix_run(settings, request.plans, lines, hosts, settings.results_dir, done, request.name)
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
