"""Reports of a run: the terminal table (also summary.txt), JUnit XML, JSON and CSV."""

from __future__ import annotations

import csv
import datetime
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from html import escape

from toolkit.results.records import (
    FAILING,
    FIXED,
    RunRecord,
    RunState,
    Status,
    SubjectResults,
    Subtest,
    TestRecord,
    verdict_word,
)
from toolkit.results.trend import PastRun, history, row_key
from toolkit.text_tables import table as text_table

MESSAGE_WIDTH = 70
SUBTEST_WIDTH = 40
SYMBOL = {Status.PASSED: "PASS", Status.FAILED: "FAIL", Status.ERROR: "ERROR", Status.FLAKY: "FLAKY",
          Status.SKIPPED: "SKIP", Status.KNOWN: "KNOWN"}  # fmt: skip
FIXED_SYMBOL = "FIXED?"
RED = (Status.FAILED, Status.ERROR)


def symbol(test: TestRecord) -> str:
    """A test's verdict as tables show it: its status, FIXED? for a known failure that passed."""
    return FIXED_SYMBOL if test.fixed else SYMBOL[test.status]


def _short(text: str, width: int = MESSAGE_WIDTH) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def shown_log(test: TestRecord) -> tuple[str, ...]:
    """The kernel log a report shows: the copy with places in the module's source, when there is one (it keeps
    every raw line's text), else the raw lines."""
    return test.kernel_log_symbolized or test.kernel_log


def red_subtests(test: TestRecord) -> list[Subtest]:
    """The subtests a report shows one by one: those that failed or did not run, known failures among them."""
    return [subtest for subtest in test.subtests if subtest.status in (*RED, Status.KNOWN)]


def subtests_counted(test: TestRecord) -> str:
    """The other subtests, counted: `13 passed, 1 skipped` ("" when there are none)."""
    counts = test.subtest_counts()
    return ", ".join(f"{counts[s.value]} {s.value}" for s in (Status.PASSED, Status.SKIPPED) if counts[s.value])


def subject_heading(record: RunRecord) -> str:
    """What the subject column is called: its kind ("module"), or the kinds when domains differ."""
    return "/".join(sorted({run.subject.kind for run in record.runs})) or "subject"


def several_domains(*records: RunRecord) -> bool:
    """Whether the runs of these records come from more than one domain (then rows name their domain)."""
    return len({run.domain for record in records for run in record.runs}) > 1


def row_label(run: SubjectResults, by_domain: bool) -> str:
    """A run's subject as its row names it: `domain/subject` when the runs come from several domains."""
    return f"{run.domain}/{run.subject.name}" if by_domain else run.subject.name


def table(record: RunRecord) -> str:
    """One row per test: kernel, subject, test, status, duration, key metric, message; below a test with red
    subtests, a row for each of them and one counting the others; then the known failures, then totals."""
    rows = []
    by_domain = several_domains(record)
    for run in record.runs:
        for test in run.tests:
            rows.append(
                [
                    run.kernel_line,
                    row_label(run, by_domain),
                    test.name,
                    symbol(test),
                    f"{test.duration_s:.1f}s",
                    str(test.metrics.get("key_metric", "")),
                    _short(test.message),
                ]
            )
            red = red_subtests(test)
            for subtest in red:
                rows.append(["", "", f"  ↳ {_short(subtest.name, SUBTEST_WIDTH)}", SYMBOL[subtest.status], "", "",
                             _short(subtest.message)])  # fmt: skip
            if red and subtests_counted(test):
                rows.append(["", "", f"  ↳ {subtests_counted(test)}", "", "", "", ""])
    body = text_table(rows, ["kernel", subject_heading(record), "test", "status", "duration", "key metric", "message"])
    known = f"{known_failures(record)}\n\n" if known_failures(record) else ""
    return f"{body}\n\n{known}{totals(record)} (run {record.run_id}, {standing(record)})"


def totals(record: RunRecord) -> str:
    """How many tests ended in each status (known failures and those of them fixed? when there are any), and how
    many distinct kernel reports turned them red (when any did)."""
    counts = record.summary()
    fixed = record.fixed_tests()
    said = ", ".join(
        f"{counts[s.value]} {s.value}" + (f" ({fixed} {FIXED})" if s is Status.PASSED and fixed else "")
        for s in (Status.PASSED, Status.FAILED, Status.ERROR, Status.SKIPPED, Status.FLAKY, Status.KNOWN)
        if s not in (Status.FLAKY, Status.KNOWN) or counts[s.value]
    )
    reports = record.distinct_reports()
    return f"{said}; {reports} distinct kernel report{'s' if reports != 1 else ''}" if reports else said


