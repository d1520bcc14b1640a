"""The KCIDB export: every document kcidb-io's own schema accepts, and what kernel people read in it."""

import json
import subprocess
from pathlib import Path

import pytest
from kcidb_io.schema import LATEST, V5_3

from toolkit.errors import UserError
from toolkit.results import kcidb, store
from toolkit.results.records import RunRecord, Status, SubjectInfo, SubjectResults, Subtest, TestRecord

FIXTURES = Path(__file__).parent / "fixtures" / "results"
REAL_RUN = "20261128-032950-a3a1"  # double_free on 5.10, 6.12 and 7.x: passes, failures, skips


def _valid(document: dict) -> dict:
    """The document, once kcidb-io accepts it as v5 (5.3, what it calls the latest)."""
    assert LATEST.major == 5
    V5_3.validate_exactly(document)
    return document


def _real() -> RunRecord:
    return store.load(FIXTURES, REAL_RUN)


def _facts(**checkouts: kcidb.Checkout) -> kcidb.Facts:
    return kcidb.Facts(checkouts, {"5.10": "gcc-10 10.2.1-6", "7.x": "gcc-16 16.2.0-4"}, FIXTURES / REAL_RUN)


def test_a_real_run_exports_one_build_per_line_and_a_test_per_case() -> None:
    document = _valid(kcidb.document(_real(), known=_facts()))
    assert document["version"] == {"major": 5, "minor": 3}
    assert [build["id"] for build in document["builds"]] == [
        f"vexfs_vmtest:{REAL_RUN}:{line}:kernel_module:double_free" for line in ("5.10", "6.12", "7.x")
    ]
    assert len(document["tests"]) == 3 * 7 and not any(t["path"] == "kmod.build" for t in document["tests"])
    build = document["builds"][0]
    assert (build["architecture"], build["compiler"], build["status"]) == ("x86_64", "gcc-10 10.2.1-6", "PASS")
    assert build["config_name"] == "5.10.0-32-amd64 debug lite" and build["misc"]["kernel_package"] == "5.10.223-1"
    assert build["log_url"] == (FIXTURES / REAL_RUN / "5.10" / "build.log").resolve().as_uri()
    assert "compiler" not in document["builds"][1]  # no box for 6.12 in these facts: nothing made up


def test_statuses_map_honestly_and_a_skip_behind_a_failed_prerequisite_says_so() -> None:
    tests = {t["id"].split(":", 2)[2]: t for t in _valid(kcidb.document(_real(), known=_facts()))["tests"]}
    load, unload, stress = (
        tests[f"7.x:kernel_module:double_free:{name}"] for name in ("load", "unload", "lifecycle_stress")
    )
    assert (load["path"], load["status"]) == ("kmod.load", "FAIL")
    assert (
        load["log_excerpt"].startswith("[   29.248569] BUG kmem_cache_node")
        and "Freepointer corrupt" in load["log_excerpt"]
    )
    assert unload["status"] == "SKIP" and unload["comment"].startswith("not run, a prerequisite failed: needs load")
    assert stress["misc"]["skip_reason"] == "prerequisite failed"
    assert tests["5.10:kernel_module:double_free:load"]["status"] == "PASS"
    assert tests["5.10:kernel_module:double_free:load"]["comment"] == "loaded in 257 ms; taint OE"
    console = (FIXTURES / REAL_RUN / "7.x" / "vm" / "console.log").resolve().as_uri()
    assert load["log_url"] == console and [f["name"] for f in load["output_files"]] == ["console.log", "commands.log"]


def _run(domain: str, tests: tuple[TestRecord, ...], kernel: str = "6.1.0-50-amd64") -> SubjectResults:
    subject = SubjectInfo("filesystem" if domain == "filesystem" else "module", "vexfs", "/src/vexfs")
    return SubjectResults(kernel, "6.1", "qemu", "kvm", subject, domain, tests, "6.1.176-1", "off")


def _record(*runs: SubjectResults) -> RunRecord:
    return RunRecord("20261127-120000-abcd", "2026-11-27T12:00:00+00:00", "2026-11-27T12:01:00+00:00", "0.1.0",
                     {"hostname": "ci-7"}, runs)  # fmt: skip


