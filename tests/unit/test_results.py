import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import junitparser
import pytest

from toolkit.errors import UserError
from toolkit.results import formats, reports, schema, store
from toolkit.results.records import RunRecord, Status, SubjectInfo, SubjectResults, Subtest, TestRecord, worst


def _record(run_id: str = "20261127-120000-abcd") -> RunRecord:
    tests = (
        TestRecord("build", Status.PASSED, 2.5, "built in the chroot", {"key_metric": "110 KiB, chroot"}),
        TestRecord(
            "memory_leak",
            Status.FAILED,
            2.0,
            "leaked 4 objects, 256 bytes",
            {"leaked_bytes": 256},
            ("kmalloc: call_site=0xffffffffc023a021 ptr=1",),
        ),
        TestRecord("concurrency", Status.SKIPPED, 0.0, "needs load to pass"),
        TestRecord("hang_detection", Status.ERROR, 1.0, "guest trouble: no SSH answer"),
    )
    run = SubjectResults(
        "6.1.0-50-amd64", "6.1", "qemu", "tcg", SubjectInfo("module", "leaky", "/src/leaky"), "kernel_module", tests
    )
    return RunRecord(
        run_id, "2026-11-27T12:00:00+00:00", "2026-11-27T12:01:00+00:00", "0.1.0", {"hostname": "h"}, (run,)
    )


def test_record_round_trips_through_the_result_contract() -> None:
    record = _record()
    data = json.loads(json.dumps(record.to_dict()))
    assert data["summary"] == {"passed": 1, "failed": 1, "error": 1, "flaky": 0, "skipped": 1, "known": 0}
    assert data["runs"][0]["tests"][1]["status"] == "failed"
    assert data["runs"][0]["subject"] == {"kind": "module", "name": "leaky", "source": "/src/leaky", "version": ""}
    assert data["runs"][0]["module"] == {"name": "leaky", "dir": "/src/leaky", "srcversion": ""}
    assert schema.problems(data) == []
    assert RunRecord.from_dict(data) == record


def test_exit_status_is_1_when_anything_failed_or_errored() -> None:
    assert _record().exit_status() == 1
    passing = RunRecord(
        "r",
        "s",
        "f",
        "v",
        {},
        (
            SubjectResults(
                "k",
                "6.1",
                "qemu",
                "tcg",
                SubjectInfo("module", "m", "d"),
                "kernel_module",
                (TestRecord("build", Status.PASSED, 1.0),),
            ),
        ),
    )
    assert passing.exit_status() == 0


def test_worst_status_orders_failed_before_error_before_skipped() -> None:
    assert worst([Status.PASSED, Status.SKIPPED, Status.ERROR]) is Status.ERROR
    assert worst([Status.ERROR, Status.FAILED]) is Status.FAILED
    assert worst([]) is Status.PASSED


def test_table_lists_every_test_with_status_and_key_metric() -> None:
    text = reports.table(_record())
    assert "memory_leak" in text and "FAIL" in text and "110 KiB, chroot" in text
    assert "1 passed, 1 failed, 1 error, 1 skipped" in text


def test_junit_has_a_suite_with_failures_errors_and_skips() -> None:
    root = ET.fromstring(reports.junit(_record()))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "4",
        "1",
        "1",
        "1",
    )
    failure = root.find(".//testcase[@name='memory_leak']/failure")
    assert failure is not None and "call_site=0xffffffffc023a021" in (failure.text or "")


def test_csv_has_a_row_per_test() -> None:
    rows = reports.as_csv(_record()).strip().splitlines()
    assert len(rows) == 5 and rows[2].split(",")[6] == "failed"