STANDING = {
    RunState.RUNNING: "still running: no verdict yet",
    RunState.FINISHED: "finished",
    RunState.INTERRUPTED: "interrupted by a signal: the tests it did not reach are errors",
    RunState.ABANDONED: "abandoned: its process ended without finishing it (killed, or its machine lost); "
    "the tests it did not reach are errors",
}


def standing(record: RunRecord) -> str:
    """Where the run stands, and how many of its planned tests have a result."""
    have = sum(len(run.tests) for run in record.runs)
    planned = record.planned_tests()
    return f"{STANDING[record.state]}; {have} of {planned} planned tests" if planned else STANDING[record.state]


def _utc(moment: str) -> str:
    """An ISO 8601 time as JUnit's timestamp wants it (UTC, no offset); unchanged when it is no such time."""
    try:
        parsed = datetime.datetime.fromisoformat(moment)
    except ValueError:
        return moment
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.timezone.utc)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S")


def suite_properties(run: SubjectResults) -> dict[str, str]:
    """What a JUnit suite says about where it ran (its <properties>)."""
    return {"kernel": run.kernel, "kernel_line": run.kernel_line, "kernel_package": run.kernel_package,
            "accelerator": run.accel, "provider": run.provider, "debug_tier": run.debug, "domain": run.domain,
            "subject": run.subject.name, "subject_source": run.subject.source}  # fmt: skip


def _outcome(case: ET.Element, status: Status, message: str, details: str) -> None:
    """A JUnit testcase's failure, error or skipped element (none when it passed); a flaky test is a failure whose
    message says flaky, as it fails the run; a known failure is skipped."""
    kind = {Status.FAILED: "failure", Status.ERROR: "error", Status.FLAKY: "failure", Status.SKIPPED: "skipped",
            Status.KNOWN: "skipped"}.get(status)  # fmt: skip
    if kind == "skipped":
        ET.SubElement(case, kind, message=_short(message, 200))
    elif kind:
        ET.SubElement(case, kind, message=_short(message, 200)).text = details


def _reruns(case: ET.Element, test: TestRecord) -> None:
    """A retried test's red attempts after its first, as Maven Surefire writes re-runs (rerunFailure, rerunError:
    readers that know them list the attempts, others pass over them)."""
    attempts = test.metrics.get("retry", {})
    statuses, messages = attempts.get("statuses", [])[1:], attempts.get("messages", [])[1:]
    for status, message in zip(statuses, messages, strict=False):
        kind = {Status.FAILED.value: "rerunFailure", Status.ERROR.value: "rerunError"}.get(status)
        if kind:
            ET.SubElement(case, kind, message=_short(message, 200))


def junit(record: RunRecord) -> str:
    """JUnit XML: one testsuite per kernel line and module (when, where, on what), one testcase per test, and one
    per subtest after it (named `test/subtest`); a known failure is skipped, its message `known: <reason>: ...`."""
    suites = ET.Element("testsuites", name=f"vexfs-vmtest {record.run_id}")
    for run in record.runs:
        statuses = [status for t in run.tests for status in (t.status, *(sub.status for sub in t.subtests))]
        counts = {s: statuses.count(s) for s in Status}
        began = next((t.started for t in run.tests if t.started), record.started)
        suite = ET.SubElement(
            suites, "testsuite", name=f"{run.domain}.{run.kernel_line}.{run.subject.name}",
            tests=str(len(statuses)), failures=str(counts[Status.FAILED] + counts[Status.FLAKY]),
            errors=str(counts[Status.ERROR]), skipped=str(counts[Status.SKIPPED] + counts[Status.KNOWN]),
            time=f"{sum(t.duration_s for t in run.tests):.3f}",
            timestamp=_utc(began), hostname=str(record.host.get("hostname", "")),
        )  # fmt: skip
        properties = ET.SubElement(suite, "properties")
        for key, value in suite_properties(run).items():
            ET.SubElement(properties, "property", name=key, value=value)
        classname = f"{run.domain}.{run.kernel_line}.{run.subject.name}"
        for test in run.tests:
            case = ET.SubElement(suite, "testcase", classname=classname, name=test.name, time=f"{test.duration_s:.3f}")
            _outcome(case, test.status, test.message, "\n".join(shown_log(test)))
            _reruns(case, test)
            ET.SubElement(case, "system-out").text = json.dumps(test.metrics, sort_keys=True)
            for subtest in test.subtests:
                part = ET.SubElement(suite, "testcase", classname=classname, name=f"{test.name}/{subtest.name}",
                                     time="0.000")  # fmt: skip
                _outcome(part, subtest.status, subtest.message or subtest.status.value, subtest.message)
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
        statuses = {test.name: symbol(test) for test in run.tests}
        label = row_label(run, by_domain)
        body.append([run.kernel_line, run.kernel or "-", label, *(statuses.get(name, "") for name in tests)])
    return text_table(body, ["kernel", "release", subject_heading(record), *tests])


