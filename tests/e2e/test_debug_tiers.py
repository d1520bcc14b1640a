"""Debug tier `lite` on Debian's stock kernel: memory corruption that stays invisible on a plain boot
turns the test where it happens red, in SLUB's own words, with the module's source line that allocated the object."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkit.config import Settings
from toolkit.machines import registry
from toolkit.results.records import Status

from .conftest import source_line
from .test_kernel_module_domain import MODULES, run_module

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def lite_vm(settings: Settings, box) -> Iterator[str]:  # noqa: ANN001
    assert settings.debug == "lite", "lite is the default tier"
    name = f"e2e-dbg-{uuid.uuid4().hex[:6]}"
    yield name
    registry.open_existing(settings, name).destroy()


@pytest.mark.parametrize(
    ("fixture", "red", "report"),
    [
        ("write_after_free", "load", "Poison overwritten"),
        ("kmalloc_overflow", "load", "Redzone overwritten"),
        ("double_free", "unload", "Object already free"),
    ],
)
def test_memory_corruption_turns_the_test_where_it_happens_red(
    settings: Settings, lite_vm: str, tmp_path: Path, fixture: str, red: str, report: str
) -> None:
    record = run_module(settings, lite_vm, tmp_path / "results", module_dir=MODULES / fixture, cycles=2)
    tests = {test.name: test for test in record.runs[0].tests}
    assert record.runs[0].debug == "lite"
    assert tests["build"].status is Status.PASSED
    assert tests[red].status is Status.FAILED, tests[red].message
    assert "SLUB: " in tests[red].message and report in tests[red].message
    assert any(line.strip().endswith(report) or report in line for line in tests[red].kernel_log)
    # where the object was allocated, in the module's source (double_free's init is unloaded by then: its bare
    # address is placed by the sections recorded at load)
    allocated = f"{fixture}.c:{source_line(MODULES / fixture / f'{fixture}.c', ' = kmalloc(')} ({fixture}_init)"
    placed = any("Allocated in " in line and allocated in line for line in tests[red].kernel_log_symbolized)
    if fixture == "write_after_free":
        # its guest dies as it loads (a list corruption the poisoned object leads to): when SLUB reported after
        # the kernel freed the module's init code, its frame is a bare address no probe saw loaded, and the
        # message says that file:line is unknown and why
        assert placed or "(file:line unknown for " in tests[red].message, tests[red].message
        return
    assert placed, tests[red].kernel_log_symbolized or tests[red].message