def test_store_writes_all_files_and_points_latest_at_the_run(tmp_path: Path) -> None:
    first, second = _record("20261127-120000-aaaa"), _record("20261127-130000-bbbb")
    store.write(tmp_path, first)
    path = store.write(tmp_path, second)
    assert sorted(p.name for p in path.iterdir()) == ["junit.xml", "report.html", "results.json", "summary.txt"]
    assert (tmp_path / "latest").resolve() == path.resolve()
    assert store.load(tmp_path) == second
    assert store.load(tmp_path, "20261127-120000-aaaa") == first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_loading_an_unknown_run_names_the_known_ones(tmp_path: Path) -> None:
    store.write(tmp_path, _record("20261127-120000-aaaa"))
    with pytest.raises(UserError, match="recent runs: 20261127-120000-aaaa"):
        store.load(tmp_path, "nope")


def _two_lines(memory_leak: Status) -> RunRecord:
    def run(line: str, leak: Status) -> SubjectResults:
        tests = (
            TestRecord("build", Status.PASSED, 1.0),
            TestRecord("memory_leak", leak, 2.0, f"leak {leak.value}", {}, ("kmalloc: call_site=0xffffffffc0001000",)),
        )
        return SubjectResults(
            f"{line}.0-1-amd64", line, "qemu", "tcg", SubjectInfo("module", "vexfs", "/k"), "kernel_module", tests
        )

    return RunRecord(
        f"run-{memory_leak.value}", "s", "f", "v", {}, (run("6.1", Status.PASSED), run("6.12", memory_leak))
    )


def test_matrix_has_a_row_per_kernel_and_a_column_per_test() -> None:
    lines = reports.matrix(_two_lines(Status.FAILED)).splitlines()
    assert lines[0].split() == ["kernel", "release", "module", "build", "memory_leak"]
    assert lines[2].split() == ["6.1", "6.1.0-1-amd64", "vexfs", "PASS", "PASS"]
    assert lines[3].split() == ["6.12", "6.12.0-1-amd64", "vexfs", "PASS", "FAIL"]


def test_html_report_colours_cells_and_links_failures_to_their_kernel_log() -> None:
    page = reports.html(_two_lines(Status.FAILED))
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "http" not in page
    assert page.count('<td class="failed"') == 1 and page.count('<td class="passed"') == 3
    assert '<a href="#6.12-vexfs-memory_leak">' in page and 'id="6.12-vexfs-memory_leak"' in page
    assert "call_site=0xffffffffc0001000" in page and "6.12/vm/console.log" in page


def test_diff_lists_only_what_changed_per_kernel_and_test() -> None:
    rows = reports.diff(_two_lines(Status.PASSED), _two_lines(Status.FAILED))
    assert rows == [["6.12", "vexfs", "memory_leak", "passed", "failed"]]
    assert reports.diff_table(_two_lines(Status.PASSED), _two_lines(Status.PASSED)).startswith("no changes")


VERSION1 = Path(__file__).parent / "fixtures" / "results" / "version1.json"


def test_a_version1_results_file_keeps_the_contract_and_loads_for_show_and_diff(tmp_path: Path) -> None:
    data = json.loads(VERSION1.read_text())
    assert "subject" not in data["runs"][0] and schema.problems(data) == []
    (tmp_path / data["run_id"]).mkdir()
    (tmp_path / data["run_id"] / "results.json").write_text(VERSION1.read_text())
    old = store.load(tmp_path, data["run_id"])
    assert old.runs[0].subject == SubjectInfo("module", "vexfs", "/work/main/kernel/vexfs", "")
    assert "vexfs" in reports.matrix(old) and "8 passed" in reports.table(old)
    assert reports.diff(old, _record()) and reports.diff_table(old, old).startswith("no changes")


@pytest.mark.breaks_results_on_purpose
def test_results_that_break_the_contract_are_refused_in_one_line(tmp_path: Path) -> None:
    broken = json.loads(VERSION1.read_text())
    broken["runs"][0]["tests"][0]["status"] = "green"
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.json").write_text(json.dumps(broken))
    with pytest.raises(UserError, match="runs/0/tests/0/status: 'green' is not one of"):
        store.load(tmp_path, "bad")
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "results.json").write_text(VERSION1.read_text()[:300])
    with pytest.raises(UserError, match="is not valid JSON"):
        store.load(tmp_path, "cut")


