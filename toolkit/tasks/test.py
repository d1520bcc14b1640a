"""test.*: run domains on one VM. Their flags are the run's (toolkit/run_options.py), the matrix's too."""

from __future__ import annotations

from typing import Any

from invoke import Context
from invoke.exceptions import Exit

from toolkit import runs
from toolkit.cli import chosen_config, run_command
from toolkit.results import reports
from toolkit.run_options import TEST_FS, TEST_KERNEL, RunCommand
from toolkit.tasks.common import collection, require_room, stoppable, sweep


def _test(c: Context, run: RunCommand, values: dict[str, Any]) -> None:
    """Run the domains on one VM, print the table and exit 0 (all passed), 1 or, interrupted, 130/143."""
    request = run.request(values, chosen_config(c))
    found = request.settings
    require_room(found, request.name or "")
    sweep(found)
    with stoppable(f"the tests finished so far are in {found.results_dir / 'latest'}"):
        record = runs.single_run(found, request.plans, request.name or "", found.results_dir)
    print(reports.table(record))
    print(f"results: {found.results_dir / record.run_id}")
    raise Exit(code=record.exit_status())


@run_command(TEST_KERNEL)
def test_kernel(c: Context, values: dict[str, Any]) -> None:
    """Build a module against the VM's kernel and test it there (kernel_module domain: 9 tests); a table, results/."""
    _test(c, TEST_KERNEL, values)


@run_command(TEST_FS)
def test_fs(c: Context, values: dict[str, Any]) -> None:
    """Test a filesystem in the VM (kernel/vexfs by default, or --fs-type tmpfs|ext4; 8 tests); a table, results/."""
    _test(c, TEST_FS, values)


ns = collection("test", test_kernel, test_fs)
