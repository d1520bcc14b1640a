"""What a module exposes, used by concurrency's users, hang_detection's watch and memory_leak's window on real
VMs: the fixture driver tests/e2e/devices/buggydev is green and every message counts what was done to it; a race
reached only by two users of one ioctl turns concurrency red, a leak per open is counted and attributed to the
open in memory_leak, and the user's own workload runs beside them (a failing run is red)."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit import pipeline, plans
from toolkit.config import Settings
from toolkit.domains.kernel_module import domain as kernel_module
from toolkit.domains.selection import Selection
from toolkit.results.records import Status, TestRecord

from .conftest import source_line

pytestmark = pytest.mark.e2e

BUGGYDEV = Path(__file__).parent / "devices" / "buggydev"
USED = "memory_leak,concurrency,hang_detection"


def _tests(line_vm: tuple[Settings, str], results: Path, only: str, **values: object) -> dict[str, TestRecord]:
    settings, vm = line_vm
    selection = Selection.parse(only, None, kernel_module.DOMAIN.test_names)
    plan = plans.plan("kernel_module", {"module_dir": BUGGYDEV, **values}, selection, quick=True)
    [run] = pipeline.one_vm(settings, [plan], vm, results).runs
    return {test.name: test for test in run.tests}


def test_a_correct_driver_is_green_and_each_message_counts_what_was_done_to_it(
    line_vm: tuple[Settings, str], tmp_path: Path
) -> None:
    tests = _tests(line_vm, tmp_path / "results", USED)
    for name in USED.split(","):
        assert tests[name].status is Status.PASSED, tests[name].message
    users = tests["concurrency"]
    assert "8 users for" in users.message and "/dev/buggydev: " in users.message
    assert "ioctls from the source x " in users.message and "files read " in users.message
    assert users.metrics["exercised"]["/dev/buggydev"]["open"] >= 8 * 5
    assert "between insmod and rmmod: /dev/buggydev: 5 opens" in tests["memory_leak"].message
    assert "/dev/buggydev: " in tests["hang_detection"].message
    print(f"{line_vm[0].kernel}: {users.message}")


def test_a_race_between_two_users_of_one_ioctl_turns_concurrency_red(
    line_vm: tuple[Settings, str], tmp_path: Path
) -> None:
    test = _tests(line_vm, tmp_path / "results", "concurrency", params=("bug=ioctl_race",))["concurrency"]
    assert test.status is Status.FAILED, test.message
    assert test.message.startswith("parallel use logged a problem: list_add corruption in "), test.message
    print(f"{line_vm[0].kernel}: {test.message}")


def test_a_leak_per_open_is_counted_and_attributed_to_the_open(line_vm: tuple[Settings, str], tmp_path: Path) -> None:
    test = _tests(line_vm, tmp_path / "results", "memory_leak", params=("bug=open_leak",))["memory_leak"]
    assert test.status is Status.FAILED, test.message
    assert test.message.startswith("leaked 5 objects, "), test.message
    assert "between insmod and rmmod: /dev/buggydev: 5 opens" in test.message
    # the call site by its place in the source, from the .ko's debug info: the leaking allocation of open_leak
    line = source_line(BUGGYDEV / "buggydev.c", "kmem_cache_alloc(", after="== BUGGYDEV_OPEN_LEAK")
    assert f": buggydev.c:{line} (buggydev_open): 5 x, " in test.message, test.message
    assert any(f"[buggydev] buggydev.c:{line} (buggydev_open)" in said for said in test.kernel_log_symbolized)
    assert not any("buggydev.c:" in said for said in test.kernel_log)  # the raw lines stay as the kernel wrote them
    print(f"{line_vm[0].kernel}: {test.message}")


def test_the_users_workload_runs_beside_the_toolkits_use_and_a_failing_run_is_red(
    line_vm: tuple[Settings, str], tmp_path: Path
) -> None:
    good, bad = tmp_path / "reads.sh", tmp_path / "fails.sh"
    good.write_text('head -c 64 /dev/buggydev >/dev/null && grep -q . /proc/"$MODULE"\n')
    bad.write_text('echo "cannot use $MODULE" >&2; exit 3\n')
    passed = _tests(line_vm, tmp_path / "good", "memory_leak,concurrency", workload=good)
    assert passed["concurrency"].status is Status.PASSED, passed["concurrency"].message
    assert " runs of reads.sh" in passed["concurrency"].message
    assert "1 run of reads.sh" in passed["memory_leak"].message
    failed = _tests(line_vm, tmp_path / "bad", "concurrency", workload=bad)["concurrency"]
    assert failed.status is Status.FAILED
    assert failed.message.startswith("parallel use: the workload fails.sh failed "), failed.message
    assert "runs: cannot use buggydev" in failed.message
