"""data_integrity: fio writes and verifies with crc32c (sequential and random, buffered and mmap, several jobs)."""

from __future__ import annotations

import json
from typing import Any

from toolkit.domains.base import Verdict
from toolkit.domains.filesystem.subject import GUEST_SCRIPTS, SCRIPTS, FilesystemUnderTest
from toolkit.domains.guest import SCRIPTS_DIR

JOB_FILE = SCRIPTS / "integrity.fio"
SIZE_PER_JOB = "2m"


def fio_report(stdout: str) -> dict[str, Any]:
    """fio's JSON report (whatever it printed before it left out), or {} when there is none."""
    start = stdout.find("{\n")
    if start < 0:
        return {}
    try:
        found: dict[str, Any] = json.loads(stdout[start:])
    except json.JSONDecodeError:
        return {}
    return found


class DataIntegrity:
    name = "data_integrity"
    needs = ("build",)
    timeout_s = 420.0

    def run(self, subject: FilesystemUnderTest) -> Verdict:
        skipped = subject.unwritable(self.name)
        if skipped:
            return skipped
        fio = f"fio --output-format=json {SCRIPTS_DIR}/{GUEST_SCRIPTS}/{JOB_FILE.name}"
        command = subject.on_fs(f'cd "$MOUNT_POINT" && FIO_DIR="$MOUNT_POINT" {fio}', FIO_SIZE=SIZE_PER_JOB)
        step = subject.step("fio write and verify", command, self.timeout_s)
        jobs = fio_report(step.result.stdout).get("jobs", [])
        written = sum(job.get("write", {}).get("io_bytes", 0) for job in jobs)
        verified = sum(job.get("read", {}).get("io_bytes", 0) for job in jobs)
        bad = [job for job in jobs if job.get("error")]
        errors = list(dict.fromkeys(f"{job.get('jobname')}: error {job.get('error')}" for job in bad))
        metrics: dict[str, Any] = {
            "jobs": len(jobs), "written_bytes": written, "verified_bytes": verified,
            "key_metric": f"{len(bad)} of {len(jobs)} jobs bad" if bad else f"{len(jobs)} jobs, {written / 2**20:.0f} MiB",
        }  # fmt: skip
        complaints = [line.strip() for line in step.result.stderr.splitlines() if "verify" in line or "bad" in line]
        if errors or complaints or not step.ok:
            what = "; ".join(errors) or f"fio exited {step.result.exit_status}"
            first = complaints[0] if complaints else step.result.stderr.strip()[-200:]
            return Verdict.failed(f"fio found bad data: {what}" + (f": {first}" if first else ""), step.log,
                                  fio_errors=complaints[:20], **metrics)  # fmt: skip
        if not jobs or verified < written:
            return Verdict.failed(f"fio verified {verified} of {written} bytes written", step.log, **metrics)
        return Verdict.passed(
            f"{len(jobs)} fio jobs (sequential and random, psync and mmap) wrote {written / 2**20:.0f} MiB, "
            "every block read back with its crc32c",
            **metrics,
        )