def test_domains_get_their_short_prefix_and_errors_misses_and_start_times_are_kept() -> None:
    began = "2026-11-27T12:00:05+00:00"
    fs = _run("filesystem", (TestRecord("build", Status.FAILED, 1.0, "error: 'x' undeclared\nmore", started=began),
                             TestRecord("data_integrity", Status.ERROR, 3.0, "guest trouble: no SSH answer", started=began)))  # fmt: skip
    never = SubjectResults("", "7.x", "qemu", "", SubjectInfo("module", "vexfs", "/src/vexfs"), "kernel_module",
                      (TestRecord("build", Status.ERROR, 0.0, "box build failed"), TestRecord("load", Status.ERROR, 0.0, "box build failed")))  # fmt: skip
    document = _valid(kcidb.document(_record(fs, never), origin="my_lab"))
    build, missed = document["builds"]
    assert (build["status"], build["start_time"], build["log_excerpt"]) == (
        "FAIL",
        began,
        "error: 'x' undeclared\nmore",
    )
    assert missed["status"] == "MISS" and missed["config_name"] == "7.x"
    integrity, load = document["tests"]
    assert (integrity["path"], integrity["status"], integrity["start_time"]) == ("fs.data_integrity", "ERROR", began)
    assert (load["path"], load["status"], "start_time" in load) == ("kmod.load", "MISS", False)
    assert all(item["id"].startswith("my_lab:") and item["origin"] == "my_lab" for kind in ("checkouts", "builds", "tests")
               for item in document[kind])  # fmt: skip
    assert len(document["checkouts"]) == 1 and document["checkouts"][0]["tree_name"] == "vexfs"


def test_a_kernel_log_longer_than_kcidb_allows_is_cut_at_a_line() -> None:
    lines = tuple(f"[ {i}.0] BUG: line {i}" for i in range(2000))
    document = _valid(
        kcidb.document(_record(_run("kernel_module", (TestRecord("load", Status.FAILED, 1.0, "oops", {}, lines),))))
    )
    excerpt = document["tests"][0]["log_excerpt"]
    assert len(excerpt) <= kcidb.EXCERPT_MAX and excerpt.startswith("[ 0.0] BUG: line 0\n") and excerpt.endswith("\n…")


def test_an_origin_kcidb_would_refuse_is_a_user_error() -> None:
    with pytest.raises(UserError, match="origin 'My-Lab' is not a KCIDB origin"):
        kcidb.document(_record(), origin="My-Lab")


def _git(work: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(work), *args], check=True, capture_output=True)


def test_a_git_work_tree_gives_the_checkout_its_url_commit_and_branch(tmp_path: Path) -> None:
    module = tmp_path / "mymod"
    (module / "src").mkdir(parents=True)
    (module / "src" / "m.c").write_text("int x;\n")
    _git(module, "init", "-q", "-b", "topic")
    _git(module, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "--allow-empty", "-m", "first")
    _git(module, "remote", "add", "origin", "git@example.org:kernel/mymod.git")
    checkout = kcidb.checkout_of(str(module / "src"))
    assert (checkout.tree_name, checkout.branch, len(checkout.commit)) == ("mymod", "topic", 40)
    assert checkout.uncommitted_changes  # m.c is not committed
    record = _record(SubjectResults("6.1.0-50-amd64", "6.1", "qemu", "kvm", SubjectInfo("module", "m", str(module / "src")),
                               "kernel_module", (TestRecord("build", Status.PASSED, 1.0),)))  # fmt: skip
    data = _valid(kcidb.document(record, known=kcidb.facts(record, None, tmp_path / "no-cache")))["checkouts"][0]
    assert data["git_repository_url"] == "https://example.org/kernel/mymod.git"
    assert (data["git_commit_hash"], data["git_repository_branch"]) == (checkout.commit, "topic")
    assert data["misc"]["uncommitted_changes"] is True


def test_a_checkout_outside_git_keeps_its_path_and_no_url() -> None:
    assert kcidb.checkout_of("/nonexistent/mymod") == kcidb.Checkout("/nonexistent/mymod", "mymod")
    local = kcidb.Checkout("/src/m", "m", repository="/src/m", commit="a" * 40)
    data = _valid(kcidb.document(_record(_run("kernel_module", ())), known=kcidb.Facts({"/src/vexfs": local})))
    assert "git_repository_url" not in data["checkouts"][0] and data["checkouts"][0]["misc"]["repository"] == "/src/m"


@pytest.mark.parametrize(
    ("remote", "url"),
    [
        (
            "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git",
            "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git",
        ),
        ("git@github.com:owner/mod.git", "https://github.com/owner/mod.git"),
        ("ssh://git@gitlab.com:2222/group/mod.git", "https://gitlab.com/group/mod.git"),
        ("/srv/git/mod.git", ""),
        ("http://insecure.example/mod.git", ""),
    ],
)
def test_git_remotes_become_the_https_url_kcidb_wants(remote: str, url: str) -> None:
    assert kcidb.https_url(remote) == url


def test_export_writes_the_document_as_json() -> None:
    assert json.loads(kcidb.export(_real(), known=_facts())) == kcidb.document(_real(), known=_facts())