def test_run_files_are_readable_by_everyone(tmp_path: Path) -> None:
    path = store.write(tmp_path, _record())
    modes = {file.name: file.stat().st_mode & 0o777 for file in path.iterdir()}
    assert modes == {name: 0o644 for name in ("junit.xml", "report.html", "results.json", "summary.txt")}


def test_a_results_dir_that_cannot_hold_a_run_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="cannot make .*file/20261127-120000-abcd .*: point results_dir"):
        store.write(tmp_path / "file", _record())


def test_every_junit_suite_says_when_where_and_on_what_it_ran() -> None:
    record = _two_lines(Status.FAILED)
    record = RunRecord(record.run_id, "2026-11-27T13:00:00+01:00", "f", "v", {"hostname": "ci-7"}, record.runs)
    parsed = junitparser.JUnitXml.fromstring(reports.junit(record))
    suites = list(parsed)
    assert [suite.name for suite in suites] == ["kernel_module.6.1.vexfs", "kernel_module.6.12.vexfs"]
    for suite in suites:
        assert (suite.timestamp, suite.hostname) == ("2026-11-27T12:00:00", "ci-7")
        properties = {prop.name: prop.value for prop in suite.properties()}
        assert {"kernel_package", "accelerator", "provider", "debug_tier"} <= set(properties)
        assert (properties["accelerator"], properties["provider"]) == ("tcg", "qemu")
    assert suites[1].failures == 1 and [case.name for case in suites[1]] == ["build", "memory_leak"]


def test_a_suite_starts_when_its_first_test_began() -> None:
    run = SubjectResults("k", "6.1", "qemu", "kvm", SubjectInfo("module", "m", "d"), "kernel_module",
                    (TestRecord("build", Status.PASSED, 1.0, started="2026-11-27T12:00:07+00:00"),), "6.1.176-1", "lite")  # fmt: skip
    suite = next(
        iter(
            junitparser.JUnitXml.fromstring(
                reports.junit(RunRecord("r", "2026-11-27T12:00:00+00:00", "f", "v", {}, (run,)))
            )
        )
    )
    properties = {prop.name: prop.value for prop in suite.properties()}
    assert suite.timestamp == "2026-11-27T12:00:07" and properties["kernel_package"] == "6.1.176-1"
    assert properties["debug_tier"] == "lite" and properties["accelerator"] == "kvm"


def test_the_html_report_fits_a_phone_and_shows_every_message() -> None:
    page = reports.html(_two_lines(Status.FAILED))
    assert "<html lang='en'>" in page and "name='viewport' content='width=device-width, initial-scale=1'" in page
    assert "overflow-x:auto" in page and "@media (max-width:40em)" in page
    assert page.count('<td class="message">leak passed</td>') == 1  # a passed test's message, not only a tooltip
    assert '<a href="6.12/build.log">build log</a>' in page and '<a href="6.1/vm/commands.log">commands</a>' in page


def _contrast(colour: str) -> float:
    def luminance(hex_colour: str) -> float:
        channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    return (1.05) / (luminance(colour) + 0.05)


def test_white_text_on_every_status_colour_meets_wcag_aa() -> None:
    assert all(_contrast(colour) >= 4.5 for colour in reports.COLOURS.values())


def test_the_stored_report_links_only_logs_the_run_folder_has(tmp_path: Path) -> None:
    (tmp_path / "20261127-120000-abcd" / "6.1" / "vm").mkdir(parents=True)
    (tmp_path / "20261127-120000-abcd" / "6.1" / "vm" / "console.log").write_text("boot\n")
    page = (store.write(tmp_path, _record()) / "report.html").read_text()
    assert '<a href="6.1/vm/console.log">console</a>' in page and "6.1/build.log" not in page


