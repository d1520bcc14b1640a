"""memory: after umount and rmmod, nothing the filesystem allocated is left.

A module's filesystem goes through memory_leak (toolkit/domains/module/leaks.py: kmem tracepoints
from insmod to rmmod, allocations paired with frees, the unpaired ones attributed to the module's
code) with a workload that creates, links, renames and removes files in it (one that refuses to create
files has them read instead). A built-in one has
the objects of its inode cache counted before and after (caches dropped). Either way, inodes
left busy at umount fail it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from toolkit.domains.base import Verdict
from toolkit.domains.filesystem.subject import BUSY_INODES, FilesystemUnderTest
from toolkit.domains.module.leaks import MemoryLeak
from toolkit.results.records import Status

CHURN_ROUNDS = 100
OBJECT_SLACK = 32  # inode objects a quiet guest may gain meanwhile
READ_ALL = 'find "$MOUNT_POINT" -type f -exec cat {} + >/dev/null'  # the use of a filesystem that refuses writes


class Memory:
    name = "memory"
    needs = ("build",)
    timeout_s = 240.0

    def run(self, subject: FilesystemUnderTest) -> Verdict:
        churn = subject.fsops("churn", "$MOUNT_POINT", CHURN_ROUNDS)
        if not subject.has_module:
            return self._builtin(subject, subject.on_fs(churn))
        refusal = subject.write_refusal()
        verdict = MemoryLeak().run(subject.with_workload(subject.on_fs(READ_ALL if refusal else churn)))
        busy = [line for line in subject.guest.log_since(subject.guest.last_marker) if BUSY_INODES in line]
        if busy and verdict.status is not Status.FAILED:
            return Verdict.failed(busy[0].split("] ")[-1].strip(), busy, True, **verdict.metrics)
        if verdict.status is Status.PASSED:
            used = (f"its files read ({subject.fs_type} refused to create one: {refusal})" if refusal
                    else f"{CHURN_ROUNDS} rounds of file churn")  # fmt: skip
            return replace(verdict, message=f"{used}, umount, rmmod: {verdict.message}")
        return verdict

    def _builtin(self, subject: FilesystemUnderTest, workload: str) -> Verdict:
        cache = subject.profile.inode_cache
        if cache is None:
            return Verdict.skipped(
                f"no inode cache known for {subject.fs_type} (toolkit/domains/filesystem/subject.py)"
            )
        count = subject.script("slab.sh", CACHES=cache)
        before = int(subject.step("inode objects before", count, 60).values().get(cache, "0"))
        step = subject.step(f"{CHURN_ROUNDS} rounds of file churn", workload, self.timeout_s)
        churn = subject.reports(step)
        after = int(subject.step("inode objects after", count, 60).values().get(cache, "0"))
        metrics: dict[str, Any] = {"cache": cache, "objects_before": before, "objects_after": after,
                                   "churn_failures": churn.get("failures"),
                                   "key_metric": f"{after - before:+d} {cache}"}  # fmt: skip
        if churn.get("failures"):
            return Verdict.failed(f"file churn failed: {churn.get('failed')}", step.log, **metrics)
        if after - before > OBJECT_SLACK:
            return Verdict.failed(f"{cache} kept {after - before} more objects after umount", step.log, **metrics)
        return Verdict.passed(f"{CHURN_ROUNDS} rounds of file churn, umount: {cache} {after - before:+d} objects "
                              f"({before} -> {after})", **metrics)  # fmt: skip