def known_failures(record: RunRecord) -> str:
    """Each test a known-failure entry covers, one line each with the entry's reason (a fixed? one: its entry may
    go); "" when there is none."""
    lines = [f"{run.kernel_line} {run.subject.name} {test.name}: {verdict_word(test)} ({test.known_failure})"
             + (": its entry may go" if test.fixed else "")
             for run in record.runs for test in run.tests if test.known_failure]  # fmt: skip
    return "\n".join(["known failures:", *(f"  {line}" for line in lines)]) if lines else ""


# Cell colours: white bold text on each keeps WCAG AA contrast (>= 4.5:1).
COLOURS = {Status.PASSED.value: "#2e7d32", Status.FAILED.value: "#c62828", Status.ERROR.value: "#a84300",
           Status.FLAKY.value: "#ad1457", Status.SKIPPED.value: "#616161", Status.KNOWN.value: "#6a1b9a",
           "fixed": "#00695c"}  # fmt: skip
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1em auto;padding:0 1em;max-width:110em;color:#1a1a1a;"
    "background:#fff;line-height:1.4}a{color:#0b57d0}.scroll{overflow-x:auto;margin-bottom:1em}"
    "table{border-collapse:collapse}td,th{border:1px solid #8a8a8a;padding:.4em .6em;vertical-align:top}"
    ".matrix td{text-align:center;color:#fff;font-weight:bold;white-space:nowrap}.matrix td a{color:#fff}"
    ".matrix td.logs{color:inherit;font-weight:normal;text-align:left}.matrix td.logs a{color:#0b57d0}"
    + "".join(f".{name}{{background:{colour}}}" for name, colour in COLOURS.items())
    + ".tests td.message{white-space:pre-wrap;overflow-wrap:anywhere;min-width:20em}"
    ".subtests{margin:.3em 0 0;padding-left:1.2em;white-space:normal}.subtests li{white-space:pre-wrap}"
    ".tests .status{font-weight:bold}.known-failures .status{color:#fff}pre{background:#f4f4f4;padding:1em;overflow:auto;font-size:85%}"
    "@media (max-width:40em){body{padding:0 .5em}td,th{padding:.3em .4em}.tests td.message{min-width:14em}}"
)


def run_files(run: SubjectResults) -> dict[str, str]:
    """The logs a run folder keeps for a kernel line, relative to that folder."""
    return {"build log": f"{run.kernel_line}/build.log", "console": f"{run.kernel_line}/vm/console.log",
            "commands": f"{run.kernel_line}/vm/commands.log"}  # fmt: skip


def _subtests(test: TestRecord) -> str:
    """A test's red subtests as a list, each with its message, and the others counted ("" when it has none)."""
    items = "".join(f"<li><b>{SYMBOL[sub.status]}</b> {escape(sub.name)}"
                    + (f": {escape(sub.message)}" if sub.message else "") + "</li>"
                    for sub in red_subtests(test))  # fmt: skip
    counted = subtests_counted(test)
    more = f"<li>{'and ' if items else ''}{escape(counted)}</li>" if counted else ""
    return f"<ul class='subtests'>{items}{more}</ul>" if items or more else ""


def _anchor(run: SubjectResults, row_name: str, test: str) -> str:
    return f"{run.kernel_line}-{row_name.replace('/', '-')}-{test}"


def _surfaces(record: RunRecord) -> str:
    """What each subject exposed when it loaded (kind, path, mode), for the runs whose tests found it."""
    found = [run for run in record.runs if run.surface]
    if not found:
        return ""
    parts = ["<h2>What each subject exposed</h2>"]
    for run in found:
        rows = "".join(f"<tr><td>{escape(e.kind)}</td><td>{escape(e.path)}</td><td><code>{escape(e.mode)}</code></td></tr>"
                       for e in run.surface)  # fmt: skip
        parts.append(
            f"<h3>{escape(run.kernel_line)} {escape(run.subject.name)}</h3><div class='scroll'><table class='tests'>"
            f"<thead><tr><th scope='col'>kind</th><th scope='col'>path</th><th scope='col'>mode</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div>"
        )
    return "".join(parts)