def test_results_show_json_has_the_totals_and_each_tests_status() -> None:
    overview = reports.overview(_two_lines(Status.FAILED))
    assert list(overview) == [
        "run_id",
        "started",
        "finished",
        "interrupted",
        "state",
        "planned",
        "summary",
        "exit_status",
        "rows",
    ]
    assert overview["exit_status"] == 1 and overview["rows"][1] == {
        "kernel_line": "6.12", "kernel": "6.12.0-1-amd64", "domain": "kernel_module", "subject": "vexfs",
        "tests": {"build": "passed", "memory_leak": "failed"},
    }  # fmt: skip


def test_prune_keeps_the_newest_runs_and_the_latest_one(tmp_path: Path) -> None:
    ids = [f"20261127-12000{i}-aaaa" for i in range(5)]
    for run_id in ids:
        store.write(tmp_path, _record(run_id))
    (tmp_path / "latest").unlink()
    (tmp_path / "latest").symlink_to(ids[1])
    (tmp_path / "notes").mkdir()
    assert store.prune(tmp_path, 2) == [f"run {ids[0]}", f"run {ids[2]}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [ids[1], ids[3], ids[4], "latest", "notes"]
    assert store.prune(tmp_path, 2) == [] and store.prune(tmp_path / "none", 3) == []
    with pytest.raises(UserError, match="--keep must be 1 or more"):
        store.prune(tmp_path, 0)


def test_prune_removes_what_killed_runs_left_but_never_a_run_being_written(tmp_path: Path) -> None:
    kept, unfinished, writing = "20261127-120000-aaaa", "20261127-120001-bbbb", "20261127-120002-cccc"
    store.write(tmp_path, _record(kept))
    (tmp_path / kept / ".results.json.k2j4h1").write_text("{half")
    (tmp_path / unfinished / "6.1" / "src").mkdir(parents=True)
    (tmp_path / ".latest.999999999").symlink_to(kept)
    with store.held(tmp_path / writing):
        (tmp_path / writing / ".summary.txt.x81kq0").write_text("half")
        assert store.prune(tmp_path, 5) == [
            f"run {unfinished} (it recorded nothing)",
            f"{kept}/.results.json.k2j4h1, left half-written by a killed run",
            ".latest.999999999, left half-written by a killed run",
        ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [kept, writing, "latest"]
    assert (tmp_path / writing / ".summary.txt.x81kq0").exists()


def _with_subtests() -> RunRecord:
    subtests = (
        Subtest("ioctl.sh/opens /dev/taptest", Status.PASSED),
        Subtest("ioctl.sh/big write", Status.FAILED, "write of 65536 bytes returned -1 (EFBIG)"),
        Subtest("ioctl.sh/poll", Status.SKIPPED, "no poll"),
        Subtest("taptest/taptest_widths/width 64", Status.ERROR, "not run: the suite ended after 2 of 3"),
    )
    tests = (
        TestRecord("load", Status.PASSED, 0.2, "loaded in 200 ms"),
        TestRecord(
            "module_tests",
            Status.FAILED,
            3.0,
            "1 script, 3 TAP tests: 1 passed, 1 failed, 1 skipped",
            {"key_metric": "1/4 passed"},
            subtests=subtests,
        ),  # fmt: skip
    )
    run = SubjectResults("6.1.0-50-amd64", "6.1", "qemu", "tcg", SubjectInfo("module", "taptest", "/src/taptest"),
                    "kernel_module", tests)  # fmt: skip
    return RunRecord("20261206-120000-abcd", "2026-12-06T12:00:00+00:00", "2026-12-06T12:01:00+00:00", "0.1.0",
                     {"hostname": "h"}, (run,))  # fmt: skip


def test_subtests_round_trip_through_the_contract_and_older_files_have_none() -> None:
    record = _with_subtests()
    data = json.loads(json.dumps(record.to_dict()))
    assert data["runs"][0]["tests"][1]["subtests"][1] == {
        "name": "ioctl.sh/big write", "status": "failed", "message": "write of 65536 bytes returned -1 (EFBIG)"
    }  # fmt: skip
    assert "subtests" not in data["runs"][0]["tests"][0]  # a test without: as files were before subtests
    assert schema.problems(data) == [] and RunRecord.from_dict(data) == record
    assert data["summary"] == {"passed": 1, "failed": 1, "error": 0, "flaky": 0, "skipped": 0, "known": 0}
    data["runs"][0]["tests"][1]["subtests"][0]["status"] = "green"
    assert schema.problems(data) == ["runs/0/tests/1/subtests/0/status: 'green' is not one of "
                                     "['passed', 'failed', 'error', 'skipped', 'known']"]  # fmt: skip


def test_junit_gives_each_subtest_a_testcase_named_after_its_test() -> None:
    xml = reports.junit(_with_subtests())
    suite = ET.fromstring(xml).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "6",
        "2",
        "1",
        "1",
    )
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases][2:] == [
        "module_tests/ioctl.sh/opens /dev/taptest", "module_tests/ioctl.sh/big write", "module_tests/ioctl.sh/poll",
        "module_tests/taptest/taptest_widths/width 64",
    ]  # fmt: skip
    assert {case.get("classname") for case in cases} == {"kernel_module.6.1.taptest"}
    failure = cases[3].find("failure")
    assert failure is not None and failure.get("message") == "write of 65536 bytes returned -1 (EFBIG)"
    assert cases[5].find("error") is not None and cases[4].find("skipped") is not None
    parsed = junitparser.JUnitXml.fromstring(xml)
    assert sum(1 for suite in parsed for _ in suite) == 6