def test_each_subtest_is_a_test_under_its_tests_path() -> None:
    subtests = (Subtest("ioctl.sh/big write", Status.FAILED, "write returned -1 (EFBIG)\nmore"),
                Subtest("modules.sh/reads /proc/modules", Status.PASSED),
                Subtest("taptest/taptest_widths/width 64", Status.PASSED),
                Subtest("ioctl.sh/big write", Status.SKIPPED, "again"))  # fmt: skip
    began = "2026-11-27T12:00:05+00:00"
    run = _run("kernel_module", (TestRecord("module_tests", Status.FAILED, 3.0, "1 failed", started=began,
                                            subtests=subtests),))  # fmt: skip
    whole, failed, slashed, passed, again = _valid(kcidb.document(_record(run)))["tests"]
    assert slashed["path"] == "kmod.module_tests.modules_sh.reads__proc_modules"  # its own slashes: no levels
    assert whole["path"] == "kmod.module_tests" and failed["id"] == f"{whole['id']}/1"
    assert (failed["path"], failed["status"], failed["comment"]) == (
        "kmod.module_tests.ioctl_sh.big_write", "FAIL", "write returned -1 (EFBIG)"
    )  # fmt: skip
    assert failed["misc"]["message"] == "write returned -1 (EFBIG)\nmore" and failed["start_time"] == began
    assert (passed["path"], passed["status"]) == ("kmod.module_tests.taptest.taptest_widths_width_64", "PASS")
    assert again["path"] == failed["path"] and again["id"] != failed["id"]  # names may repeat, ids never


def test_a_known_failure_is_waived_by_an_incident_of_its_entrys_issue_and_a_fixed_one_has_it_absent() -> None:
    info = SubjectInfo("module", "leaky", "/src/leaky")
    tests = (
        TestRecord("build", Status.KNOWN, 1.0, "known: no 5.10 headers: make failed", known_failure="no 5.10 headers"),
        TestRecord("load", Status.PASSED, 1.0, "fixed?: passed, though a known failure (r): ok", known_failure="r"),
        TestRecord("unload", Status.KNOWN, 1.0, "known: r: BUG: x", known_failure="r"),
        TestRecord(
            "module_tests",
            Status.KNOWN,
            1.0,
            "known: r: 1 failed",
            known_failure="r",
            subtests=(Subtest("a.sh/ok", Status.PASSED), Subtest("a.sh/bad", Status.KNOWN, "known: r: 0")),
        ),
    )
    run = SubjectResults("5.10.0-32-amd64", "5.10", "qemu", "tcg", info, "kernel_module", tests)
    record = RunRecord("20261207-070000-abcd", "2026-12-07T07:00:00+00:00", "2026-12-07T07:01:00+00:00", "0.1.0", {},
                       (run,))  # fmt: skip
    document = _valid(kcidb.document(record))
    build_id = "vexfs_vmtest:20261207-070000-abcd:5.10:kernel_module:leaky"
    assert document["builds"][0]["status"] == "FAIL"
    statuses = {test["path"]: (test["status"], test["misc"].get("waived")) for test in document["tests"]}
    assert statuses == {
        "kmod.load": ("PASS", False),
        "kmod.unload": ("FAIL", True),
        "kmod.module_tests": ("FAIL", True),
        "kmod.module_tests.a_sh.ok": ("PASS", None),
        "kmod.module_tests.a_sh.bad": ("FAIL", None),
    }
    issues = {issue["comment"]: issue["id"] for issue in document["issues"]}
    assert set(issues) == {"no 5.10 headers", "r"} and issues["r"].startswith("vexfs_vmtest:known:")
    incidents = {(i.get("build_id") or i["test_id"]).rsplit(":", 1)[-1]: (i["issue_id"], i["present"])
                 for i in document["incidents"]}  # fmt: skip
    assert incidents == {"leaky": (issues["no 5.10 headers"], True), "load": (issues["r"], False),
                         "unload": (issues["r"], True), "module_tests": (issues["r"], True),
                         "module_tests/2": (issues["r"], True)}  # fmt: skip
    assert document["incidents"][0]["build_id"] == build_id
    assert "issues" not in kcidb.document(_real())  # no known failure: no issue


def test_a_flaky_test_is_a_fail_whose_misc_says_flaky() -> None:
    flaky = TestRecord("memory_leak", Status.FLAKY, 5.0, "flaky: failed 1/2 attempts: leaked 4 objects",
                       {"retry": {"attempts": 2, "statuses": ["failed", "passed"]}})  # fmt: skip
    hard = TestRecord("unload", Status.FAILED, 9.0, "failed 3/3 attempts: rmmod hung")
    document = _valid(kcidb.document(_record(_run("kernel_module", (flaky, hard)))))
    leak, unload = document["tests"]
    assert (leak["status"], leak["misc"]["flaky"], leak["misc"]["metrics"]["retry"]["attempts"]) == ("FAIL", True, 2)
    assert unload["status"] == "FAIL" and "flaky" not in unload["misc"]
