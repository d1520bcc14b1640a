"""posix_ops: namespace and file operations in the guest, each observation checked against the host's expectation.

The guest (fsops.py posix) performs a fixed sequence of system calls and reports what it saw
under each step's name; the expected values and the time relations live here, on the host.
"""

from __future__ import annotations

import hashlib
from typing import Any

from toolkit.domains.base import Verdict
from toolkit.domains.filesystem.subject import FilesystemUnderTest

PATTERN = bytes(range(256)) * 40  # what fsops.py writes: 10240 bytes, across two page boundaries
AFTER_PWRITE = PATTERN[:5000] + b"XYZ" + PATTERN[5003:]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


EXPECTED: dict[str, Any] = {
    "mkdir": "0o755",
    "dir_nlink": 2,
    "create": "ok",
    "create_again": "errno:EEXIST",
    "created_mode": "0o640",
    "created_size": 0,
    "created_nlink": 1,
    "write": len(PATTERN),
    "size_after_write": len(PATTERN),
    "sha_after_write": _sha(PATTERN),
    "pwrite_at_5000": 3,
    "read_at_5000": AFTER_PWRITE[4999:5004].hex(),
    "read_at_4096": PATTERN[4096:4100].hex(),
    "seek_end": len(PATTERN),
    "append": 3,
    "size_after_append": len(PATTERN) + 3,
    "read_appended": b"END".hex(),
    "sparse_write": 1,
    "sparse_size": 20001,
    "sparse_nonzero": 1,
    "truncate_down": 3000,
    "sha_after_truncate_down": _sha(PATTERN[:3000]),
    "truncate_up": 8000,
    "nonzero_past_3000": 0,
    "chmod": "0o600",
    "link": 2,
    "link_same_inode": True,
    "symlink": "file",
    "symlink_size": 4,
    "symlink_is_link": True,
    "through_symlink": True,
    "subdir": 3,
    "rmdir_not_empty": "errno:ENOTEMPTY",
    "rename": False,
    "renamed_sha": _sha(PATTERN[:3000] + bytes(5000)),
    "renamed_nlink": 2,
    "rename_over": "two",
    "replaced_nlink": 1,
    "unlink": False,
    "unlink_missing": "errno:ENOENT",
    "dangling_symlink": False,
    "listing": ["sparse", "sub", "sym"],
    "sub_listing": ["moved"],
    "rmdir_sub": 2,
    "rmdir": False,
    "listing_in_small_reads": {"read": 24, "distinct": 24, "missing": []},  # fsops.py's MANY files, 96 bytes a read
}
# What a filesystem without hard links or symlinks (its link or symlink refused by design) is not asked: the steps
# that use them; and its folder lists no symlink.
WITHOUT = {
    "link": ("link_same_inode", "renamed_nlink", "replaced_nlink", "unlink", "unlink_missing"),
    "symlink": ("symlink_size", "symlink_is_link", "through_symlink", "dangling_symlink"),
}
REFUSED_BY_DESIGN = ("errno:EPERM", "errno:EOPNOTSUPP", "errno:ENOSYS")
# (later, relation, earlier): times in nanoseconds that must move, or stay, as the operations say
TIMES = (
    ("dir_mtime_after_create", ">", "dir_mtime_before"),
    ("mtime_after_write", ">", "mtime_before_write"),
    ("ctime_after_chmod", ">", "ctime_before_chmod"),
    ("renamed_mtime", "==", "mtime_before_rename"),
)


def expected(seen: dict[str, Any]) -> dict[str, Any]:
    """EXPECTED, but what a filesystem that refused a link or a symlink by design (seen) cannot show."""
    want = dict(EXPECTED)
    for call, uses in WITHOUT.items():
        if seen.get(call) in REFUSED_BY_DESIGN:
            want[call] = seen[call]
            for name in uses:
                del want[name]
            if call == "symlink":
                want["listing"] = [name for name in want["listing"] if name != "sym"]
    return want


def refused(seen: dict[str, Any]) -> str:
    """What the filesystem has not, by design, as seen ("" when it has both)."""
    kinds = {"link": "hard links", "symlink": "symlinks"}
    return ", ".join(f"no {kinds[call]} ({call}: {seen[call][6:]})" for call in WITHOUT
                     if seen.get(call) in REFUSED_BY_DESIGN)  # fmt: skip


def mismatches(seen: dict[str, Any]) -> list[str]:
    """What differs from the expectation, in the order the guest did it; a run cut short says where."""
    wrong = []
    for name, want in expected(seen).items():
        if name not in seen:
            last = next(reversed(seen), "the start")
            wrong.append(f"stopped after {last} ({seen.get(last, 'nothing')}): {name} never ran")
            break
        if seen[name] != want:
            wrong.append(f"{name}: got {seen[name]!r}, want {want!r}")
    for later, relation, earlier in TIMES:
        if later in seen and earlier in seen and not _holds(seen, later, relation, earlier):
            wrong.append(f"{later} {seen[later]!r} should be {relation} {earlier} {seen[earlier]!r}")
    return wrong


def _holds(seen: dict[str, Any], later: str, relation: str, earlier: str) -> bool:
    a, b = seen.get(later), seen.get(earlier)
    return isinstance(a, int) and isinstance(b, int) and (a > b if relation == ">" else a == b)


def as_expected(seen: dict[str, Any]) -> int:
    """How many observations, and relations of times, came out as the host expects (none that never ran)."""
    values = sum(1 for name, want in expected(seen).items() if name in seen and seen[name] == want)
    return values + sum(1 for relation in TIMES if _holds(seen, *relation))


class PosixOps:
    name = "posix_ops"
    needs = ("build",)
    timeout_s = 180.0

    def run(self, subject: FilesystemUnderTest) -> Verdict:
        skipped = subject.unwritable(self.name)
        if skipped:
            return skipped
        command = subject.on_fs(subject.fsops("posix", "$MOUNT_POINT"))
        step = subject.step("posix operations", command, self.timeout_s)
        seen = subject.reports(step)
        wrong = mismatches(seen)
        checked = len(expected(seen)) + len(TIMES)
        metrics: dict[str, Any] = {"observations": seen, "key_metric": f"{as_expected(seen)}/{checked} as expected"}
        if not step.ok and not seen:
            return Verdict.failed(f"posix operations failed (exit {step.result.exit_status}): "
                                  f"{step.result.stderr.strip()[-300:]}", step.log, **metrics)  # fmt: skip
        if wrong:
            more = f" (and {len(wrong) - 3} more)" if len(wrong) > 3 else ""
            return Verdict.failed("; ".join(wrong[:3]) + more, step.log, mismatches=wrong, **metrics)
        without = refused(seen)
        return Verdict.passed(
            "create, write, read, seek, append, truncate, chmod, link, symlink, rename, unlink, mkdir, rmdir, "
            f"a listing in small reads: {checked} observations as expected (content, size, nlink, mode, times)"
            + (f"; {subject.fs_type} has {without}" if without else ""),
            **metrics,
        )