def test_the_table_and_the_page_show_each_red_subtest_and_count_the_others() -> None:
    record = _with_subtests()
    lines = reports.table(record).splitlines()
    at = next(i for i, line in enumerate(lines) if "module_tests" in line)
    assert "↳ ioctl.sh/big write" in lines[at + 1] and "FAIL" in lines[at + 1] and "EFBIG" in lines[at + 1]
    assert "↳ taptest/taptest_widths/width 64" in lines[at + 2] and "ERROR" in lines[at + 2]
    assert "↳ 1 passed, 1 skipped" in lines[at + 3] and "poll" not in reports.table(record)
    page = reports.html(record)
    assert page.count("<b>FAIL</b> ioctl.sh/big write: write of 65536 bytes returned -1 (EFBIG)") == 2  # test, failure
    assert "<li>and 1 passed, 1 skipped</li>" in page and "opens /dev/taptest" not in page


UAF = "KASAN: slab-use-after-free Write in mydev_open"


def _one_fault() -> RunRecord:
    """load and hang_detection red by one report, memory_leak by another, interfaces by none."""
    tests = (
        TestRecord("load", Status.FAILED, 1.0, f"insmod logged a problem: {UAF}", report_titles=(UAF,)),
        TestRecord("memory_leak", Status.FAILED, 1.0, "leaked", report_titles=("memory leak in mydev_init",)),
        TestRecord("hang_detection", Status.FAILED, 1.0, f"same report as load ({UAF}): ...", report_titles=(UAF,)),
        TestRecord("interfaces", Status.FAILED, 1.0, "a read returned what no write wrote"),
    )
    run = SubjectResults("k", "6.1", "qemu", "kvm", SubjectInfo("module", "mydev", "/src"), "kernel_module", tests)
    return RunRecord("r1", "2026-11-27T12:00:00+00:00", "2026-11-27T12:01:00+00:00", "0.1.0", {}, (run,))


def test_report_titles_round_trip_through_the_contract_and_older_files_have_none() -> None:
    data = json.loads(json.dumps(_one_fault().to_dict()))
    assert data["runs"][0]["tests"][0]["report_titles"] == [UAF]
    assert "report_titles" not in data["runs"][0]["tests"][3]
    assert schema.problems(data) == [] and RunRecord.from_dict(data) == _one_fault()
    assert all(not test.report_titles for test in RunRecord.from_dict(json.loads(VERSION1.read_text())).runs[0].tests)


