"""The filesystem domain on a real VM: each planted bug of the buggyfs fixture turns the right test red,
in the kernel's or the tools' own words; buggyfs without a bug, VexFS, tmpfs and ext4 stay green."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkit import pipeline, plans
from toolkit.config import Settings
from toolkit.domains.selection import EVERY_TEST, Selection
from toolkit.machines import registry
from toolkit.results import schema
from toolkit.results.records import Status, SubjectResults, TestRecord

from .conftest import qemu_processes_for, source_line

pytestmark = pytest.mark.e2e

REPO = Path(__file__).parents[2]
BUGGYFS = Path(__file__).parent / "filesystems" / "buggyfs"
ROFS_LEAK = Path(__file__).parent / "filesystems" / "rofs_leak"
BUGGYFS_LIMITS = "max_files={files},max_bytes={bytes}"  # its mount options, as a user gives them with --fs-limits
RED = {Status.FAILED, Status.ERROR}


@pytest.fixture(scope="module")
def vm(settings: Settings, box) -> Iterator[str]:  # noqa: ANN001
    name = f"e2e-fs-{uuid.uuid4().hex[:6]}"
    yield name
    registry.open_existing(settings, name).destroy()
    assert qemu_processes_for(name) == []


def run_fs(
    settings: Settings, vm: str, tmp_path: Path, selection: Selection = EVERY_TEST, **values: object
) -> SubjectResults:
    """The filesystem domain as `invoke test.fs` runs it; its results.json keeps the contract."""
    results = tmp_path / "results"
    record = pipeline.one_vm(settings, [plans.plan("filesystem", values, selection)], vm, results)
    assert schema.problems(json.loads((results / record.run_id / "results.json").read_text())) == []
    [run] = record.runs
    assert run.domain == "filesystem" and run.subject.kind == "filesystem"
    return run


def buggyfs(settings: Settings, vm: str, tmp_path: Path, bug: str, selection: Selection = EVERY_TEST,
            fs_limits: str | None = BUGGYFS_LIMITS) -> SubjectResults:  # fmt: skip
    """buggyfs with one planted bug; the toolkit knows nothing of it, so its limits are given as --fs-limits."""
    return run_fs(settings, vm, tmp_path, selection, module_dir=BUGGYFS, fs_type="buggyfs", params=(f"bug={bug}",),
                  fs_limits=fs_limits)  # fmt: skip


def _test(run: SubjectResults, name: str) -> TestRecord:
    return next(test for test in run.tests if test.name == name)


def _red(run: SubjectResults) -> dict[str, str]:
    return {test.name: test.message for test in run.tests if test.status in RED}


@pytest.mark.full
def test_buggyfs_without_a_bug_is_green(settings, vm, tmp_path) -> None:
    run = buggyfs(settings, vm, tmp_path, "none")
    assert _red(run) == {} and len(run.tests) == 8
    assert _test(run, "xattrs_and_vectors").status in (Status.PASSED, Status.SKIPPED)


def test_writes_corrupted_past_a_page_boundary_turn_data_integrity_red(settings, vm, tmp_path) -> None:
    run = buggyfs(settings, vm, tmp_path, "corrupt")
    integrity = _test(run, "data_integrity")
    assert integrity.status is Status.FAILED and integrity.message.startswith("fio found bad data")
    assert _test(run, "mount_cycles").status is Status.PASSED


@pytest.mark.full
def test_inodes_leaked_on_unlink_turn_memory_red(settings, vm, tmp_path) -> None:
    run = buggyfs(settings, vm, tmp_path, "inode_leak")
    memory = _test(run, "memory")
    assert memory.status is Status.FAILED
    assert any(word in memory.message for word in ("leaked", "buggyfs_inode_cache", "Busy inodes"))
    assert _test(run, "mount_cycles").status is Status.PASSED


@pytest.mark.full
def test_limits_not_enforced_turn_limits_red(settings, vm, tmp_path) -> None:
    run = buggyfs(settings, vm, tmp_path, "enospc")
    limits = _test(run, "limits")
    assert limits.status is Status.FAILED and "not ENOSPC" in limits.message
    assert set(_red(run)) == {"limits"}


def test_an_append_written_at_the_position_turns_posix_ops_red(settings, vm, tmp_path) -> None:
    run = buggyfs(settings, vm, tmp_path, "append", Selection(("posix_ops",)))
    posix = _test(run, "posix_ops")
    assert posix.status is Status.FAILED
    assert posix.message.startswith("size_after_append: got 10240, want 10243; read_appended: got '', want '454e44'")


@pytest.mark.full
def test_a_listing_that_starts_again_at_every_read_turns_posix_ops_red_not_a_hang(settings, vm, tmp_path) -> None:
    run = buggyfs(settings, vm, tmp_path, "readdir", Selection(("posix_ops",)))
    posix = _test(run, "posix_ops")
    assert posix.status is Status.FAILED
    assert posix.message.startswith("listing: got 'more than 1000 names: the listing did not end'")
    assert "listing_in_small_reads: got {" in posix.message and "'missing': ['f" in posix.message
    assert not [line for line in posix.kernel_log if "oom-kill" in line]  # not read until the guest's memory ran out


@pytest.mark.full
def test_a_rename_that_fails_turns_posix_ops_and_the_memory_test_s_churn_red(settings, vm, tmp_path) -> None:
    run = buggyfs(settings, vm, tmp_path, "rename_eio", Selection(("posix_ops", "memory")))
    assert _test(run, "posix_ops").message.startswith("rename: got 'errno:EIO', want False")
    memory = _test(run, "memory")
    assert memory.status is Status.FAILED
    assert memory.message.startswith("the use of the module in the trace failed (exit 1): file churn: 100 of 100 "
                                     "rounds failed, the first: 0: Input/output error (EIO)")  # fmt: skip


def test_a_module_filesystem_without_declared_limits_skips_limits(settings, vm, tmp_path) -> None:
    # enforcing no limit is no bug when nobody said which options set one: skipped, never red
    run = buggyfs(settings, vm, tmp_path, "enospc", Selection(("limits",)), fs_limits=None)
    limits = _test(run, "limits")
    assert limits.status is Status.SKIPPED and limits.message.startswith(
        "no limits declared for buggyfs: give --fs-limits"
    )
    assert _red(run) == {}


@pytest.mark.full
def test_a_deadlocked_rename_turns_the_renaming_tests_red_and_the_run_goes_on(settings, vm, tmp_path) -> None:
    run = buggyfs(settings, vm, tmp_path, "rename_deadlock")
    posix = _test(run, "posix_ops")
    assert posix.status is Status.FAILED
    # given up once the kernel reported the hang, well before the step's own timeout
    assert "did not return: given up after" in posix.message and "INFO: task hung in " in posix.message
    assert "[guest rolled back to its ready snapshot]" in posix.message or "[guest replaced]" in posix.message
    # the run went on in a recovered guest: what does not rename still passes
    assert _test(run, "data_integrity").status is Status.PASSED
    assert _test(run, "limits").status is Status.PASSED


@pytest.mark.parametrize("fs_type", ["vexfs", pytest.param("tmpfs", marks=pytest.mark.full), "ext4"])
def test_vexfs_and_the_builtin_filesystems_are_green(settings, vm, tmp_path, fs_type) -> None:
    run = run_fs(settings, vm, tmp_path, fs_type=fs_type)
    assert _red(run) == {}
    assert _test(run, "posix_ops").status is Status.PASSED and _test(run, "data_integrity").status is Status.PASSED
    if fs_type == "vexfs":
        assert "k-nearest queries equal to the host's reference" in _test(run, "xattrs_and_vectors").message


@pytest.mark.full
def test_test_fs_from_the_command_line_writes_results(vm, tmp_path) -> None:
    results = tmp_path / "results"
    done = subprocess.run(
        [str(REPO / ".venv/bin/invoke"), "test.fs", "--name", vm, "--fs-type", "tmpfs", "--mount-cycles", "3",
         "--stress-seconds", "5"],
        cwd=REPO, capture_output=True, text=True, timeout=1200,
        env={**os.environ, "VEXFS_RESULTS_DIR": str(results)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 failed, 0 error" in done.stdout
    assert "tmpfs is built into" in (results / "latest" / "summary.txt").read_text()


def test_a_fs_type_with_spaces_is_a_usage_error(vm) -> None:
    done = subprocess.run(
        [str(REPO / ".venv/bin/invoke"), "test.fs", "--name", vm, "--fs-type", "ext4 x"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2 and "is not a filesystem type name" in done.stderr


def test_a_read_only_filesystem_is_not_red_for_refusing_writes_and_its_leak_is(settings, vm, tmp_path) -> None:
    """A pseudo filesystem whose root can create nothing (EPERM by design), leaking its superblock info per mount."""
    run = run_fs(settings, vm, tmp_path, module_dir=ROFS_LEAK, fs_type="rofs_leak")
    cycles = _test(run, "mount_cycles")
    assert cycles.status is Status.PASSED
    assert cycles.message.startswith("10 mount/list/umount cycles (rofs_leak refused to create a file: ")
    refused = "rofs_leak refused to create a file at the root of a fresh mount ("
    for name in ("posix_ops", "data_integrity", "xattrs_and_vectors", "stress", "limits"):
        test = _test(run, name)
        assert test.status is Status.SKIPPED and test.message.startswith(refused), (name, test.message)
    memory = _test(run, "memory")
    allocated = source_line(ROFS_LEAK / "rofs_leak.c", "kzalloc(")
    assert memory.status is Status.FAILED
    assert f"rofs_leak.c:{allocated} (rofs_leak_fill_super)" in memory.message
