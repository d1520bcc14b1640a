"""Reports of a run: the terminal table (also summary.txt), JUnit XML, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from html import escape

from tabulate import tabulate

from toolkit.results.records import DomainRun, RunRecord, Status

MESSAGE_WIDTH = 70
SYMBOL = {Status.PASSED: "PASS", Status.FAILED: "FAIL", Status.ERROR: "ERROR", Status.SKIPPED: "SKIP"}


def _short(text: str, width: int = MESSAGE_WIDTH) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def subject_heading(record: RunRecord) -> str:
    """What the subject column is called: its kind ("module"), or the kinds when domains differ."""
    return "/".join(sorted({run.subject.kind for run in record.runs})) or "subject"


def several_domains(*records: RunRecord) -> bool:
    """Whether the runs of these records come from more than one domain (then rows name their domain)."""
    return len({run.domain for record in records for run in record.runs}) > 1


def row_label(run: DomainRun, by_domain: bool) -> str:
    """A run's subject as its row names it: `domain/subject` when the runs come from several domains."""
    return f"{run.domain}/{run.subject.name}" if by_domain else run.subject.name


def table(record: RunRecord) -> str:
    """One row per test: kernel, subject, test, status, duration, key metric, message; then totals."""
    rows = []
    by_domain = several_domains(record)
    for run in record.runs:
        for test in run.tests:
            rows.append(
                [
                    run.kernel_line,
                    row_label(run, by_domain),
                    test.name,
                    SYMBOL[test.status],
                    f"{test.duration_s:.1f}s",
                    str(test.metrics.get("key_metric", "")),
                    _short(test.message),
                ]
            )
    body = tabulate(
        rows,
        headers=["kernel", subject_heading(record), "test", "status", "duration", "key metric", "message"],
        disable_numparse=True,
    )
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
            suites, "testsuite", name=f"{run.domain}.{run.kernel_line}.{run.subject.name}",
            tests=str(len(run.tests)), failures=str(counts[Status.FAILED]), errors=str(counts[Status.ERROR]),
            skipped=str(counts[Status.SKIPPED]), time=f"{sum(t.duration_s for t in run.tests):.3f}",
        )  # fmt: skip
        for test in run.tests:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"{run.domain}.{run.kernel_line}.{run.subject.name}",
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
    writer.writerow(["run_id", "kernel", "kernel_line", "subject", "domain", "test", "status", "duration_s", "message"])
    for run in record.runs:
        for test in run.tests:
            writer.writerow(
                [
                    record.run_id,
                    run.kernel,
                    run.kernel_line,
                    run.subject.name,
                    run.domain,
                    test.name,
                    test.status.value,
                    f"{test.duration_s:.3f}",
                    test.message,
                ]
            )
    return out.getvalue()


def _lines_and_tests(record: RunRecord) -> tuple[list[tuple[str, str]], list[str]]:
    rows = [(run.kernel_line, run.subject.name) for run in record.runs]
    tests: list[str] = []
    for run in record.runs:
        tests.extend(test.name for test in run.tests if test.name not in tests)
    return rows, tests


def matrix(record: RunRecord) -> str:
    """Kernel x test: one row per kernel line, domain and subject, one column per test."""
    rows, tests = _lines_and_tests(record)
    body = []
    by_domain = several_domains(record)
    for run in record.runs:
        statuses = {test.name: SYMBOL[test.status] for test in run.tests}
        label = row_label(run, by_domain)
        body.append([run.kernel_line, run.kernel or "-", label, *(statuses.get(name, "") for name in tests)])
    return tabulate(body, headers=["kernel", "release", subject_heading(record), *tests], disable_numparse=True)


COLOURS = {Status.PASSED: "#2e7d32", Status.FAILED: "#c62828", Status.ERROR: "#ef6c00", Status.SKIPPED: "#9e9e9e"}


def html(record: RunRecord) -> str:
    """A self-contained page: the kernel x test heatmap, each red cell linked to its kernel log."""
    _, tests = _lines_and_tests(record)
    cells, details = [], []
    by_domain = several_domains(record)
    for run in record.runs:
        by_name = {test.name: test for test in run.tests}
        row_name = row_label(run, by_domain)
        row = [f"<th>{escape(run.kernel_line)}<br><small>{escape(run.kernel)}</small></th><th>{escape(row_name)}</th>"]
        for name in tests:
            test = by_name.get(name)
            if test is None:
                row.append("<td></td>")
                continue
            anchor = f"{run.kernel_line}-{row_name.replace('/', '-')}-{name}"
            label = SYMBOL[test.status]
            if test.status in (Status.FAILED, Status.ERROR):
                label = f'<a href="#{escape(anchor)}">{label}</a>'
                log = "\n".join(test.kernel_log) or "(no kernel log lines)"
                console = f"{run.kernel_line}/vm/console.log"
                details.append(
                    f'<h3 id="{escape(anchor)}">{escape(run.kernel_line)} {escape(row_name)} {escape(name)}: '
                    f"{test.status.value}</h3><p>{escape(test.message)}</p><pre>{escape(log)}</pre>"
                    f'<p><a href="{escape(console)}">console log</a></p>'
                )
            title = escape(f"{test.message} ({test.duration_s:.1f} s)")
            row.append(f'<td style="background:{COLOURS[test.status]}" title="{title}">{label}</td>')
        cells.append("<tr>" + "".join(row) + "</tr>")
    counts = record.summary()
    head = "".join(f"<th>{escape(name)}</th>" for name in tests)
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
             "padding:.4em .7em;text-align:center}td{color:#fff;font-weight:bold}td a{color:#fff}pre{background:#f4f4f4;"
             "padding:1em;overflow:auto;font-size:85%}")  # fmt: skip
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>vexfs-vmtest {escape(record.run_id)}</title>"
        f"<style>{style}</style></head><body><h1>Run {escape(record.run_id)}</h1>"
        f"<p>{counts['passed']} passed, {counts['failed']} failed, {counts['error']} error, {counts['skipped']} skipped; "
        f"started {escape(record.started)}, finished {escape(record.finished)}</p>"
        f"<table><tr><th>kernel</th><th>{escape(subject_heading(record))}</th>{head}</tr>{''.join(cells)}</table>"
        f"<h2>Failures</h2>{''.join(details) or '<p>none</p>'}</body></html>\n"
    )


def diff(before: RunRecord, after: RunRecord) -> list[list[str]]:
    """Rows (kernel, subject, test, before, after) for every test whose status changed, appeared or went."""

    by_domain = several_domains(before, after)

    def statuses(record: RunRecord) -> dict[tuple[str, str, str], str]:
        return {
            (run.kernel_line, row_label(run, by_domain), test.name): test.status.value
            for run in record.runs
            for test in run.tests
        }

    old, new = statuses(before), statuses(after)
    keys = sorted(set(old) | set(new))
    return [[*key, old.get(key, "-"), new.get(key, "-")] for key in keys if old.get(key) != new.get(key)]


def diff_table(before: RunRecord, after: RunRecord) -> str:
    rows = diff(before, after)
    if not rows:
        return f"no changes between {before.run_id} and {after.run_id}"
    return tabulate(
        rows, headers=["kernel", subject_heading(after), "test", before.run_id, after.run_id], disable_numparse=True
    )


FORMATS = {
    "json": as_json,
    "junit": junit,
    "csv": as_csv,
    "table": lambda record: table(record) + "\n",
    "html": html,
}
