"""limits: ENOSPC at the configured limits (files, bytes), the filesystem usable after, umount while busy EBUSY.

The limits are set by mount options, a template with {files} and {bytes} in place of the numbers: --fs-limits,
else the type's profile's. A built-in type without one that needs a device (ext4) fills a small device instead;
a module's filesystem without one is skipped: nobody said which of its options set a limit.
"""

from __future__ import annotations

from typing import Any

from toolkit.domains.base import Verdict
from toolkit.domains.filesystem.subject import FilesystemUnderTest

FILES_LIMIT = 16
BYTES_LIMIT = 256 * 1024
IMAGE_MIB = 16  # a block-backed filesystem without limit options fills its (small) device instead
FILES_SLACK = 3  # the root directory and files of the filesystem's own may count against the limit
PLACEHOLDERS = ("{files}", "{bytes}")
EXAMPLE = "max_files={files},max_bytes={bytes}"
TEMPLATE_MAX = 256  # characters: a few mount options, far below the page the kernel takes them in


def _unfit(character: str) -> str | None:
    """What a character a template must not have is, for a message (None: it may have it)."""
    if character == "\n":
        return "a newline"
    if character.isspace():
        return "a space"
    if character in "'\"`":
        return "a quote"
    if character == "\\":
        return "a backslash"
    return None if character.isprintable() else "a control character"


def template_problem(template: str) -> str | None:
    """Why template cannot set the limits (--fs-limits), saying how to give it; None when it can."""
    unfit = next((what for what in map(_unfit, template) if what), None)
    rest = template.replace(PLACEHOLDERS[0], "").replace(PLACEHOLDERS[1], "")
    missing = [placeholder for placeholder in PLACEHOLDERS if placeholder not in template]
    if not template:
        reason = "is empty"
    elif len(template) > TEMPLATE_MAX:
        reason = f"is {len(template)} characters long (at most {TEMPLATE_MAX})"
    elif unfit:
        reason = f"has {unfit} in it"
    elif "{" in rest or "}" in rest:
        reason = "has braces other than {files} and {bytes}"
    elif missing:
        reason = f"lacks {' and '.join(missing)}"
    else:
        return None
    shown = template if len(template) <= 60 else f"{template[:40]}..."
    return (
        f"--fs-limits {shown!r} {reason}: give the mount options setting a files and a bytes limit, "
        f"without spaces or quotes, with {{files}} and {{bytes}} in place of the numbers, e.g. --fs-limits '{EXAMPLE}'"
    )


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
        skipped = subject.unwritable(self.name)
        if skipped:
            return skipped
        template = subject.options.limits
        if not template and not subject.options.builtin:
            return Verdict.skipped(
                f"no limits declared for {subject.fs_type}: give --fs-limits '{EXAMPLE}' (the mount options of "
                f"{subject.fs_type} setting a files and a bytes limit) to test ENOSPC at its limits"
            )
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