def test_the_summary_counts_each_kernel_report_once_however_many_tests_it_turned_red() -> None:
    record = _one_fault()
    assert record.distinct_reports() == 2
    assert (
        reports.table(record)
        .splitlines()[-1]
        .startswith("0 passed, 4 failed, 0 error, 0 skipped; 2 distinct kernel reports")
    )
    assert "4 failed, 0 error, 0 skipped; 2 distinct kernel reports" in reports.html(record)
    assert "distinct" not in reports.table(_record()).splitlines()[-1]


def test_diff_tells_a_test_red_by_another_kernel_report_from_one_red_by_the_same() -> None:
    before = _one_fault()
    load = replace(before.runs[0].tests[0], report_titles=("KFENCE: use-after-free write in mydev_open",))
    after = replace(before, runs=(replace(before.runs[0], tests=(load, *before.runs[0].tests[1:])),))
    assert reports.diff(before, after) == [
        ["6.1", "mydev", "load", f"failed ({UAF})", "failed (KFENCE: use-after-free write in mydev_open)"]
    ]
    assert reports.diff(before, before) == []


def _with_known_failures() -> RunRecord:
    """A run whose memory_leak is a known failure and whose build passed though listed (fixed?)."""
    record = _record()
    build, leak, skipped, error = record.runs[0].tests
    tests = (
        replace(build, message=f"fixed?: passed, though a known failure (broke on 6.1): {build.message}",
                known_failure="broke on 6.1"),
        replace(leak, status=Status.KNOWN, message=f"known: leaks in init: {leak.message}", known_failure="leaks in init"),
        skipped,
        replace(error, status=Status.PASSED, message="watched 5 s"),
    )  # fmt: skip
    return replace(record, runs=(replace(record.runs[0], tests=tests),))


def test_known_failures_keep_their_reason_in_the_contract_and_do_not_fail_the_run() -> None:
    record = _with_known_failures()
    data = json.loads(json.dumps(record.to_dict()))
    assert schema.problems(data) == [] and RunRecord.from_dict(data) == record
    assert data["summary"] == {"passed": 2, "failed": 0, "error": 0, "flaky": 0, "skipped": 1, "known": 1}
    assert data["runs"][0]["tests"][1]["known_failure"] == "leaks in init"
    assert "known_failure" not in data["runs"][0]["tests"][2]
    assert record.exit_status() == 0 and record.fixed_tests() == 1
    assert worst([Status.PASSED, Status.KNOWN, Status.SKIPPED]) is Status.KNOWN
    assert worst([Status.KNOWN, Status.ERROR]) is Status.ERROR


def test_the_table_shows_known_and_fixed_apart_with_their_reasons() -> None:
    text = reports.table(_with_known_failures())
    rows = {line.split()[2]: line for line in text.splitlines() if line.startswith("6.1 ")}
    assert " KNOWN " in rows["memory_leak"] and "known: leaks in init: leaked 4 objects" in rows["memory_leak"]
    assert " FIXED? " in rows["build"] and "fixed?: passed, though a known failure (broke on 6.1)" in rows["build"]
    assert "\n\nknown failures:\n  6.1 leaky build: fixed? (broke on 6.1): its entry may go\n" in text
    assert "2 passed (1 fixed?), 0 failed, 0 error, 1 skipped, 1 known (run " in text
    assert reports.totals(_record()) == "1 passed, 1 failed, 1 error, 1 skipped"  # no known failure: not mentioned
    assert "KNOWN" in reports.matrix(_with_known_failures()) and "FIXED?" in reports.matrix(_with_known_failures())
    assert reports.known_failures(_with_known_failures()).splitlines() == [
        "known failures:",
        "  6.1 leaky build: fixed? (broke on 6.1): its entry may go",
        "  6.1 leaky memory_leak: known (leaks in init)",
    ]
    assert reports.known_failures(_record()) == ""


