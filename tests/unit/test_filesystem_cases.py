"""The filesystem tests' verdicts on a scripted guest: what each one calls right and what it calls wrong."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.scripted import LOG_READ, Answer, ScriptedMachine
from toolkit import config, plans
from toolkit.domains import options
from toolkit.domains.base import Finding, Target, Verdict
from toolkit.domains.filesystem import domain as filesystem
from toolkit.domains.filesystem import limits, reference, xattrs
from toolkit.domains.filesystem.integrity import DataIntegrity
from toolkit.domains.filesystem.limits import Limits
from toolkit.domains.filesystem.memory import Memory
from toolkit.domains.filesystem.mounts import Build, MountCycles
from toolkit.domains.filesystem.options import FsOptions
from toolkit.domains.filesystem.posix import EXPECTED, PosixOps
from toolkit.domains.filesystem.stress import Stress
from toolkit.domains.filesystem.subject import FilesystemUnderTest
from toolkit.domains.filesystem.xattrs import EXPECTED_XATTRS, XattrsAndVectors
from toolkit.domains.guest import Guest
from toolkit.domains.module import elf
from toolkit.domains.module.build import BuildOutcome, BuiltModule
from toolkit.domains.module.subject import ModuleUnderTest
from toolkit.errors import UserError
from toolkit.progress import Progress
from toolkit.results.records import Status

RELEASE = "6.1.0-50-amd64"
HUNG = ("[  80.0] INFO: task python3:321 blocked for more than 10 seconds.", "[  80.1] Call Trace:")


def subject_for(tmp_path: Path, rules: dict[str, Any], fs_type: str = "vexfs", **values: Any) -> FilesystemUnderTest:
    chosen = options.parse(FsOptions, {"module_dir": tmp_path, "fs_type": fs_type, **values})
    machine = ScriptedMachine(rules)
    guest = Guest(machine)
    if chosen.builtin:
        build, module = BuildOutcome("kernel", 0, 0.0, "", ()), None
    else:
        module = BuiltModule(fs_type, tmp_path / f"{fs_type}.ko", 4096, f"{RELEASE} SMP mod_unload", "ABC", {},
                             {".text": 64}, (elf.Symbol("vexfs_fill_super", ".text", 0, 64),))  # fmt: skip
        build = BuildOutcome("chroot", 0, 1.5, "  CC [M] vexfs.o\n", (module,))
    (tmp_path / f"{fs_type}.ko").write_bytes(b"\x7fELF")
    under = ModuleUnderTest(guest, chosen.module_options(), build, module, RELEASE, tmp_path)
    return FilesystemUnderTest(guest, chosen, under, RELEASE, tmp_path)


def run(case: Any, subject: FilesystemUnderTest) -> Verdict:
    try:
        return case.run(subject)  # type: ignore[no-any-return]
    except Finding as finding:
        return finding.verdict


def reported(found: dict[str, Any]) -> Answer:
    return Answer(json.dumps(found) + "\n")


def posix_observations() -> dict[str, Any]:
    times = {"dir_mtime_before": 1, "dir_mtime_after_create": 2, "mtime_before_write": 3, "mtime_after_write": 4,
             "ctime_before_chmod": 5, "ctime_after_chmod": 6, "mtime_before_rename": 7, "renamed_mtime": 7}  # fmt: skip
    return {**EXPECTED, **times}


# build and mount_cycles


def test_a_builtin_filesystem_has_nothing_to_build(tmp_path: Path) -> None:
    verdict = run(Build(), subject_for(tmp_path, {}, "tmpfs"))
    assert verdict.status is Status.PASSED and verdict.message == f"tmpfs is built into {RELEASE}: nothing to build"


def test_a_module_filesystem_is_built_as_the_kernel_module_domain_builds(tmp_path: Path) -> None:
    verdict = run(Build(), subject_for(tmp_path, {}))
    assert verdict.status is Status.PASSED and verdict.metrics["where"] == "chroot"


def test_a_module_that_registers_another_filesystem_or_none_skips_the_domain_saying_so(tmp_path: Path) -> None:
    listed = "sysfs proc ext4\nsysfs proc ext4 otherfs\n"
    verdict = run(Build(), subject_for(tmp_path, {"awk": Answer(listed)}))
    assert verdict.status is Status.SKIPPED
    assert verdict.message.startswith("vexfs registers no filesystem vexfs (it registers otherfs): nothing for the")
    registers_it = run(Build(), subject_for(tmp_path, {"awk": Answer("sysfs ext4\nsysfs ext4 vexfs\n")}))
    assert registers_it.status is Status.PASSED


def test_clean_mount_cycles_and_refused_bad_options_pass(tmp_path: Path) -> None:
    bad = FsOptions().profile.bad_options
    answer = Answer("cycles=10\n" + "".join(f"bad {option} errno:EINVAL\n" for option in bad))
    verdict = run(MountCycles(), subject_for(tmp_path, {"mount-cycles.sh": answer}))
    assert verdict.status is Status.PASSED and verdict.metrics["cycles"] == 10
    assert "bad options refused with EINVAL: vexfs_vmtest_bogus=1, dim=0," in verdict.message


def test_a_bad_mount_option_accepted_fails_mount_cycles(tmp_path: Path) -> None:
    answer = Answer("cycles=10\nbad vexfs_vmtest_bogus=1 ok\nbad size=12Q errno:EINVAL\nbad nr_inodes=x errno:EINVAL\n")
    verdict = run(MountCycles(), subject_for(tmp_path, {"mount-cycles.sh": answer}, "tmpfs"))
    assert verdict.status is Status.FAILED
    assert verdict.message == "bad mount options not refused with EINVAL: -o vexfs_vmtest_bogus=1: ok"


def test_a_mount_failing_midway_names_the_cycle(tmp_path: Path) -> None:
    answer = Answer("failed=mount\ncycles=4\n", stderr="mount: /mnt/x: cannot mount none\n")
    verdict = run(MountCycles(), subject_for(tmp_path, {"mount-cycles.sh": answer}))
    assert (
        verdict.status is Status.FAILED
        and verdict.message == "mount failed in cycle 4 of 10: mount: /mnt/x: cannot mount none"
    )


def test_a_filesystem_that_refuses_to_create_a_file_cycles_listing_its_root_and_skips_the_tests_that_write(
    tmp_path: Path,
) -> None:
    """A read-only pseudo filesystem (a root of simple_fill_super has no create): EPERM is its design, not a fault."""
    answer = Answer("refused=Permission denied\ncycles=10\nbad vexfs_vmtest_bogus=1 errno:EINVAL\n")
    subject = subject_for(tmp_path, {"mount-cycles.sh": answer, "with-fs.sh": reported(posix_observations())}, "ro")
    verdict = run(MountCycles(), subject)
    assert verdict.status is Status.PASSED
    assert verdict.message.startswith("10 mount/list/umount cycles (ro refused to create a file: Permission denied);")
    for case in (PosixOps(), DataIntegrity(), XattrsAndVectors(), Stress(), Limits()):
        skipped = run(case, subject)
        assert skipped.status is Status.SKIPPED
        assert skipped.message == (f"ro refused to create a file at the root of a fresh mount (Permission denied): "
                                   f"{case.name} needs one it can write files in")  # fmt: skip
    assert not any("with-fs.sh" in command for command in subject.guest.machine.commands)  # type: ignore[attr-defined]


UNFORMATTED = "blkq needs a block device, the guest has no mkfs.blkq to format one, and it did not mount a blank one"
WRONG_FS = "mount: /mnt/vexfs-vmtest-fs: wrong fs type, bad option, bad superblock on /dev/loop0"


def test_a_device_nothing_formats_that_does_not_mount_blank_skips_every_test_that_mounts(tmp_path: Path) -> None:
    """A filesystem on a block device whose mkfs the guest does not have: this domain cannot know how to format it."""
    said = f"{WRONG_FS}\n       dmesg(1) may have more information after failed mount system call.\n"
    answer = Answer("failed=unformatted\ncycles=1\n", stderr=said)
    blank = Answer("failed=unformatted\n", stderr=said, exit_status=3)
    subject = subject_for(tmp_path, {"mount-cycles.sh": answer, "with-fs.sh": blank}, "blkq")
    verdict = run(MountCycles(), subject)
    assert verdict.status is Status.SKIPPED
    assert verdict.message == f"10 mount/umount cycles: {UNFORMATTED} ({WRONG_FS})"
    for case in (PosixOps(), DataIntegrity(), XattrsAndVectors(), Stress(), Memory()):
        skipped = run(case, subject)
        assert skipped.status is Status.SKIPPED and skipped.message == f"{UNFORMATTED} ({WRONG_FS})", case.name


def test_without_mount_cycles_a_test_that_writes_learns_by_one_mount_whether_it_can(tmp_path: Path) -> None:
    refused = subject_for(tmp_path, {"mount-cycles.sh": Answer("refused=Read-only file system\ncycles=1\n")}, "ro")
    assert run(PosixOps(), refused).message.startswith("ro refused to create a file at the root of a fresh mount "
                                                       "(Read-only file system): posix_ops")  # fmt: skip
    writable = {"mount-cycles.sh": Answer("cycles=1\n"), "with-fs.sh": reported(posix_observations())}
    assert run(PosixOps(), subject_for(tmp_path, writable)).status is Status.PASSED


# posix_ops


def test_observations_as_the_host_expects_pass_posix_ops(tmp_path: Path) -> None:
    verdict = run(PosixOps(), subject_for(tmp_path, {"with-fs.sh": reported(posix_observations())}))
    assert verdict.status is Status.PASSED, verdict.message


def test_a_wrong_nlink_and_a_time_that_did_not_move_fail_posix_ops(tmp_path: Path) -> None:
    seen = {**posix_observations(), "link": 1, "mtime_after_write": 3}
    verdict = run(PosixOps(), subject_for(tmp_path, {"with-fs.sh": reported(seen)}))
    assert verdict.status is Status.FAILED
    assert verdict.message == "link: got 1, want 2; mtime_after_write 3 should be > mtime_before_write 3"


def test_an_append_written_at_the_start_and_a_listing_read_twice_fail_posix_ops(tmp_path: Path) -> None:
    listed = {"read": 96, "distinct": 4, "missing": [f"f{n:02d}" for n in range(4, 24)]}  # each read began again
    seen = {**posix_observations(), "size_after_append": 10240, "read_appended": "", "listing_in_small_reads": listed}
    verdict = run(PosixOps(), subject_for(tmp_path, {"with-fs.sh": reported(seen)}))
    assert verdict.status is Status.FAILED
    assert verdict.message.startswith("size_after_append: got 10240, want 10243; read_appended: got '', want '454e44'; "
                                      "listing_in_small_reads: got {'read': 96, 'distinct': 4, 'missing': ['f04', ")  # fmt: skip


def test_a_filesystem_without_hard_links_or_symlinks_passes_posix_ops_saying_so(tmp_path: Path) -> None:
    gone = {"link_same_inode": "errno:ENOENT", "renamed_nlink": "errno:ENOENT", "replaced_nlink": "errno:ENOENT",
            "unlink": "errno:ENOENT", "symlink_size": "errno:ENOENT", "symlink_is_link": "errno:ENOENT",
            "through_symlink": "errno:ENOENT"}  # fmt: skip
    seen = {**posix_observations(), **gone, "link": "errno:EPERM", "symlink": "errno:EOPNOTSUPP",
            "listing": ["sparse", "sub"]}  # fmt: skip
    verdict = run(PosixOps(), subject_for(tmp_path, {"with-fs.sh": reported(seen)}))
    assert verdict.status is Status.PASSED, verdict.message
    assert verdict.message.endswith("; vexfs has no hard links (link: EPERM), no symlinks (symlink: EOPNOTSUPP)")
    assert verdict.metrics["key_metric"] == f"{len(EXPECTED) - 9 + 4}/{len(EXPECTED) - 9 + 4} as expected"


def test_a_link_that_fails_otherwise_is_no_design_and_fails_posix_ops(tmp_path: Path) -> None:
    seen = {**posix_observations(), "link": "errno:EIO"}
    verdict = run(PosixOps(), subject_for(tmp_path, {"with-fs.sh": reported(seen)}))
    assert verdict.status is Status.FAILED and verdict.message.startswith("link: got 'errno:EIO', want 2")


def test_a_listing_that_never_ends_is_what_posix_ops_reports_and_counts(tmp_path: Path) -> None:
    after = list(EXPECTED)[list(EXPECTED).index("listing") :]  # what never ran
    seen = {name: value for name, value in posix_observations().items() if name not in after}
    seen["listing"] = "more than 1000 names: the listing did not end"
    verdict = run(PosixOps(), subject_for(tmp_path, {"with-fs.sh": reported(seen)}))
    assert verdict.status is Status.FAILED
    assert verdict.message.startswith(
        "listing: got 'more than 1000 names: the listing did not end', want ['sparse', 'sub', 'sym']; "
        "stopped after listing ("
    )
    matched = len(EXPECTED) - len(after) + 4  # the observations before the listing, and the 4 relations of times
    assert verdict.metrics["key_metric"] == f"{matched}/{len(EXPECTED) + 4} as expected"


def test_a_run_cut_short_says_after_which_step(tmp_path: Path) -> None:
    seen = dict(list(posix_observations().items())[:3]) | {"create": "errno:ENOSPC"}
    verdict = run(PosixOps(), subject_for(tmp_path, {"with-fs.sh": reported(seen)}))
    assert verdict.status is Status.FAILED and "create: got 'errno:ENOSPC', want 'ok'" in verdict.message


def test_a_rename_that_never_returns_fails_posix_ops_with_the_hung_task(tmp_path: Path) -> None:
    rules: dict[str, Any] = {"with-fs.sh": Answer(timeout=True), LOG_READ: Answer("\n".join(HUNG) + "\n")}
    verdict = run(PosixOps(), subject_for(tmp_path, rules))
    assert verdict.status is Status.FAILED and verdict.guest_dirty
    assert "posix operations did not return within 180 s: INFO: task hung" in verdict.message


def test_a_filesystem_that_cannot_be_mounted_fails_with_the_step(tmp_path: Path) -> None:
    answer = Answer("failed=mount\n", exit_status=3, stderr="mount: unknown filesystem type 'vexfs'\n")
    verdict = run(PosixOps(), subject_for(tmp_path, {"with-fs.sh": answer}))
    assert verdict.status is Status.FAILED
    assert (
        verdict.message
        == "posix operations: could not set vexfs up: mount failed: mount: unknown filesystem type 'vexfs'"
    )


def test_an_umount_that_fails_after_the_test_leaves_the_guest_dirty(tmp_path: Path) -> None:
    answer = Answer(json.dumps(posix_observations()) + "\nfailed=umount\n", exit_status=4)
    verdict = run(PosixOps(), subject_for(tmp_path, {"with-fs.sh": answer}))
    assert verdict.status is Status.FAILED and verdict.guest_dirty and "umount failed after the test" in verdict.message


def test_inodes_left_busy_at_umount_fail_the_test_that_left_them(tmp_path: Path) -> None:
    busy = "[ 9.0] VFS: Busy inodes after unmount of vexfs-vmtest (buggyfs). Self-destruct in 5 seconds."
    answer = Answer(json.dumps(posix_observations()) + "\n", log=(busy,))
    verdict = run(PosixOps(), subject_for(tmp_path, {"with-fs.sh": answer}))
    assert verdict.status is Status.FAILED and verdict.message.startswith("posix operations: VFS: Busy inodes")


def test_module_parameters_the_kernel_ignored_fail_the_test_that_loaded_it(tmp_path: Path) -> None:
    ignored = "[ 9.0] vexfs: unknown parameter 'nosuchparam' ignored"
    answer = Answer(json.dumps(posix_observations()) + "\n", log=(ignored,))
    verdict = run(PosixOps(), subject_for(tmp_path, {"with-fs.sh": answer}, params=["nosuchparam=1"]))
    assert verdict.status is Status.FAILED and not verdict.guest_dirty
    assert verdict.message == (
        "posix operations: the kernel did not take the module's parameters: vexfs: unknown parameter 'nosuchparam' "
        "ignored"
    )


def test_a_module_parameter_value_refused_at_setup_is_quoted_from_the_kernel(tmp_path: Path) -> None:
    refused = "[ 9.0] vexfs: `x' invalid for parameter `info_size'"
    answer = Answer("failed=insmod\n", 3, "insmod: ERROR: could not insert module: Invalid parameters\n", (refused,))
    verdict = run(MountCycles(), subject_for(tmp_path, {"mount-cycles.sh": answer}, params=["info_size=x"]))
    assert verdict.message == (
        "10 mount/umount cycles: the kernel did not take the module's parameters: vexfs: `x' invalid for parameter "
        "`info_size'"
    )


# data_integrity


def fio(*jobs: tuple[str, int, int, int]) -> str:
    return "note: both iodepth >= 1 and synchronous I/O engine are selected\n" + json.dumps(
        {
            "jobs": [
                {"jobname": n, "error": e, "write": {"io_bytes": w}, "read": {"io_bytes": r}} for n, e, w, r in jobs
            ]
        },
        indent=1,
    )


def test_every_block_read_back_passes_data_integrity(tmp_path: Path) -> None:
    answer = Answer(fio(("seq-buffered", 0, 2 << 20, 2 << 20), ("rand-mmap", 0, 2 << 20, 2 << 20)))
    verdict = run(DataIntegrity(), subject_for(tmp_path, {"with-fs.sh": answer}))
    assert verdict.status is Status.PASSED and verdict.metrics["verified_bytes"] == 4 << 20


def test_a_crc_mismatch_fails_data_integrity_quoting_fio(tmp_path: Path) -> None:
    answer = Answer(fio(("seq-buffered", 84, 2 << 20, 1 << 20)), exit_status=1,
                    stderr="verify: bad header rand_seed 123, wanted 456 at file /mnt/x/seq-buffered.0.0 offset 4096\n")  # fmt: skip
    verdict = run(DataIntegrity(), subject_for(tmp_path, {"with-fs.sh": answer}))
    assert verdict.status is Status.FAILED
    assert verdict.message.startswith("fio found bad data: seq-buffered: error 84: verify: bad header")


def test_fio_verifying_less_than_it_wrote_fails(tmp_path: Path) -> None:
    answer = Answer(fio(("seq-buffered", 0, 2 << 20, 1 << 20)))
    verdict = run(DataIntegrity(), subject_for(tmp_path, {"with-fs.sh": answer}))
    assert verdict.status is Status.FAILED and verdict.message == f"fio verified {1 << 20} of {2 << 20} bytes written"


# xattrs_and_vectors


def test_a_filesystem_without_user_xattrs_skips_with_the_reason(tmp_path: Path) -> None:
    verdict = run(
        XattrsAndVectors(), subject_for(tmp_path, {"with-fs.sh": reported({"set": "errno:EOPNOTSUPP"})}, "tmpfs")
    )
    assert verdict.status is Status.SKIPPED and "EOPNOTSUPP" in verdict.message


def test_xattrs_as_expected_pass_on_a_filesystem_without_vectors(tmp_path: Path) -> None:
    verdict = run(XattrsAndVectors(), subject_for(tmp_path, {"with-fs.sh": reported(EXPECTED_XATTRS)}, "ext4"))
    assert verdict.status is Status.PASSED


def test_a_removed_xattr_still_readable_fails(tmp_path: Path) -> None:
    seen = {**EXPECTED_XATTRS, "get_removed": "blue"}
    verdict = run(XattrsAndVectors(), subject_for(tmp_path, {"with-fs.sh": reported(seen)}, "ext4"))
    assert verdict.status is Status.FAILED and verdict.message == "get_removed: got 'blue', want 'errno:ENODATA'"


def guest_answers(plan: xattrs.VectorPlan, swap: bool = False) -> dict[str, Any]:
    """What a correct VexFS answers to plan (inode numbers in creation order), or two results swapped."""
    inodes = {path: 100 + index for index, path in enumerate(sorted(plan.vectors))}
    candidates = {inodes[p]: v for p, v in plan.vectors.items() if p.count("/") == 1 and p not in plan.unlinked}
    queries = [[list(pair) for pair in reference.nearest(candidates, v, k, m)] for v, k, m in plan.queries]
    if swap:
        queries[3][0], queries[3][1] = queries[3][1], queries[3][0]
    bad = {**xattrs.BAD_ERRNOS, f"dim={plan.dim + 1}": "errno:EINVAL"}
    return {"inodes": inodes, "readback_wrong": [], "set_failed": {}, "queries": queries, "bad": bad}


def test_vexfs_answers_equal_to_the_reference_pass(tmp_path: Path) -> None:
    plan = xattrs.plan_vectors(8, "int8")
    rules = {'RUN=\'python3 "$FSOPS" xattrs': reported(EXPECTED_XATTRS), "vectors": reported(guest_answers(plan))}
    verdict = run(XattrsAndVectors(), subject_for(tmp_path, rules))
    assert verdict.status is Status.PASSED, verdict.message
    assert "44 int8 vectors of 8, 8 k-nearest queries equal to the host's reference" in verdict.message
    assert json.loads((tmp_path / "vexfs-vectors.json").read_text())["ioctl"] == reference.IOC_QUERY


def test_results_out_of_order_fail_naming_the_query(tmp_path: Path) -> None:
    plan = xattrs.plan_vectors(8, "int8")
    rules = {
        'RUN=\'python3 "$FSOPS" xattrs': reported(EXPECTED_XATTRS),
        "vectors": reported(guest_answers(plan, swap=True)),
    }
    verdict = run(XattrsAndVectors(), subject_for(tmp_path, rules))
    assert verdict.status is Status.FAILED and verdict.message.startswith("query 3 (dot, k=10): got")


def test_a_bad_pointer_accepted_fails(tmp_path: Path) -> None:
    plan = xattrs.plan_vectors(8, "int8")
    answers = guest_answers(plan)
    answers["bad"]["bad results pointer"] = []
    rules = {'RUN=\'python3 "$FSOPS" xattrs': reported(EXPECTED_XATTRS), "vectors": reported(answers)}
    verdict = run(XattrsAndVectors(), subject_for(tmp_path, rules))
    assert verdict.status is Status.FAILED and verdict.message == "bad results pointer: got [], want errno:EFAULT"


def test_the_vector_plan_follows_the_mount_options() -> None:
    assert xattrs.mount_value("max_files=9,dim=4,vtype=int16,dim=16", "dim", "8") == "16"
    plan = xattrs.plan_vectors(16, "int16")
    assert {len(vector) for vector in plan.vectors.values()} == {16}
    assert plan.vectors["vec/f01"] == plan.vectors["vec/f00"]  # ties on purpose
    assert len(bytes.fromhex(plan.spec()["files"]["vec/f00"])) == 32


# stress


def test_stressors_that_all_passed_pass_stress(tmp_path: Path) -> None:
    answer = Answer("stressors dentry dir link rename\nstress-ng: info:  [99] passed: 8: dentry (2) dir (2)\n"
                    "stress-ng: info:  [99] failed: 0\n")  # fmt: skip
    verdict = run(Stress(), subject_for(tmp_path, {"with-fs.sh": answer}))
    assert verdict.status is Status.PASSED and verdict.metrics["stressors"] == ["dentry", "dir", "link", "rename"]


def test_a_failed_stressor_fails_stress_with_its_line(tmp_path: Path) -> None:
    answer = Answer("stressors rename\nstress-ng: info:  [99] failed: 1: rename (1)\n", exit_status=2)
    verdict = run(Stress(), subject_for(tmp_path, {"with-fs.sh": answer}))
    assert (
        verdict.status is Status.FAILED
        and verdict.message == "stress-ng exited 2: stress-ng: info:  [99] failed: 1: rename (1)"
    )


def test_a_stressor_this_filesystem_cannot_run_is_no_failure(tmp_path: Path) -> None:
    answer = Answer("stressors xattr\nstress-ng: info:  [9] skipped: 1: xattr (1)\n", exit_status=4)
    verdict = run(Stress(), subject_for(tmp_path, {"with-fs.sh": answer}, "tmpfs"))
    assert verdict.status is Status.PASSED and "not implemented" in verdict.message


def test_a_stress_ng_without_any_of_the_stressors_skips(tmp_path: Path) -> None:
    verdict = run(Stress(), subject_for(tmp_path, {"with-fs.sh": Answer("stressors\n")}))
    assert verdict.status is Status.SKIPPED


# limits


GOOD_FILL = {"files": {"created": 16, "stopped": "errno:ENOSPC"},
             "bytes": {"written": 262144, "stopped": "errno:ENOSPC"}, "usable_after": "ok", "umount_busy": "errno:EBUSY"}  # fmt: skip


def test_enospc_at_the_limits_and_ebusy_pass_limits(tmp_path: Path) -> None:
    subject = subject_for(tmp_path, {"with-fs.sh": reported(GOOD_FILL)})
    verdict = run(Limits(), subject)
    assert verdict.status is Status.PASSED, verdict.message
    assert "EXTRA_OPTIONS=max_files=16,max_bytes=262144" in " ".join(subject.guest.machine.commands)  # type: ignore[attr-defined]


def test_limits_ignored_fail_limits() -> None:
    seen = {**GOOD_FILL, "files": {"created": 48, "stopped": "no ENOSPC"}}
    assert limits.judge(seen, 16, 262144) == ["max 16 files: 48 created, then no ENOSPC, not ENOSPC"]


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"bytes": {"written": 1000, "stopped": "errno:ENOSPC"}}, "max 262144 bytes: ENOSPC after 1000 bytes"),
        ({"usable_after": "errno:ENOSPC"}, "after ENOSPC: errno:ENOSPC"),
        ({"umount_busy": "ok"}, "umount with a file open: ok, not EBUSY"),
    ],
)
def test_each_broken_limit_is_named(change: dict[str, Any], complaint: str) -> None:
    assert limits.judge({**GOOD_FILL, **change}, 16, 262144) == [complaint]


def test_fs_limits_sets_the_limits_of_a_module_filesystem_without_a_profile(tmp_path: Path) -> None:
    subject = subject_for(tmp_path, {"with-fs.sh": reported(GOOD_FILL)}, "myfs",
                          fs_limits="files={files},blocks={bytes}")  # fmt: skip
    verdict = run(Limits(), subject)
    assert verdict.status is Status.PASSED, verdict.message
    assert "EXTRA_OPTIONS=files=16,blocks=262144" in " ".join(subject.guest.machine.commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize("fs_type", ["vexfs", "tmpfs"])
def test_fs_limits_comes_before_the_types_own_limits(tmp_path: Path, fs_type: str) -> None:
    subject = subject_for(
        tmp_path, {"with-fs.sh": reported(GOOD_FILL)}, fs_type, fs_limits="lim_n={files},lim_b={bytes}"
    )
    assert run(Limits(), subject).status is Status.PASSED
    commands = " ".join(subject.guest.machine.commands)  # type: ignore[attr-defined]
    assert "EXTRA_OPTIONS=lim_n=16,lim_b=262144" in commands and "max_files=16" not in commands
    assert "nr_inodes=16" not in commands


@pytest.mark.parametrize("fs_type", ["myfs", "buggyfs"])
def test_a_module_filesystem_without_declared_limits_skips_limits_without_touching_the_guest(
    tmp_path: Path, fs_type: str
) -> None:
    subject = subject_for(tmp_path, {"with-fs.sh": reported(GOOD_FILL)}, fs_type)
    verdict = run(Limits(), subject)
    assert verdict.status is Status.SKIPPED
    assert verdict.message == (
        f"no limits declared for {fs_type}: give --fs-limits 'max_files={{files}},max_bytes={{bytes}}' (the mount "
        f"options of {fs_type} setting a files and a bytes limit) to test ENOSPC at its limits"
    )
    assert not any("with-fs.sh" in c for c in subject.guest.machine.commands)  # type: ignore[attr-defined]


def test_a_block_filesystem_without_limit_options_fills_a_small_device(tmp_path: Path) -> None:
    seen = {
        "bytes": {"written": 14 << 20, "stopped": "errno:ENOSPC"},
        "usable_after": "ok",
        "umount_busy": "errno:EBUSY",
    }
    subject = subject_for(tmp_path, {"with-fs.sh": reported(seen)}, "ext4")
    verdict = run(Limits(), subject)
    assert verdict.status is Status.PASSED and "16 MiB device" in verdict.message
    assert "IMAGE_MIB=16" in " ".join(subject.guest.machine.commands)  # type: ignore[attr-defined]


# memory


def test_builtin_inode_objects_back_to_baseline_pass_memory(tmp_path: Path) -> None:
    rules = {"slab.sh": [Answer("shmem_inode_cache=500\n"), Answer("shmem_inode_cache=505\n")],
             "with-fs.sh": reported({"rounds": 100, "failed": [], "failures": 0})}  # fmt: skip
    verdict = run(Memory(), subject_for(tmp_path, rules, "tmpfs"))
    assert verdict.status is Status.PASSED and verdict.metrics["key_metric"] == "+5 shmem_inode_cache"


def test_builtin_inode_objects_kept_fail_memory(tmp_path: Path) -> None:
    rules = {"slab.sh": [Answer("ext4_inode_cache=500\n"), Answer("ext4_inode_cache=700\n")],
             "with-fs.sh": reported({"rounds": 100, "failed": [], "failures": 0})}  # fmt: skip
    verdict = run(Memory(), subject_for(tmp_path, rules, "ext4"))
    assert verdict.status is Status.FAILED and verdict.message == "ext4_inode_cache kept 200 more objects after umount"


LEAK_TRACE = """\
      insmod-300   [000] .....   10.000: kmem_cache_alloc: call_site=vexfs_alloc_inode+0x1a/0x60 [vexfs] ptr=ffff888003a00000 bytes_req=720 bytes_alloc=768 gfp_flags=GFP_KERNEL
