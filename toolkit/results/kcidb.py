"""A run as KernelCI KCIDB v5 data: one checkout per subject source, one build per kernel line and subject,
one test per test case (the `build` case is the build's status) and one per subtest, under its test's path.
A known failure is waived in KCIDB's terms: its status stays FAIL, and an incident links it to an issue, the
known-failure entry (its reason the comment); a known failure that passed (fixed?) has the incident absent.

`document` is pure: what it needs beyond the record (git facts of each source, the compiler of each
kernel line's box, the run folder for log links) comes in `Facts`, which `facts` reads from disk.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.boxes import store as box_store
from toolkit.errors import UserError
from toolkit.results import formats, reports
from toolkit.results.records import RunRecord, Status, SubjectResults, Subtest, TestRecord

ORIGIN = formats.KCIDB_ORIGIN
VERSION = {"major": 5, "minor": 3}
ARCHITECTURE = "x86_64"  # the boxes are Debian amd64
BUILD_TEST = "build"
# A test's path is `<prefix>.<test>`: the prefix kernel people would look for, else the domain's own name.
PATH_PREFIX = {"kernel_module": "kmod", "filesystem": "fs"}
# KCIDB has no flaky status: a flaky test is a FAIL (it fails the run), misc.flaky saying so.
STATUS = {Status.PASSED: "PASS", Status.FAILED: "FAIL", Status.ERROR: "ERROR", Status.FLAKY: "FAIL",
          Status.SKIPPED: "SKIP", Status.KNOWN: "FAIL"}  # fmt: skip
EXCERPT_MAX = 16384  # KCIDB's limit on log_excerpt
PREREQUISITE = "needs "  # how the runner words a skip whose prerequisite did not pass (toolkit/domains/base.py)
GIT_TIMEOUT_S = 10
ISSUE_VERSION = 1


@dataclass(frozen=True)
class Checkout:
    """Where a subject's source came from: its git work tree when it is one."""

    source: str
    tree_name: str
    repository: str = ""  # the remote `origin`'s URL, else the work tree's path
    commit: str = ""
    branch: str = ""
    name: str = ""  # `git describe --always --tags`
    uncommitted_changes: bool = False

    @classmethod
    def untracked(cls, source: str) -> Checkout:
        """A source git does not know (a plain folder, a built-in filesystem): only its name."""
        return cls(source, Path(source).name or source)


@dataclass(frozen=True)
class Facts:
    """What the export knows beyond the record: checkouts by source, compilers by kernel line, the run folder."""

    checkouts: dict[str, Checkout] = field(default_factory=dict)
    compilers: dict[str, str] = field(default_factory=dict)
    run_dir: Path | None = None


def _git(work_tree: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(work_tree), *args], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def checkout_of(source: str) -> Checkout:
    """A source directory's checkout as git sees it now; only its name when it is no git work tree."""
    path = Path(source)
    top = _git(path, "rev-parse", "--show-toplevel") if path.is_dir() else ""
    if not top:
        return Checkout.untracked(source)
    remote = _git(path, "remote", "get-url", "origin")
    branch = _git(path, "rev-parse", "--abbrev-ref", "HEAD")
    return Checkout(
        source=source,
        tree_name=re.sub(r"\.git$", "", (remote or top).rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]),
        repository=remote or top,
        commit=_git(path, "rev-parse", "HEAD"),
        branch="" if branch == "HEAD" else branch,
        name=_git(path, "describe", "--always", "--tags"),
        uncommitted_changes=bool(_git(path, "status", "--porcelain", "--", ".")),
    )


def facts(record: RunRecord, run_dir: Path | None, cache_dir: Path) -> Facts:
    """Read what `document` needs: git for every subject source, the boxes of the record's kernel lines."""
    sources = {run.subject.source for run in record.runs}
    boxes = {(box.kernel_line, box.kernel_package_version): box for box in box_store.list_boxes(cache_dir)}
    compilers = {}
    for run in record.runs:
        box = boxes.get((run.kernel_line, run.kernel_package))
        if box is not None:
            compilers[run.kernel_line] = box.compiler()
    return Facts({source: checkout_of(source) for source in sources}, compilers, run_dir)


def https_url(repository: str) -> str:
    """The https:// URL KCIDB wants for a git remote (scp-like and ssh:// forms converted), "" when it has none."""
    scp = re.fullmatch(r"[\w.-]+@([\w.-]+):(?!/)(.+)", repository)
    ssh = re.fullmatch(r"(?:ssh|git)://(?:[\w.-]+@)?([\w.-]+)(?::\d+)?/(.+)", repository)
    match = scp or ssh
    if match:
        host, path = match.groups()
        return f"https://{host}/{path}"
    return repository if repository.startswith("https://") else ""


