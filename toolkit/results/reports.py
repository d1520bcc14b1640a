"""Reports of a run: the terminal table (also summary.txt), JUnit XML, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

from tabulate import tabulate

from toolkit.results.records import RunRecord, Status

MESSAGE_WIDTH = 70
SYMBOL = {Status.PASSED: "PASS", Status.FAILED: "FAIL", Status.ERROR: "ERROR", Status.SKIPPED: "SKIP"}


def _short(text: str, width: int = MESSAGE_WIDTH) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def table(record: RunRecord) -> str:
    """One row per test: kernel, module, test, status, duration, key metric, message; then totals."""
    rows = []
    for run in record.runs:
        for test in run.tests:
            rows.append(
                [
                    run.kernel_line,
                    run.module.name,
                    test.name,
                    SYMBOL[test.status],
                    f"{test.duration_s:.1f}s",
                    str(test.metrics.get("key_metric", "")),
                    _short(test.message),
                ]
            )
    body = tabulate(rows, headers=["kernel", "module", "test", "status", "duration", "key metric", "message"])
    counts = record.summary()
    totals = ", ".join(
        f"{counts[s.value]} {s.value}" for s in (Status.PASSED, Status.FAILED, Status.ERROR, Status.SKIPPED)
    )
    return f"{body}\n\n{totals} (run {record.run_id})"


def junit(record: RunRecord) -> str:
    """JUnit XML: one testsuite per kernel line and module, one testcase per test."""
    suites = ET.Element("testsuites", name=f"vexfs-vmtest {record.run_id}")
    for run in record.runs:
        counts = {s: sum(t.status is s for t in run.tests) for s in Status}
        suite = ET.SubElement(
            suites, "testsuite", name=f"{run.domain}.{run.kernel_line}.{run.module.name}",
            tests=str(len(run.tests)), failures=str(counts[Status.FAILED]), errors=str(counts[Status.ERROR]),
            skipped=str(counts[Status.SKIPPED]), time=f"{sum(t.duration_s for t in run.tests):.3f}",
        )  # fmt: skip
        for test in run.tests:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"{run.domain}.{run.kernel_line}.{run.module.name}",
                name=test.name,
                time=f"{test.duration_s:.3f}",
            )
            if test.status is Status.FAILED:
                ET.SubElement(case, "failure", message=_short(test.message, 200)).text = "\n".join(test.kernel_log)
            elif test.status is Status.ERROR:
                ET.SubElement(case, "error", message=_short(test.message, 200)).text = "\n".join(test.kernel_log)
            elif test.status is Status.SKIPPED:
                ET.SubElement(case, "skipped", message=_short(test.message, 200))
            ET.SubElement(case, "system-out").text = json.dumps(test.metrics, sort_keys=True)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def as_json(record: RunRecord) -> str:
    return json.dumps(record.to_dict(), indent=2) + "\n"


def as_csv(record: RunRecord) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["run_id", "kernel", "kernel_line", "module", "domain", "test", "status", "duration_s", "message"])
    for run in record.runs:
        for test in run.tests:
            writer.writerow(
                [
                    record.run_id,
                    run.kernel,
                    run.kernel_line,
                    run.module.name,
                    run.domain,
                    test.name,
                    test.status.value,
                    f"{test.duration_s:.3f}",
                    test.message,
                ]
            )
    return out.getvalue()


FORMATS = {"json": as_json, "junit": junit, "csv": as_csv, "table": lambda record: table(record) + "\n"}
