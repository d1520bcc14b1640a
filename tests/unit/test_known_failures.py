"""Known failures: a module repository's vmtest.toml lists the tests it is expected to fail; each entry is checked
strictly when the file is read, a red test it covers is known, a passed one fixed?."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

from toolkit import config
from toolkit.domains.base import Verdict, every_record
from toolkit.errors import UserError
from toolkit.known_failures import KnownFailure, KnownOnKernel, check_tests, parse
from toolkit.progress import Progress
from toolkit.results.records import Status, Subtest, TestRecord
from toolkit.run_options import TEST_FS, TEST_KERNEL

from .test_domain_runner import Case, Guest

FILE = Path("/src/mymod/vmtest.toml")
RELEASE_6_1 = "6.1.0-27-amd64"


def _entries(*tables: dict[str, Any]) -> tuple[KnownFailure, ...]:
    return parse(list(tables), FILE)


def _red(name: str = "unload", *titles: str) -> TestRecord:
    return TestRecord(name, Status.FAILED, 1.0, "BUG: unable to handle page fault in m_exit", report_titles=titles)


def test_an_entry_reads_its_test_kernels_reason_and_title() -> None:
    [entry] = _entries({"test": "unload", "kernels": ["bookworm", ">=7.0"], "reason": " needs folio ",
                        "title": "BUG: unable to handle page fault in m_exit"})  # fmt: skip
    assert (entry.test, entry.reason) == ("unload", "needs folio")
    assert entry.title == "BUG: unable to handle page fault in m_exit"
    assert [str(match) for match in entry.kernels] == ["6.1", ">=7.0.0"]
    assert entry.where == f"{FILE}: known_failure 1"
    assert (
        str(entry) == "unload on 6.1, >=7.0.0: needs folio (when titled 'BUG: unable to handle page fault in m_exit')"
    )
    assert (
        str(_entries({"test": "load", "reason": "r", "kernels": [">=5.15,<6.2"]})[0]) == "load on >=5.15.0, <6.2.0: r"
    )


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ({"reason": "r"}, "known_failure 1: test is missing: write it as a string"),
        ({"test": "", "reason": "r"}, "test is '', not a non-empty string"),
        ({"test": "unload"}, "reason is missing"),
        ({"test": "unload", "reason": "   "}, "reason is '   ', not a non-empty string"),
        ({"test": "unload", "reason": 7}, "reason is 7, not a non-empty string"),
        ({"test": "unload", "reason": "two\nlines"}, "reason must be one line of at most 300 characters"),
        ({"test": "unload", "reason": "x" * 301}, "reason must be one line of at most 300 characters"),
        ({"test": "unload", "reason": "r", "title": ""}, "title is '', not a non-empty string"),
        ({"test": "unload", "reason": "r", "kernel": ["6.1"]}, "unknown field 'kernel': an entry has test, kernels"),
        ({"test": "unload", "reason": "r", "kernels": []}, "kernels = [] is not a non-empty list"),
        ({"test": "unload", "reason": "r", "kernels": "6.1"}, "kernels = '6.1' is not a non-empty list"),
        ({"test": "unload", "reason": "r", "kernels": [""]}, "kernels item '' is not a kernel"),
        ({"test": "unload", "reason": "r", "kernels": [6.1]}, "kernels item 6.1 is not a kernel"),
        ({"test": "unload", "reason": "r", "kernels": ["9.9"]}, "kernels item '9.9': unknown kernel line '9.9'"),
        ({"test": "unload", "reason": "r", "kernels": ["../6.1"]}, "kernels item '../6.1': unknown kernel line"),
        ({"test": "unload", "reason": "r", "kernels": ["6.1; rm -rf /"]}, "unknown kernel line '6.1; rm -rf /'"),
        ({"test": "unload", "reason": "r", "kernels": [">="]}, "kernels item '>=' is no version range"),
        ({"test": "unload", "reason": "r", "kernels": ["=>6.1"]}, "kernels item '=>6.1' is no version range"),
        ({"test": "unload", "reason": "r", "kernels": [">=6.1.2.3"]}, "is no version range"),
        ({"test": "unload", "reason": "r", "kernels": [">=6.x"]}, "is no version range"),
        ({"test": "unload", "reason": "r", "kernels": [">=99999"]}, "is no version range"),
        ({"test": "unload", "reason": "r", "kernels": [">=5.15,"]}, "is no version range"),
    ],
)
def test_a_wrong_entry_is_refused_naming_its_file_entry_and_field(table: dict[str, Any], says: str) -> None:
    with pytest.raises(UserError, match="known_failure 1") as refused:
        _entries(table)
    assert says in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("value", ["unload", {"test": "unload"}, [], ["unload"], [{"test": "a", "reason": "r"}] * 1001])
def test_a_known_failure_value_that_is_no_list_of_tables_is_refused(value: object) -> None:
    with pytest.raises(UserError, match=r"known_failure|known failures"):
        parse(value, FILE)


def test_an_entry_naming_no_test_of_any_domain_is_refused_with_the_tests() -> None:
    entries = _entries({"test": "unlaod", "reason": "r"})
    tests = {"kernel_module": ("build", "load", "unload"), "filesystem": ("build", "posix_ops")}
    with pytest.raises(
        UserError,
        match=r"known_failure 1: test 'unlaod' is no test: name one of a domain's "
        r"\(kernel_module: build, load, unload; filesystem: build, posix_ops\)$",
    ):
        check_tests(entries, tests)
    check_tests(_entries({"test": "posix_ops", "reason": "r"}), tests)


@pytest.mark.parametrize(
    ("kernels", "line", "release", "covered"),
    [
        (["6.1"], "6.1", RELEASE_6_1, True),
        (["6.1"], "6.1-debug", "6.1.0-27-amd64", True),  # a line covers its built variants
        (["6.1"], "6.12", "6.12.5-amd64", False),
        (["6.1-debug"], "6.1", RELEASE_6_1, False),
        (["unstable"], "7.x", "7.0.3+deb14-amd64", True),
        ([">=7.0"], "7.x", "7.0.3+deb14-amd64", True),
        ([">=7.0"], "6.12", "6.12.5-amd64", False),
        ([">=5.15, <6.2"], "6.1", RELEASE_6_1, True),
        ([">=5.15, <6.2"], "6.12", "6.12.5-amd64", False),
        (["==6.1"], "tree-6.1.0-abcdef", "6.1.0-rc3+", True),
        (["5.10", ">=6.12"], "6.12", "6.12.5-amd64", True),
        ([">=0.0"], "6.1", "", False),  # a line that never started has no release to compare
    ],
)
def test_kernels_name_lines_or_versions_of_the_guests_release(
    kernels: list[str], line: str, release: str, covered: bool
) -> None:
    known = KnownOnKernel(_entries({"test": "unload", "reason": "r", "kernels": kernels}), line, release)
    assert (known.judged(_red()).status is Status.KNOWN) is covered


def test_a_red_test_an_entry_covers_is_known_with_the_reason_and_keeps_its_evidence() -> None:
    known = KnownOnKernel(_entries({"test": "unload", "reason": "needs folio"}), "6.1", RELEASE_6_1)
    red = _red("unload", "BUG: unable to handle page fault in m_exit")
    judged = known.judged(red)
    assert (judged.status, judged.known_failure) == (Status.KNOWN, "needs folio")
    assert judged.message == f"known: needs folio: {red.message}"
    assert judged.report_titles == red.report_titles and not judged.fixed


def test_a_known_failure_turns_its_red_subtests_known_and_leaves_the_others() -> None:
    known = KnownOnKernel(_entries({"test": "module_tests", "reason": "r"}), "6.1", RELEASE_6_1)
    subtests = (
        Subtest("a.sh/ok", Status.PASSED),
        Subtest("a.sh/big write", Status.FAILED, "wrote 0 bytes"),
        Subtest("a.sh/gone", Status.ERROR, "did not run"),
        Subtest("a.sh/later", Status.SKIPPED, "SKIP"),
    )
    red = TestRecord("module_tests", Status.FAILED, 1.0, "1 of 4 failed", subtests=subtests)
    judged = known.judged(red).subtests
    assert [(sub.status, sub.message) for sub in judged] == [
        (Status.PASSED, ""), (Status.KNOWN, "known: r: wrote 0 bytes"), (Status.KNOWN, "known: r: did not run"),
        (Status.SKIPPED, "SKIP"),
    ]  # fmt: skip


def test_a_passed_test_an_entry_covers_is_fixed_and_stays_passed() -> None:
    known = KnownOnKernel(_entries({"test": "load", "reason": "init fails on 6.1", "title": "t"}), "6.1", RELEASE_6_1)
    judged = known.judged(TestRecord("load", Status.PASSED, 1.0, "loaded in 0.1 s"))
    assert judged.status is Status.PASSED and judged.fixed
    assert judged.message == "fixed?: passed, though a known failure (init fails on 6.1): loaded in 0.1 s"


def test_a_flaky_test_an_entry_covers_is_known_so_an_entry_is_how_flakiness_is_allowed() -> None:
    known = KnownOnKernel(_entries({"test": "memory_leak", "reason": "leaks under TCG now and then"}), "6.1",
                          RELEASE_6_1)  # fmt: skip
    flaky = TestRecord("memory_leak", Status.FLAKY, 9.0, "flaky: failed 1/3 attempts: leaked 1 objects")
    judged = known.judged(flaky)
    assert judged.status is Status.KNOWN and judged.known_failure == "leaks under TCG now and then"
    assert judged.message == "known: leaks under TCG now and then: flaky: failed 1/3 attempts: leaked 1 objects"


def test_a_title_limits_an_entry_to_reds_charged_with_that_report() -> None:
    known = KnownOnKernel(_entries({"test": "unload", "reason": "r", "title": "BUG: x in m_exit"}), "6.1", RELEASE_6_1)
    assert known.judged(_red("unload", "KASAN: y in m_exit")).status is Status.FAILED
    assert known.judged(_red("unload")).status is Status.FAILED
    assert known.judged(_red("unload", "KASAN: y in m_exit", "BUG: x in m_exit")).status is Status.KNOWN


def test_skipped_and_uncovered_tests_are_left_as_they_are() -> None:
    known = KnownOnKernel(_entries({"test": "unload", "reason": "r"}), "6.1", RELEASE_6_1)
    skipped = TestRecord("unload", Status.SKIPPED, 0.0, "needs load to pass")
    assert known.judged(skipped) == skipped and known.judged(_red("load")) == _red("load")


def test_the_first_entry_covering_a_test_gives_the_reason() -> None:
    entries = _entries({"test": "unload", "reason": "first", "kernels": ["6.1"]}, {"test": "unload", "reason": "2nd"})
    assert KnownOnKernel(entries, "6.1", RELEASE_6_1).judged(_red()).known_failure == "first"
    assert KnownOnKernel(entries, "6.12", "6.12.5-amd64").judged(_red()).known_failure == "2nd"


def test_a_known_failure_does_not_unblock_the_tests_that_need_it() -> None:
    cases = [
        Case("build", Verdict.passed("ok")),
        Case("load", Verdict.failed("insmod failed"), ("build",)),
        Case("unload", Verdict.passed("ok"), ("load",)),
    ]
    known = KnownOnKernel(_entries({"test": "load", "reason": "r"}, {"test": "build", "reason": "b"}), "6.1", "6.1.0")
    out = io.StringIO()
    records = every_record(cases, Guest(), Progress("t", out), known=known)
    assert [(r.status, r.fixed) for r in records] == [(Status.PASSED, True), (Status.KNOWN, False),
                                                      (Status.SKIPPED, False)]  # fmt: skip
    assert records[2].message == "needs load to pass (load failed: insmod failed)"
    assert "(1/3) build: fixed? in" in out.getvalue() and "(2/3) load: known in" in out.getvalue()
    assert "load: known in 0.0 s - known: r: insmod failed" in out.getvalue()


@pytest.fixture
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in [name for name in os.environ if name.startswith("VEXFS_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vmtest.toml"
    path.write_text(text)
    return path


ENTRY = '[[known_failure]]\ntest = "memory_leak"\nkernels = ["6.1"]\nreason = "leaks in init"\n'


def test_the_repositorys_file_lists_its_known_failures_among_its_settings(tmp_path, clean_environment) -> None:
    settings = config.load(config_file=_file(tmp_path, 'module_params = ["bug=none"]\n' + ENTRY))
    [entry] = settings.known_failures
    assert (entry.test, entry.reason, settings.module_params) == ("memory_leak", "leaks in init", ("bug=none",))
    assert "known_failures" not in {
        row["setting"] for row in config.effective(config_file=tmp_path / "vmtest.toml").rows()
    }


def test_a_wrong_known_failure_in_the_file_is_a_usage_error_before_anything_starts(tmp_path, clean_environment) -> None:
    with pytest.raises(UserError, match=r"vmtest.toml: known_failure 1: reason is missing"):
        config.load(config_file=_file(tmp_path, '[[known_failure]]\ntest = "load"\n'))
    with pytest.raises(UserError, match=r"known_failure in .* is not a list of tables"):
        config.load(config_file=_file(tmp_path, '[known_failure]\ntest = "load"\nreason = "r"\n'))
    with pytest.raises(UserError, match=r"unknown setting 'known_failures' .* and \[\[known_failure\]\] tables"):
        config.load(config_file=_file(tmp_path, "known_failures = []\n"))


def test_a_run_refuses_an_entry_naming_no_test_and_takes_one_of_another_domain(tmp_path, clean_environment) -> None:
    values: dict[str, Any] = {"only": None, "repeat": None}
    path = _file(tmp_path, ENTRY.replace("memory_leak", "memory leak"))
    with pytest.raises(
        UserError, match=r"test 'memory leak' is no test: name one of a domain's \(filesystem: build, mount_cycles,"
    ):
        TEST_KERNEL.request(values, path)
    path = _file(tmp_path, ENTRY.replace("memory_leak", "posix_ops"))
    assert TEST_KERNEL.request(values, path).settings.known_failures[0].test == "posix_ops"
    assert TEST_FS.request(values, path).settings.known_failures[0].test == "posix_ops"