def test_junit_reports_a_known_failure_as_skipped_with_its_reason() -> None:
    root = ET.fromstring(reports.junit(_with_known_failures()))
    suite = root.find("testsuite")
    assert suite is not None and (suite.get("failures"), suite.get("skipped")) == ("0", "2")
    leak = root.find(".//testcase[@name='memory_leak']/skipped")
    assert leak is not None and leak.get("message", "").startswith("known: leaks in init: leaked 4 objects")
    assert root.find(".//testcase[@name='build']/skipped") is None  # fixed? passed
    sub = replace(_with_known_failures().runs[0].tests[1], subtests=(Subtest("a.sh/x", Status.KNOWN, "known: r: 0"),))
    record = _with_known_failures()
    record = replace(record, runs=(replace(record.runs[0], tests=(sub,)),))
    skipped = ET.fromstring(reports.junit(record)).find(".//testcase[@name='memory_leak/a.sh/x']/skipped")
    assert skipped is not None and skipped.get("message") == "known: r: 0"
    assert "known: r: 0" in reports.table(record)  # a known subtest is shown under its test


def test_the_html_report_colours_known_and_fixed_and_lists_them_with_their_reasons() -> None:
    page = reports.html(_with_known_failures())
    assert '<td class="known" title="known: leaks in init' in page and ">KNOWN</a>" in page
    assert '<td class="fixed" title="fixed?: passed' in page and ">FIXED?</a>" in page
    known = page[page.index("<h2>Known failures</h2>") :]
    assert '<td>memory_leak</td><td class="known status">KNOWN</td><td>leaks in init</td>' in known
    assert '<td>build</td><td class="fixed status">FIXED?</td><td>broke on 6.1</td>' in known
    assert "<h2>Known failures</h2>" not in reports.html(_record())


def test_the_diff_says_when_a_failure_became_known_or_a_known_failure_passed() -> None:
    rows = reports.diff(_record(), _with_known_failures())
    assert ["6.1", "leaky", "memory_leak", "failed", "known"] in rows
    assert ["6.1", "leaky", "build", "passed", "fixed?"] in rows


def _flaky_record() -> RunRecord:
    """A run with a flaky test (red, then passed on a retry) and a hard one (red on every attempt)."""
    flaky = TestRecord("memory_leak", Status.FLAKY, 5.0, "flaky: failed 1/2 attempts: leaked 4 objects", {
        "retry": {"attempts": 2, "statuses": ["failed", "passed"], "durations_s": [2.0, 2.0],
                  "messages": ["leaked 4 objects", "no leak"], "report_titles": [["memory leak in leaky_init"], []],
                  "restore_s": 1.0}}, ("kmemleak: unreferenced object",), report_titles=("memory leak in leaky_init",))  # fmt: skip
    hard = TestRecord("unload", Status.FAILED, 9.0, "failed 3/3 attempts: rmmod hung", {
        "retry": {"attempts": 3, "statuses": ["failed", "error", "failed"], "durations_s": [3.0, 3.0, 3.0],
                  "messages": ["rmmod hung", "no answer", "rmmod hung"], "report_titles": [[], [], []],
                  "restore_s": 0.0}})  # fmt: skip
    run = SubjectResults("6.1.0-50-amd64", "6.1", "qemu", "tcg", SubjectInfo("module", "leaky", "/src/leaky"),
                         "kernel_module", (TestRecord("load", Status.PASSED, 1.0, "loaded"), flaky, hard))  # fmt: skip
    return RunRecord("r1", "2026-12-07T07:00:00+00:00", "2026-12-07T07:01:00+00:00", "0.1.0", {}, (run,))


def test_a_flaky_test_is_counted_apart_and_fails_the_run() -> None:
    record = _flaky_record()
    data = record.to_dict()
    assert data["summary"] == {"passed": 1, "failed": 1, "error": 0, "flaky": 1, "skipped": 0, "known": 0}
    assert schema.problems(data) == [] and RunRecord.from_dict(json.loads(json.dumps(data))) == record
    assert record.exit_status() == 1 and record.distinct_reports() == 1
    assert worst([Status.PASSED, Status.FLAKY, Status.SKIPPED]) is Status.FLAKY
    assert worst([Status.FLAKY, Status.ERROR]) is Status.ERROR
    table = reports.table(record)
    assert "FLAKY" in table and "flaky: failed 1/2 attempts: leaked 4 objects" in table
    assert "1 passed, 1 failed, 0 error, 0 skipped, 1 flaky; 1 distinct kernel report" in table
    assert "1 flaky" not in reports.totals(_record())


