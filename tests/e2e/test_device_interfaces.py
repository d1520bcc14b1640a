"""What a module exposes, walked on a real VM: the fixture driver tests/e2e/devices/buggydev is green and its
surface is recorded; each bug it plants behind one path (open, read, write, an ioctl from its header, /proc,
sysfs) turns interfaces red in the kernel's words, naming the path."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit import pipeline, plans
from toolkit.config import Settings
from toolkit.domains.kernel_module import domain as kernel_module
from toolkit.domains.selection import Selection
from toolkit.results.records import Status, SubjectResults, TestRecord

pytestmark = pytest.mark.e2e

BUGGYDEV = Path(__file__).parent / "devices" / "buggydev"
ONLY = "interfaces"


def _interfaces(line_vm: tuple[Settings, str], results: Path, *params: str) -> tuple[SubjectResults, TestRecord]:
    settings, name = line_vm
    selection = Selection.parse(ONLY, None, kernel_module.DOMAIN.test_names)
    plan = plans.plan("kernel_module", {"module_dir": BUGGYDEV, "params": params}, selection)
    [run] = pipeline.one_vm(settings, [plan], name, results).runs
    return run, next(test for test in run.tests if test.name == ONLY)


def test_a_correct_driver_is_green_and_what_it_exposes_is_recorded(
    line_vm: tuple[Settings, str], tmp_path: Path
) -> None:
    run, test = _interfaces(line_vm, tmp_path / "results")
    assert test.status is Status.PASSED, test.message
    exposed = {(entry.kind, entry.path) for entry in run.surface}
    assert {("chardev", "/dev/buggydev"), ("proc", "/proc/buggydev"), ("sysfs", "/sys/class/misc/buggydev"),
            ("parameters", "/sys/module/buggydev/parameters")} <= exposed  # fmt: skip
    assert test.message.startswith("/dev/buggydev: 22 opens, ")
    assert "ioctls from the source" in test.message and "unknown ioctls" in test.message
    device = test.metrics["paths"]["/dev/buggydev"]
    assert device["write"] >= 4 and device["ioctl bad pointer"] >= 3
    print(f"{line_vm[0].kernel} buggydev: {test.message}")


@pytest.mark.parametrize(
    ("bug", "said"),
    [
        ("open_uaf", "exercising /dev/buggydev"),
        ("read_oob", "exercising /dev/buggydev"),
        ("write_overflow", "exercising /dev/buggydev"),
        ("ioctl_uaf", "exercising /dev/buggydev"),
        ("proc_read", "exercising /proc/buggydev"),
        ("sysfs_store", "exercising /sys/class/misc/buggydev/fill"),
        ("open_leak", "rmmod after the walk"),  # a slab cache left with objects: said when the module goes
    ],
)
def test_a_bug_behind_a_path_turns_interfaces_red_naming_the_path(
    line_vm: tuple[Settings, str], tmp_path: Path, bug: str, said: str
) -> None:
    _, test = _interfaces(line_vm, tmp_path / "results", f"bug={bug}")
    assert test.status is Status.FAILED, test.message
    assert test.message.startswith(f"{said} logged a problem: "), test.message
    assert test.kernel_log, "the kernel's own lines are kept"
    print(f"{line_vm[0].kernel} {bug}: {test.message}")
