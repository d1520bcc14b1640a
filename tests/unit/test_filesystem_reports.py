"""Runs of two domains on one subject name: every report keeps a row per domain."""

from __future__ import annotations

from toolkit.results import reports
from toolkit.results.records import RunRecord, Status, SubjectInfo, SubjectResults, TestRecord


def run_of(domain: str, kind: str, tests: dict[str, Status], line: str = "6.1") -> SubjectResults:
    records = tuple(TestRecord(name, status, 1.0, f"{name} {status.value}") for name, status in tests.items())
    return SubjectResults(
        "6.1.0-50-amd64", line, "qemu", "tcg", SubjectInfo(kind, "vexfs", "kernel/vexfs"), domain, records
    )


def record_of(*runs: SubjectResults) -> RunRecord:
    return RunRecord("r1", "2026-01-01T00:00:00+00:00", "2026-01-01T00:10:00+00:00", "0", {}, runs)


BOTH = record_of(
    run_of("filesystem", "filesystem", {"build": Status.PASSED, "posix_ops": Status.FAILED}),
    run_of("kernel_module", "module", {"build": Status.PASSED, "load": Status.PASSED}),
)


def test_the_matrix_has_a_row_per_domain_named_by_it() -> None:
    rows = reports.matrix(BOTH).splitlines()
    assert rows[0].split() == ["kernel", "release", "filesystem/module", "build", "posix_ops", "load"]
    assert rows[2].split() == ["6.1", "6.1.0-50-amd64", "filesystem/vexfs", "PASS", "FAIL"]
    assert rows[3].split() == ["6.1", "6.1.0-50-amd64", "kernel_module/vexfs", "PASS", "PASS"]


def test_one_domain_keeps_the_plain_subject_name() -> None:
    only = record_of(run_of("filesystem", "filesystem", {"build": Status.PASSED}))
    assert reports.matrix(only).splitlines()[2].split()[2] == "vexfs"
    assert "filesystem/vexfs" not in reports.table(only)


def test_the_table_html_and_diff_tell_the_domains_apart() -> None:
    assert "kernel_module/vexfs" in reports.table(BOTH) and "filesystem/vexfs" in reports.table(BOTH)
    page = reports.html(BOTH)
    assert 'href="#6.1-filesystem-vexfs-posix_ops"' in page and "<th>kernel_module/vexfs</th>" in page
    later = record_of(
        run_of("filesystem", "filesystem", {"build": Status.PASSED, "posix_ops": Status.PASSED}),
        run_of("kernel_module", "module", {"build": Status.PASSED, "load": Status.FAILED}),
    )
    assert reports.diff(BOTH, later) == [
        ["6.1", "filesystem/vexfs", "posix_ops", "failed", "passed"],
        ["6.1", "kernel_module/vexfs", "load", "passed", "failed"],
    ]
