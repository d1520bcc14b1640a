"""limits: ENOSPC at the configured limits (files, bytes), the filesystem usable after, umount while busy EBUSY."""

from __future__ import annotations

from typing import Any

from toolkit.domains.base import Verdict
from toolkit.domains.filesystem.subject import FilesystemUnderTest

FILES_LIMIT = 16
BYTES_LIMIT = 256 * 1024
IMAGE_MIB = 16  # a block-backed filesystem without limit options fills its (small) device instead
FILES_SLACK = 3  # the root directory and files of the filesystem's own may count against the limit


def judge(seen: dict[str, Any], files: int, size: int) -> list[str]:
    """What is wrong with the fill's report against limits of files and size bytes (files 0: not limited)."""
    wrong = []
    if files:
        made = seen.get("files", {})
        if made.get("stopped") != "errno:ENOSPC":
            wrong.append(f"max {files} files: {made.get('created')} created, then {made.get('stopped')}, not ENOSPC")
        elif not files - FILES_SLACK <= made.get("created", -1) <= files:
            wrong.append(f"max {files} files: ENOSPC after {made.get('created')} files")
    written = seen.get("bytes", {})
    if written.get("stopped") != "errno:ENOSPC":
        wrong.append(f"max {size} bytes: {written.get('written')} written, then {written.get('stopped')}, not ENOSPC")
    elif not size // 2 <= written.get("written", -1) <= size:
        wrong.append(f"max {size} bytes: ENOSPC after {written.get('written')} bytes")
    if seen.get("usable_after") != "ok":
        wrong.append(f"after ENOSPC: {seen.get('usable_after', 'not tried')}")
    if seen.get("umount_busy") != "errno:EBUSY":
        wrong.append(f"umount with a file open: {seen.get('umount_busy', 'not tried')}, not EBUSY")
    return wrong


class Limits:
    name = "limits"
    needs = ("build",)
    timeout_s = 300.0

    def run(self, subject: FilesystemUnderTest) -> Verdict:
        template = subject.profile.limits
        files, size = (FILES_LIMIT, BYTES_LIMIT) if template else (0, IMAGE_MIB * 2**20)
        extra = template.format(files=files, bytes=size) if template else ""
        fill = subject.fsops("fill", "$MOUNT_POINT", files, size)
        command = subject.on_fs(f"{fill} && {subject.fsops('busy', '$MOUNT_POINT')}", EXTRA_OPTIONS=extra,
                                IMAGE_MIB=IMAGE_MIB)  # fmt: skip
        limits = f"-o {extra}" if extra else f"a {IMAGE_MIB} MiB device"
        step = subject.step(f"filling {subject.fs_type} with {limits}", command, self.timeout_s)
        seen = subject.reports(step)
        wrong = judge(seen, files, size)
        metrics: dict[str, Any] = {"limits": extra or f"{IMAGE_MIB} MiB device", "observed": seen,
                                   "key_metric": f"{4 - len(wrong)}/4 limits held" if files else ""}  # fmt: skip
        if wrong:
            return Verdict.failed("; ".join(wrong), step.log, **metrics)
        what = (
            f"ENOSPC at {files} files and at {size} bytes"
            if files
            else f"ENOSPC when the {IMAGE_MIB} MiB device filled"
        )
        return Verdict.passed(f"{what}; usable again after; umount with a file open refused with EBUSY", **metrics)