def _cell_class(test: TestRecord) -> str:
    return "fixed" if test.fixed else test.status.value


def _known_failures(record: RunRecord) -> str:
    """Every test a known-failure entry covers: known (red as expected) or fixed? (passed: its entry may go), with
    the entry's reason; "" when none is."""
    rows = "".join(
        f"<tr><td>{escape(run.kernel_line)}</td><td>{escape(run.subject.name)}</td><td>{escape(test.name)}</td>"
        f'<td class="{_cell_class(test)} status">{symbol(test)}</td><td>{escape(test.known_failure)}</td></tr>'
        for run in record.runs for test in run.tests if test.known_failure
    )  # fmt: skip
    if not rows:
        return ""
    return (
        "<h2>Known failures</h2><div class='scroll'><table class='tests known-failures'><thead><tr><th scope='col'>kernel</th>"
        "<th scope='col'>subject</th><th scope='col'>test</th><th scope='col'>verdict</th><th scope='col'>reason</th>"
        f"</tr></thead><tbody>{rows}</tbody></table></div>"
    )


def _trend_cell(test: TestRecord | None) -> str:
    if test is None:
        return "<td class='logs'>-</td>"
    title = escape(_short(test.message))
    duration = f"<br><small>{test.duration_s:.1f}&nbsp;s</small>"
    return f'<td class="{_cell_class(test)}" title="{title}">{symbol(test)}{duration}</td>'


def _trend(record: RunRecord, earlier: Sequence[RunRecord]) -> str:
    """Each row's tests in this run and the earlier runs of the same subject and kernel line, newest first, with
    how often each test passed in them ("" when no earlier run has any of its rows)."""
    rows = history(record, earlier)
    parts = []
    by_domain = several_domains(record)
    for run in record.runs:
        past: list[PastRun] = rows.get(row_key(run), [])
        if not past:
            continue
        names = [test.name for test in run.tests]
        head = "".join(f"<th scope='col'>{escape(name)}</th>" for name in names)
        now = {test.name: test for test in run.tests}
        body = [f"<tr><th scope='row'>this run</th>{''.join(_trend_cell(now[name]) for name in names)}</tr>"]
        body += [f'<tr><th scope="row"><a href="../{escape(old.run_id)}/report.html">{escape(old.run_id)}</a></th>'
                 f"{''.join(_trend_cell(old.tests.get(name)) for name in names)}</tr>" for old in past]  # fmt: skip
        rates = "".join(f"<td class='logs'>{_pass_rate(name, past)}</td>" for name in names)
        parts.append(
            f"<h3>{escape(run.kernel_line)} {escape(row_label(run, by_domain))}</h3><div class='scroll'>"
            f"<table class='matrix'><thead><tr><th scope='col'>run</th>{head}</tr></thead><tbody>{''.join(body)}"
            f"</tbody><tfoot><tr><th scope='row'>earlier runs</th>{rates}</tr></tfoot></table></div>"
        )
    if not parts:
        return ""
    return ("<h2>Trend</h2><p>The same subject on the same kernel line in the earlier runs of this results "
            "folder, newest first.</p>" + "".join(parts))  # fmt: skip


def _pass_rate(name: str, past: Sequence[PastRun]) -> str:
    """How often a test passed in the earlier runs that gave it a verdict: `passed 8/10`."""
    ran = [old.tests[name] for old in past if name in old.tests and old.tests[name].status is not Status.SKIPPED]
    return f"passed {sum(test.status is Status.PASSED for test in ran)}/{len(ran)}" if ran else "-"


