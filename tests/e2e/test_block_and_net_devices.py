"""A block device and a network interface a module adds, exercised on real VMs: the fixture drivers
tests/e2e/devices/vmtestblk (an 8 MiB RAM disk with one partition) and tests/e2e/devices/vmtestnet (an Ethernet
interface that drops what it is sent) are green under interfaces and concurrency, and the messages count what was
done (whole reads, regions written and verified; links up and down, frames sent); each bug they plant behind block
I/O, a link going down then up, or a frame sent turns interfaces red in the kernel's words, naming the path."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit import pipeline, plans
from toolkit.config import Settings
from toolkit.domains.kernel_module import domain as kernel_module
from toolkit.domains.selection import Selection
from toolkit.results.records import Status, SubjectResults, TestRecord

pytestmark = pytest.mark.e2e

DEVICES = Path(__file__).parent / "devices"
BLOCK, NET = DEVICES / "vmtestblk", DEVICES / "vmtestnet"


def _run(
    line_vm: tuple[Settings, str], results: Path, module: Path, only: str, *params: str
) -> tuple[SubjectResults, dict[str, TestRecord]]:
    settings, vm = line_vm
    selection = Selection.parse(only, None, kernel_module.DOMAIN.test_names)
    plan = plans.plan("kernel_module", {"module_dir": module, "params": params}, selection, quick=True)
    [run] = pipeline.one_vm(settings, [plan], vm, results).runs
    return run, {test.name: test for test in run.tests}


def test_a_correct_block_driver_is_read_whole_and_written_region_by_region(
    line_vm: tuple[Settings, str], tmp_path: Path
) -> None:
    run, tests = _run(line_vm, tmp_path / "results", BLOCK, "interfaces,concurrency")
    walk, users = tests["interfaces"], tests["concurrency"]
    assert walk.status is Status.PASSED, walk.message
    assert users.status is Status.PASSED, users.message
    exposed = {(entry.kind, entry.path) for entry in run.surface}
    assert {("blockdev", "/dev/vmtestblk0"), ("blockdev", "/dev/vmtestblk0p1")} <= exposed
    assert not any(path.startswith("/sys/block/") for _, path in exposed)  # the disk is used through its node
    assert walk.message.startswith(
        "/dev/vmtestblk0: 22 opens, 2 reads of all 8 MiB, 2 regions of 64 KiB written and verified, "
    ), walk.message
    assert "/dev/vmtestblk0p1: 22 opens, 2 reads of all 7 MiB, 2 regions of 64 KiB written and verified" in walk.message
    assert walk.metrics["paths"]["/dev/vmtestblk0"]["verify region"] == 2
    assert "reads of all 8 MiB" in users.message and "read back the same" not in users.message
    assert users.metrics["exercised"]["/dev/vmtestblk0"]["verify region"] >= 8  # each user's first round, at least
    print(f"{line_vm[0].kernel}: {walk.message} | {users.message}")


def test_a_write_past_a_buffer_at_the_disks_end_turns_interfaces_red_naming_the_disk(
    line_vm: tuple[Settings, str], tmp_path: Path
) -> None:
    _, tests = _run(line_vm, tmp_path / "results", BLOCK, "interfaces", "bug=write_end")
    test = tests["interfaces"]
    assert test.status is Status.FAILED, test.message
    assert test.message.startswith("exercising /dev/vmtestblk0 logged a problem: "), test.message
    assert "Right Redzone overwritten" in test.message
    assert any("vmtestblk_queue_rq" in entry for entry in test.kernel_log)
    print(f"{line_vm[0].kernel}: {test.message}")


def test_a_correct_net_driver_goes_up_and_down_and_is_sent_frames(
    line_vm: tuple[Settings, str], tmp_path: Path
) -> None:
    run, tests = _run(line_vm, tmp_path / "results", NET, "interfaces,concurrency")
    walk, users = tests["interfaces"], tests["concurrency"]
    assert walk.status is Status.PASSED, walk.message
    assert users.status is Status.PASSED, users.message
    assert ("netdev", "/sys/class/net/vmtestnet0") in {(entry.kind, entry.path) for entry in run.surface}
    assert walk.message.startswith("net vmtestnet0: link up/down 2 times, 12 packets sent, "), walk.message
    assert walk.metrics["paths"]["/sys/class/net/vmtestnet0"]["send"] == 12
    assert "net vmtestnet0: link up" in users.message and " packets sent" in users.message  # up/down, or apart
    print(f"{line_vm[0].kernel}: {walk.message} | {users.message}")


@pytest.mark.parametrize(
    ("bug", "said"),
    [
        ("stop_uaf", "Poison overwritten"),  # written at link down, found at the next link up
        ("xmit_overflow", "Right Redzone overwritten"),  # a frame of 72 bytes or more
    ],
)
def test_a_bug_behind_a_link_change_or_a_frame_turns_interfaces_red_naming_the_interface(
    line_vm: tuple[Settings, str], tmp_path: Path, bug: str, said: str
) -> None:
    _, tests = _run(line_vm, tmp_path / "results", NET, "interfaces", f"bug={bug}")
    test = tests["interfaces"]
    assert test.status is Status.FAILED, test.message
    assert test.message.startswith("exercising /sys/class/net/vmtestnet0 logged a problem: "), test.message
    assert said in test.message
    print(f"{line_vm[0].kernel} {bug}: {test.message}")