"""


def test_a_module_filesystem_goes_through_the_leak_tracing_with_a_file_workload(tmp_path: Path) -> None:
    rules = {"leak-trace.sh": Answer("section .text 0xffffffffc0000000\noverrun 0\n"),
             "kmemleak": Answer(exit_status=3)}  # fmt: skip
    subject = subject_for(tmp_path, rules)
    subject.guest.machine.files = {"/tmp/vexfs-vmtest-trace": LEAK_TRACE}  # type: ignore[attr-defined]
    verdict = run(Memory(), subject)
    assert verdict.status is Status.FAILED and verdict.metrics["call_sites"] == [
        "vexfs_alloc_inode+0x1a: 1 x, 720 bytes"
    ]
    command = next(c for c in subject.guest.machine.commands if "leak-trace.sh" in c)  # type: ignore[attr-defined]
    assert "WORKLOAD=" in command and "churn" in command


def test_a_file_workload_that_failed_in_the_trace_fails_memory_and_claims_no_churn(tmp_path: Path) -> None:
    said = "mount: /mnt/vexfs-vmtest-fs: wrong fs type, bad option, bad superblock on /dev/loop0"
    rules = {"leak-trace.sh": Answer("section .text 0xffffffffc0000000\nfailed=mount\nuse_failed=3\noverrun 0\n",
                                     stderr=said + "\n"),
             "kmemleak": Answer(exit_status=3)}  # fmt: skip
    subject = subject_for(tmp_path, rules)
    subject.guest.machine.files = {"/tmp/vexfs-vmtest-trace": ""}  # type: ignore[attr-defined]
    verdict = run(Memory(), subject)
    assert verdict.status is Status.FAILED
    assert verdict.message == f"the use of the module in the trace failed (exit 3): {said}"


def test_a_clean_trace_but_busy_inodes_at_umount_fail_memory(tmp_path: Path) -> None:
    busy = "[ 9.0] VFS: Busy inodes after unmount of vexfs-vmtest (buggyfs). Self-destruct in 5 seconds."
    # dmesg still holds the line when the test reads the log after the traced step
    rules = {"leak-trace.sh": Answer("overrun 0\n", log=(busy,)), "kmemleak": Answer(exit_status=3, log=(busy,))}
    subject = subject_for(tmp_path, rules)
    subject.guest.machine.files = {"/tmp/vexfs-vmtest-trace": ""}  # type: ignore[attr-defined]
    verdict = run(Memory(), subject)
    assert verdict.status is Status.FAILED and verdict.message.startswith("VFS: Busy inodes after unmount")


# the subject and the domain


def test_a_filesystem_left_mounted_is_unfit(tmp_path: Path) -> None:
    subject = subject_for(tmp_path, {"probe.sh": Answer("state=absent\nmounted=1\nmem_available_kib=1000\n")})
    health = subject.health()
    assert not health.ok and health.reason.endswith("is still mounted at /mnt/vexfs-vmtest-fs")
    assert health.vitals == {"mem_available_kib": 1000}


def test_recovery_rolls_back_and_installs_the_scripts_again(tmp_path: Path) -> None:
    subject = subject_for(tmp_path, {})
    assert subject.recover() == "guest rolled back to its ready snapshot"
    assert sum("PUT" in c for c in subject.guest.machine.commands) == 2  # type: ignore[attr-defined]


def test_builtin_filesystems_need_no_module_directory(tmp_path: Path) -> None:
    settings = config.load({})
    chosen = options.parse(FsOptions, {"fs_type": "tmpfs", "module_dir": tmp_path / "nowhere"})
    assert not any("module directory" in p for p in filesystem.constraints(chosen, settings))
    bad = options.parse(FsOptions, {"fs_type": "ext4; rm", "mount_options": "a b"})
    assert len(filesystem.constraints(bad, settings)) >= 2


@pytest.mark.parametrize(
    ("given", "complaint"),
    [
        ("", "is empty"),
        ("{", "has braces other than {files} and {bytes}"),
        ("{x}", "has braces other than {files} and {bytes}"),
        ("max_files={files},max_bytes={bytes},{0}", "has braces other than {files} and {bytes}"),
        ("max_files={files!r},max_bytes={bytes}", "has braces other than {files} and {bytes}"),
        ("max_files={{files}},max_bytes={bytes}", "has braces other than {files} and {bytes}"),
        ("max_files=10,max_bytes=20", "lacks {files} and {bytes}"),
        ("max_files={files}", "lacks {bytes}"),
        ("max_files={files}, max_bytes={bytes}", "has a space in it"),
        ("max_files={files},max_bytes={bytes}\nx", "has a newline in it"),
        ("max_files='{files}',max_bytes={bytes}", "has a quote in it"),
        ('max_files="{files}",max_bytes={bytes}', "has a quote in it"),
        ("max_files={files},max_bytes={bytes}\\", "has a backslash in it"),
        ("max_files={files},max_bytes={bytes}\x00", "has a control character in it"),
        ("max_files={files},max_bytes={bytes}," + "a" * 100_000, "is 100036 characters long (at most 256)"),
    ],
)
def test_an_unusable_fs_limits_is_one_problem_saying_how_to_give_it(given: str, complaint: str) -> None:
    chosen = options.parse(FsOptions, {"fs_type": "tmpfs", "fs_limits": given})
    [problem] = filesystem.constraints(chosen, config.load({}))
    assert problem.startswith("--fs-limits ") and f" {complaint}: " in problem
    assert problem.endswith("in place of the numbers, e.g. --fs-limits 'max_files={files},max_bytes={bytes}'")
    assert len(problem) < 400 and "\n" not in problem


@pytest.mark.parametrize(
    "given", ["max_files={files},max_bytes={bytes}", "size={bytes},nr_inodes={files}", "x={files},y={bytes},z=1"]
)
def test_a_fs_limits_with_both_numbers_passes_the_constraints(given: str) -> None:
    chosen = options.parse(FsOptions, {"fs_type": "tmpfs", "fs_limits": given})
    assert filesystem.constraints(chosen, config.load({})) == []


def test_a_bad_fs_limits_stops_the_run_before_a_vm_as_a_usage_error() -> None:
    plan = plans.plan("filesystem", {"fs_type": "tmpfs", "fs_limits": "max_files=1"})
    with pytest.raises(UserError, match=r"^--fs-limits 'max_files=1' lacks \{files\} and \{bytes\}: ") as raised:
        plans.check([plan], config.load({}))
    assert raised.value.exit_code == 2


def test_a_builtin_filesystem_is_prepared_without_a_build(tmp_path: Path) -> None:
    machine = ScriptedMachine({})
    target = Target(machine, RELEASE, tmp_path / "out", Progress("6.1", io.StringIO()))  # type: ignore[arg-type]
    [subject] = filesystem.subjects(target, options.parse(FsOptions, {"fs_type": "ext4"}))
    assert subject.info.kind == "filesystem" and subject.info.source == f"built into {RELEASE}"
    assert not subject.has_module and "KO=''" in subject.script("with-fs.sh")


def test_a_debug_kernels_slowdown_scales_the_filesystem_guests_timeouts(tmp_path: Path) -> None:
    target = Target(ScriptedMachine({}), RELEASE, tmp_path / "out", Progress("6.1", io.StringIO()), slowdown=4.0)  # type: ignore[arg-type]
    [subject] = filesystem.subjects(target, options.parse(FsOptions, {"fs_type": "ext4"}))
    assert subject.guest.slowdown == 4.0 and subject.module.guest.slowdown == 4.0


def test_the_module_registering_the_type_is_chosen_among_several(tmp_path: Path) -> None:
    def built(name: str) -> BuiltModule:
        return BuiltModule(name, tmp_path / f"{name}.ko", 1, "", "", {}, {}, ())

    two = BuildOutcome("chroot", 0, 1.0, "", (built("helper"), built("vexfs")))
    assert filesystem.module_for(two, FsOptions()) is two.modules[1]
    with pytest.raises(Exception, match="none is named buggyfs"):
        filesystem.module_for(two, options.parse(FsOptions, {"fs_type": "buggyfs"}))


def test_stress_gives_the_hung_task_watchdog_60_s_and_restores_it(tmp_path: Path) -> None:
    subject = subject_for(tmp_path, {"with-fs.sh": Answer("stressors dir\n")})
    run(Stress(), subject)
    command = next(c for c in subject.guest.machine.commands if "with-fs.sh" in c)  # type: ignore[attr-defined]
    assert command.index("hung_task_timeout_secs=60") < command.index("with-fs.sh")
    assert command.endswith("sysctl -q -w kernel.hung_task_timeout_secs=10; exit $status")