def _url(facts: Facts, relative: str) -> str:
    """A file URI for a file of the run folder, "" when there is no such file."""
    if facts.run_dir is None or not (facts.run_dir / relative).is_file():
        return ""
    return (facts.run_dir / relative).resolve().as_uri()


def _excerpt(lines: tuple[str, ...] | list[str]) -> str:
    text = "\n".join(lines).replace("\0", "")
    return text if len(text) <= EXCERPT_MAX else text[: EXCERPT_MAX - 2].rsplit("\n", 1)[0] + "\n…"


def _status(run: SubjectResults, test: TestRecord) -> str:
    """KCIDB's word for a verdict; MISS when the line never started (no box, no VM: the harness failed)."""
    return "MISS" if not run.kernel else STATUS[test.status]


def _behind_failed_prerequisite(test: TestRecord) -> bool:
    return test.status is Status.SKIPPED and test.message.startswith(PREREQUISITE)


def _comment(test: TestRecord) -> str:
    first = test.message.splitlines()[0] if test.message else ""
    return f"not run, a prerequisite failed: {first}" if _behind_failed_prerequisite(test) else first


def _checkout(checkout: Checkout, record: RunRecord, origin: str, checkout_id: str) -> dict[str, Any]:
    data: dict[str, Any] = {"id": checkout_id, "origin": origin, "tree_name": checkout.tree_name,
                            "start_time": record.started}  # fmt: skip
    url = https_url(checkout.repository)
    if url:
        data["git_repository_url"] = url
    if checkout.commit:
        data["git_commit_hash"] = checkout.commit
    if checkout.name:
        data["git_commit_name"] = checkout.name
    if checkout.branch:
        data["git_repository_branch"] = checkout.branch
    misc: dict[str, Any] = {"source": checkout.source}
    if checkout.repository:
        misc["repository"] = checkout.repository
        misc["uncommitted_changes"] = checkout.uncommitted_changes
        misc["read_at"] = "export"  # git as it stood when exported, not necessarily when the run ran
    data["misc"] = misc
    return data


def _config_name(run: SubjectResults) -> str:
    """The kernel release (the line when it never started) and the debug tier, when the run recorded one."""
    return f"{run.kernel or run.kernel_line}{f' debug {run.debug}' if run.debug else ''}"


def _build(run: SubjectResults, record: RunRecord, facts: Facts, origin: str, checkout_id: str) -> dict[str, Any]:
    build_id = f"{origin}:{record.run_id}:{run.kernel_line}:{run.domain}:{run.subject.name}"
    data: dict[str, Any] = {"id": build_id, "origin": origin, "checkout_id": checkout_id,
                            "architecture": ARCHITECTURE, "config_name": _config_name(run)}  # fmt: skip
    if facts.compilers.get(run.kernel_line):
        data["compiler"] = facts.compilers[run.kernel_line]
    built = next((test for test in run.tests if test.name == BUILD_TEST), None)
    if built is not None:
        data["status"] = _status(run, built)
        data["duration"] = round(built.duration_s, 3)
        data["comment"] = _comment(built)
        if built.started:
            data["start_time"] = built.started
        if built.status is not Status.PASSED:
            data["log_excerpt"] = _excerpt(built.message.splitlines() + list(built.kernel_log))
    log = _url(facts, reports.run_files(run)["build log"])
    if log:
        data["log_url"] = log
    data["misc"] = {"kernel": run.kernel, "kernel_line": run.kernel_line, "kernel_package": run.kernel_package,
                    "debug": run.debug, "provider": run.provider, "accel": run.accel, "domain": run.domain,
                    "subject": run.subject.to_dict(), "metrics": built.metrics if built else {}}  # fmt: skip
    return data


def _path(domain: str, test: str, subtest: str = "") -> str:
    """`kmod.load`: the domain's prefix, a dot, the test (KCIDB allows letters, digits, _ and - between dots); a
    subtest below it as its source (a script, a KUnit suite), a dot, the rest of its name in one part
    (`kmod.module_tests.ioctl_sh.big_write`): a TAP test's name may hold slashes of its own (`reads /proc/x`)."""
    parts = (PATH_PREFIX.get(domain, domain), test, *(name for name in subtest.split("/", 1) if name))
    return ".".join(re.sub(r"[^a-zA-Z0-9_-]", "_", part) for part in parts)