def test_junit_has_a_flaky_test_as_a_failure_saying_so_and_each_later_red_attempt_as_a_rerun() -> None:
    root = ET.fromstring(reports.junit(_flaky_record()))
    suite = root.find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "2", "0")
    leak, unload = root.findall(".//testcase")[1:]
    failure = leak.find("failure")
    assert failure is not None and failure.get("message") == "flaky: failed 1/2 attempts: leaked 4 objects"
    assert leak.findall("rerunFailure") == [] and leak.findall("rerunError") == []  # its retry passed
    assert [(e.tag, e.get("message")) for e in unload if e.tag.startswith("rerun")] == [
        ("rerunError", "no answer"), ("rerunFailure", "rmmod hung")
    ]  # fmt: skip
    parsed = junitparser.JUnitXml.fromstring(reports.junit(_flaky_record()))
    cases = [case for suite in parsed for case in suite]
    assert [type(case.result[0]).__name__ if case.result else "passed" for case in cases] == [
        "passed", "Failure", "Failure"
    ]  # fmt: skip


def test_the_html_report_shows_a_flaky_test_in_its_own_colour_among_the_failures() -> None:
    page = reports.html(_flaky_record())
    assert '<td class="flaky"' in page and ".flaky{background:#ad1457}" in page
    assert "memory_leak: flaky</h3>" in page and "kmemleak: unreferenced object" in page


def _with_places() -> RunRecord:
    """memory_leak's kernel log with its copy holding the place in the source of its one address."""
    record = _record()
    [run] = record.runs
    leak = replace(
        run.tests[1], kernel_log_symbolized=("kmalloc: call_site=0xffffffffc023a021 leaky.c:13 (leaky_init) ptr=1",)
    )
    return replace(record, runs=(replace(run, tests=(run.tests[0], leak, *run.tests[2:])),))


def test_the_symbolized_kernel_log_round_trips_beside_the_raw_one_and_older_files_have_none() -> None:
    data = json.loads(json.dumps(_with_places().to_dict()))
    tests = data["runs"][0]["tests"]
    assert tests[1]["kernel_log"] == ["kmalloc: call_site=0xffffffffc023a021 ptr=1"]
    assert tests[1]["kernel_log_symbolized"] == ["kmalloc: call_site=0xffffffffc023a021 leaky.c:13 (leaky_init) ptr=1"]
    assert "kernel_log_symbolized" not in tests[0]
    assert schema.problems(data) == [] and RunRecord.from_dict(data) == _with_places()
    assert all(
        not test.kernel_log_symbolized for test in RunRecord.from_dict(json.loads(VERSION1.read_text())).runs[0].tests
    )


def test_junit_and_the_page_show_the_kernel_log_with_its_places_when_it_has_them() -> None:
    placed = "kmalloc: call_site=0xffffffffc023a021 leaky.c:13 (leaky_init) ptr=1"
    [failure] = ET.fromstring(reports.junit(_with_places()).split("\n", 1)[1]).iter("failure")
    assert failure.text == placed
    assert placed in reports.html(_with_places())
    [raw] = ET.fromstring(reports.junit(_record()).split("\n", 1)[1]).iter("failure")
    assert raw.text == "kmalloc: call_site=0xffffffffc023a021 ptr=1"


def test_the_export_formats_help_names_are_those_written() -> None:
    """`results.export --help` names them without loading the writers: reports.py writes each but kcidb."""
    assert formats.EXPORT_FORMATS == (*reports.FORMATS, "kcidb")
