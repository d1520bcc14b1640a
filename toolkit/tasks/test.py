"""test.*: run domains on one VM, or on every kernel line (test.matrix, what `nox -s kernel-matrix` runs).

Their flags are the run's (toolkit/run_options.py), each task offering those of the domains it runs.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from invoke import Context
from invoke.exceptions import Exit

from toolkit.commands import chosen_config, collection, command_for
from toolkit.kernels import KernelLine
from toolkit.run_options import MATRIX, TEST_ALL, TEST_FS, TEST_KERNEL, RunCommand


def _test(c: Context, run: RunCommand, values: dict[str, Any]) -> None:
    """Run the domains on one VM, print the table and exit 0 (all passed), 1 or, interrupted, 130/143."""
    from toolkit import pipeline
    from toolkit.results import reports
    from toolkit.tasks.common import require_room, stoppable, sweep

    request = run.request(values, chosen_config(c))
    found = request.settings
    require_room(found, request.name or "")
    sweep(found)
    with stoppable(f"the tests finished so far are in {found.results_dir / 'latest'}"):
        record = pipeline.one_vm(found, request.plans, request.name or "", found.results_dir)
    print(reports.table(record))
    print(f"results: {found.results_dir / record.run_id}")
    raise Exit(code=record.exit_status())


@command_for(TEST_KERNEL)
def test_kernel(c: Context, values: dict[str, Any]) -> None:
    """Build a module against the VM's kernel and test it there (kernel_module domain: 10 tests); a table, results/."""
    _test(c, TEST_KERNEL, values)


@command_for(TEST_FS)
def test_fs(c: Context, values: dict[str, Any]) -> None:
    """Test a filesystem in the VM (kernel/vexfs by default, or --fs-type tmpfs|ext4; 8 tests); a table, results/."""
    _test(c, TEST_FS, values)


@command_for(TEST_ALL)
def test_all(c: Context, values: dict[str, Any]) -> None:
    """Run every domain (or those --domains names) on one VM, one after the other; a table, results/."""
    _test(c, TEST_ALL, values)


@command_for(MATRIX)
def test_matrix(c: Context, values: dict[str, Any]) -> None:
    """Run the domains on every kernel line in parallel (`nox -s kernel-matrix` runs this): a kernel x test table,
    results/<run>/ with report.html."""
    from toolkit import host_capacity, host_pool, interrupts, pipeline
    from toolkit.machines import providers
    from toolkit.results import reports
    from toolkit.tasks.common import sweep

    request = MATRIX.request(values, chosen_config(c))
    settings, lines = request.settings, list(request.lines)
    if settings.provider != "vagrant":  # a vagrant matrix's hosts are each checked as its pool is made
        host_capacity.require_host_capacity(settings)
        providers.provider_class(settings.provider).require_host_tools(settings)
    hosts = host_pool.matrix_hosts(settings, len(lines), request.jobs, request.hosts)
    started = time.monotonic()
    at_once = ", ".join(f"{count} on {uri}" if uri else str(count) for uri, count in hosts.slots.items())
    print(f"[matrix] {len(lines)} lines ({', '.join(line.name for line in lines)}), {at_once} at a time", flush=True)

    def done(line: KernelLine, outcome: str) -> None:
        print(f"[matrix] {line.name} {outcome} after {time.monotonic() - started:.0f} s", flush=True)

    sweep(settings)
    try:
        with interrupts.handled():
            record = pipeline.matrix(settings, request.plans, lines, hosts, settings.results_dir, done, request.name)
    except interrupts.Interrupted as stop:
        print(f"interrupted by {stop}: the tests finished so far are in {settings.results_dir / 'latest'}",
              file=sys.stderr, flush=True)  # fmt: skip
        sys.stdout.flush()
        os._exit(stop.exit_code)  # lines still winding down in worker threads have nothing left to save
    print(reports.matrix(record))
    if reports.known_failures(record):
        print(f"\n{reports.known_failures(record)}")
    print(f"\n{reports.totals(record)} in {time.monotonic() - started:.0f} s; "
          f"results: {settings.results_dir / record.run_id} (report.html)")  # fmt: skip
    raise Exit(code=record.exit_status())


ns = collection("test", test_kernel, test_fs, test_all, test_matrix)
