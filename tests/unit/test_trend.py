from dataclasses import replace
from pathlib import Path

from toolkit.results import reports, store
from toolkit.results.folder import ResultsFolder
from toolkit.results.records import RunRecord, Status, SubjectInfo, SubjectResults, TestRecord
from toolkit.results.trend import history


def _run(run_id: str, memory_leak: Status, line: str = "6.1", subject: str = "leaky") -> RunRecord:
    tests = (
        TestRecord("load", Status.PASSED, 1.25, "loaded"),
        TestRecord("memory_leak", memory_leak, 3.5, f"memory_leak {memory_leak.value}"),
    )
    run = SubjectResults("6.1.0-50-amd64", line, "qemu", "tcg", SubjectInfo("module", subject, "/src"),
                         "kernel_module", tests)  # fmt: skip
    moment = "2026-12-07T10:00:00+00:00"
    return RunRecord(run_id, moment, moment, "0.1.0", {"hostname": "h"}, (run,))


def test_a_row_is_followed_back_through_earlier_runs_of_the_same_line_and_subject_newest_first() -> None:
    now = _run("20261207-100000-aaaa", Status.PASSED)
    earlier = [
        _run("20261207-090000-bbbb", Status.FAILED),
        _run("20261207-080000-cccc", Status.PASSED, line="7.x"),
        _run("20261207-070000-dddd", Status.PASSED, subject="other"),
        _run("20261207-060000-eeee", Status.PASSED),
    ]
    rows = history(now, earlier, shown=5)
    assert list(rows) == [("6.1", "kernel_module", "leaky")]
    past = rows[("6.1", "kernel_module", "leaky")]
    assert [old.run_id for old in past] == ["20261207-090000-bbbb", "20261207-060000-eeee"]
    assert past[0].tests["memory_leak"].status is Status.FAILED


def test_a_row_shows_at_most_the_runs_asked_for() -> None:
    earlier = [_run(f"20261207-0{hour}0000-abcd", Status.PASSED) for hour in range(9, 0, -1)]
    rows = history(_run("20261207-100000-aaaa", Status.PASSED), earlier, shown=3)
    assert [old.run_id for old in rows[("6.1", "kernel_module", "leaky")]] == [
        "20261207-090000-abcd", "20261207-080000-abcd", "20261207-070000-abcd"]  # fmt: skip


def test_the_page_shows_each_earlier_run_linked_with_status_duration_and_the_pass_rate() -> None:
    now = _run("20261207-100000-aaaa", Status.FAILED)
    earlier = [_run("20261207-090000-bbbb", Status.PASSED), _run("20261207-080000-cccc", Status.FAILED)]
    page = reports.html(now, earlier=earlier)
    trend = page[page.index("<h2>Trend</h2>") : page.index("<h2>Failures</h2>")]
    assert '<a href="../20261207-090000-bbbb/report.html">20261207-090000-bbbb</a>' in trend
    assert '<td class="failed" title="memory_leak failed">FAIL<br><small>3.5&nbsp;s</small></td>' in trend
    assert "passed 1/2" in trend and "passed 2/2" in trend


def test_a_run_with_no_earlier_runs_of_its_rows_has_no_trend() -> None:
    page = reports.html(_run("20261207-100000-aaaa", Status.PASSED), earlier=[_run("2", Status.PASSED, line="7.x")])
    assert "Trend" not in page


def test_earlier_runs_are_read_newest_first_and_unreadable_folders_passed_over(tmp_path: Path) -> None:
    for run_id in ("20261207-080000-aaaa", "20261207-090000-bbbb", "20261207-110000-dddd"):
        store.write(tmp_path, _run(run_id, Status.PASSED))
    (tmp_path / "20261207-085000-cccc").mkdir()  # a run that recorded nothing
    found = store.earlier_runs(tmp_path, "20261207-100000-eeee")
    assert [record.run_id for record in found] == ["20261207-090000-bbbb", "20261207-080000-aaaa"]
    assert [r.run_id for r in store.earlier_runs(tmp_path, "20261207-100000-eeee", limit=1)] == ["20261207-090000-bbbb"]
    assert store.earlier_runs(tmp_path / "none", "20261207-100000-eeee") == []


def test_a_run_saves_its_report_with_the_trend_of_the_runs_before_it(tmp_path: Path) -> None:
    before = _run("20000101-000000-aaaa", Status.FAILED)
    store.write(tmp_path, before)
    run = _run("unused", Status.PASSED).runs[0]
    folder = ResultsFolder(tmp_path, ())
    folder.put(replace(run, tests=run.tests[:1]))
    folder.put(run)
    record = folder.close()
    page = (tmp_path / record.run_id / "report.html").read_text()
    assert "20000101-000000-aaaa/report.html" in page and "passed 0/1" in page