def html(record: RunRecord, exists: Callable[[str], bool] | None = None, earlier: Sequence[RunRecord] = ()) -> str:
    """A self-contained page for a phone or a wide screen: the kernel x test heatmap (each cell linked to its
    test, a red one to its kernel log), each row's trend over the earlier runs given, every test with its
    message, links to each line's logs.

    exists tells which of the run folder's logs are there (None: link them all).
    """
    _, tests = _lines_and_tests(record)
    cells, rows, details = [], [], []
    by_domain = several_domains(record)
    for run in record.runs:
        by_name = {test.name: test for test in run.tests}
        row_name = row_label(run, by_domain)
        line = f"<th scope='row'>{escape(run.kernel_line)}<br><small>{escape(run.kernel)}</small></th>"
        logs = [f'<a href="{escape(path)}">{label}</a>' for label, path in run_files(run).items()
                if exists is None or exists(path)]  # fmt: skip
        row = [f"{line}<th>{escape(row_name)}</th>"]
        for name in tests:
            test = by_name.get(name)
            if test is None:
                row.append("<td></td>")
                continue
            anchor = _anchor(run, row_name, name)
            target = anchor if test.status in FAILING else f"test-{anchor}"
            title = escape(f"{_short(test.message)} ({test.duration_s:.1f} s)")
            row.append(f'<td class="{_cell_class(test)}" title="{title}"><a href="#{escape(target)}">'
                       f"{symbol(test)}</a></td>")  # fmt: skip
            rows.append(
                f'<tr id="test-{escape(anchor)}"><td>{escape(run.kernel_line)}</td><td>{escape(row_name)}</td>'
                f'<td>{escape(name)}</td><td class="status">{symbol(test)}</td>'
                f'<td>{test.duration_s:.1f}&nbsp;s</td><td class="message">{escape(test.message)}'
                f"{_subtests(test)}</td></tr>"
            )
            if test.status in FAILING:
                log = "\n".join(shown_log(test)) or "(no kernel log lines)"
                details.append(
                    f'<h3 id="{escape(anchor)}">{escape(run.kernel_line)} {escape(row_name)} {escape(name)}: '
                    f"{test.status.value}</h3><p>{escape(test.message)}</p>{_subtests(test)}<pre>{escape(log)}</pre>"
                    f"<p>{' · '.join(logs)}</p>"
                )
        row.append(f"<td class='logs'>{'<br>'.join(logs)}</td>")
        cells.append("<tr>" + "".join(row) + "</tr>")
    head = "".join(f"<th scope='col'>{escape(name)}</th>" for name in tests)
    subject = escape(subject_heading(record))
    state = "" if record.state is RunState.FINISHED else f" ({record.state.value})"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>vexfs-vmtest {escape(record.run_id)}</title><style>{STYLE}</style></head><body><main>"
        f"<h1>Run {escape(record.run_id)}{state}</h1>"
        f"<p class='standing'>{escape(standing(record))}</p>"
        f"<p>{escape(totals(record))}; started {escape(record.started)}, finished {escape(record.finished)} on "
        f"{escape(str(record.host.get('hostname', '?')))}</p>"
        f"<h2>Kernel × test</h2><div class='scroll'><table class='matrix'><thead><tr><th scope='col'>kernel</th>"
        f"<th scope='col'>{subject}</th>{head}<th scope='col'>logs</th></tr></thead><tbody>{''.join(cells)}</tbody>"
        f"</table></div>{_trend(record, earlier)}{_surfaces(record)}<h2>Failures</h2>"
        f"{''.join(details) or '<p>none</p>'}{_known_failures(record)}"
        "<h2>Every test</h2><div class='scroll'><table class='tests'><thead><tr><th scope='col'>kernel</th>"
        f"<th scope='col'>{subject}</th><th scope='col'>test</th><th scope='col'>status</th>"
        f"<th scope='col'>duration</th><th scope='col'>message</th></tr></thead><tbody>{''.join(rows)}</tbody>"
        "</table></div></main></body></html>\n"
    )


def overview(record: RunRecord) -> dict[str, object]:
    """What `results.show --json` prints: the run, its totals and, per kernel line and subject, each test's status."""
    return {
        "run_id": record.run_id, "started": record.started, "finished": record.finished,
        "interrupted": record.interrupted, "state": record.state.value, "planned": record.planned_tests(),
        "summary": record.summary(), "exit_status": record.exit_status(),
        "rows": [{"kernel_line": run.kernel_line, "kernel": run.kernel, "domain": run.domain,
                  "subject": run.subject.name, "tests": {test.name: test.status.value for test in run.tests}}
                 for run in record.runs],
    }  # fmt: skip


def outcome(test: TestRecord) -> str:
    """A test's verdict as runs are compared (its status, or fixed?): with the title of the kernel report it is
    charged with, if any (`failed (KASAN: slab-use-after-free Write in mydev_open)`)."""
    word = verdict_word(test)
    return f"{word} ({test.report_titles[0]})" if test.report_titles else word


def diff(before: RunRecord, after: RunRecord) -> list[list[str]]:
    """Rows (kernel, subject, test, before, after) for every test whose outcome changed, appeared or went: its
    status, or the kernel report it is charged with."""

    by_domain = several_domains(before, after)

    def statuses(record: RunRecord) -> dict[tuple[str, str, str], str]:
        return {
            (run.kernel_line, row_label(run, by_domain), test.name): outcome(test)
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
    return text_table(rows, ["kernel", subject_heading(after), "test", before.run_id, after.run_id])


FORMATS = {
    "json": as_json,
    "junit": junit,
    "csv": as_csv,
    "table": lambda record: table(record) + "\n",
    "html": html,
}