def _test(
    run: SubjectResults, test: TestRecord, record: RunRecord, facts: Facts, origin: str, build_id: str
) -> dict[str, Any]:
    data: dict[str, Any] = {"id": f"{build_id}:{test.name}", "origin": origin, "build_id": build_id,
                            "path": _path(run.domain, test.name), "status": _status(run, test),
                            "comment": _comment(test), "duration": round(test.duration_s, 3)}  # fmt: skip
    if test.started:
        data["start_time"] = test.started
    if test.kernel_log:
        data["log_excerpt"] = _excerpt(reports.shown_log(test))
    files = reports.run_files(run)
    trace = f"{run.subject.name}-{test.name}.trace"
    named = [
        ("console.log", files["console"]),
        ("commands.log", files["commands"]),
        (trace, f"{run.kernel_line}/{trace}"),
    ]
    found = [(name, _url(facts, relative)) for name, relative in named]
    outputs = [{"name": name, "url": url} for name, url in found if url]
    if outputs:
        data["log_url"] = outputs[0]["url"]
        data["output_files"] = outputs
    data["environment"] = {
        "comment": f"{run.provider} VM ({run.accel or 'not started'}), kernel {_config_name(run)}",
        "misc": {"host": record.host.get("hostname", ""), "provider": run.provider, "accel": run.accel},
    }
    misc: dict[str, Any] = {"message": test.message, "metrics": test.metrics}
    if test.known_failure:
        misc["known_failure"] = test.known_failure
        misc["waived"] = test.status is Status.KNOWN
    if test.status is Status.FLAKY:
        misc["flaky"] = True
    if _behind_failed_prerequisite(test):
        misc["skip_reason"] = "prerequisite failed"
    data["misc"] = misc
    return data


def _subtest(
    run: SubjectResults, test: TestRecord, index: int, subtest: Subtest, build_id: str, origin: str
) -> dict[str, Any]:
    """A subtest as a test of its own, below its test's path; its id numbered in the test's (names may repeat)."""
    data: dict[str, Any] = {"id": f"{build_id}:{test.name}/{index}", "origin": origin, "build_id": build_id,
                            "path": _path(run.domain, test.name, subtest.name),
                            "status": "MISS" if not run.kernel else STATUS[subtest.status],
                            "comment": (subtest.message.splitlines() or [subtest.name])[0],
                            "misc": {"test": test.name, "subtest": subtest.name, "message": subtest.message}}  # fmt: skip
    if test.started:
        data["start_time"] = test.started
    return data


def _issue(reason: str, origin: str) -> dict[str, Any]:
    """A known-failure entry as a KCIDB issue, its id the same for the same reason in every run."""
    digest = hashlib.sha256(reason.encode()).hexdigest()[:16]
    return {"id": f"{origin}:known:{digest}", "version": ISSUE_VERSION, "origin": origin, "comment": reason,
            "misc": {"known_failure": reason}}  # fmt: skip


def _incident(kind: str, object_id: str, issue_id: str, present: bool, origin: str) -> dict[str, Any]:
    """An issue present in the test or build (kind: test_id, build_id) it turned known, or absent in one that
    passed (fixed?)."""
    return {"id": f"{object_id}:known", "origin": origin, "issue_id": issue_id, "issue_version": ISSUE_VERSION,
            kind: object_id, "present": present}  # fmt: skip


def document(record: RunRecord, origin: str = ORIGIN, known: Facts | None = None) -> dict[str, Any]:
    """The run as KCIDB data: checkouts, builds and tests, ids prefixed with `origin:`."""
    if not re.fullmatch(r"[a-z0-9_]+", origin):
        raise UserError(f"origin {origin!r} is not a KCIDB origin: use lowercase letters, digits and _ only")
    known = known or Facts()
    checkouts: dict[str, dict[str, Any]] = {}
    builds, tests, incidents = [], [], []
    issues: dict[str, dict[str, Any]] = {}
    for run in record.runs:
        source = run.subject.source
        if source not in checkouts:
            checkout = known.checkouts.get(source) or Checkout.untracked(source)
            checkouts[source] = _checkout(checkout, record, origin, f"{origin}:{record.run_id}:{len(checkouts)}")
        build = _build(run, record, known, origin, checkouts[source]["id"])
        builds.append(build)
        for test in run.tests:
            if test.name != BUILD_TEST:
                tests.append(_test(run, test, record, known, origin, build["id"]))
            if test.known_failure:
                issue = issues.setdefault(test.known_failure, _issue(test.known_failure, origin))["id"]
                present = test.status is Status.KNOWN
                if test.name == BUILD_TEST:
                    incidents.append(_incident("build_id", build["id"], issue, present, origin))
                else:
                    incidents.append(_incident("test_id", f"{build['id']}:{test.name}", issue, present, origin))
                incidents += [_incident("test_id", f"{build['id']}:{test.name}/{index}", issue, True, origin)
                              for index, sub in enumerate(test.subtests, 1) if sub.status is Status.KNOWN]  # fmt: skip
            tests += [
                _subtest(run, test, index, sub, build["id"], origin) for index, sub in enumerate(test.subtests, 1)
            ]
    data = {"version": dict(VERSION), "checkouts": list(checkouts.values()), "builds": builds, "tests": tests}
    return {**data, "issues": list(issues.values()), "incidents": incidents} if incidents else data


def export(record: RunRecord, origin: str = ORIGIN, known: Facts | None = None) -> str:
    return json.dumps(document(record, origin, known), indent=2) + "\n"
