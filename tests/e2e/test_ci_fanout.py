"""CI fan-out on this machine: two kernel lines run the way two CI jobs run them (ci/), each its own
`nox -s "kernel-line(line=...)"` into its own results folder, then `invoke results.merge` of both."""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from kcidb_io.schema import V5_3

from .conftest import VEXFS_TESTS

pytestmark = pytest.mark.e2e

REPO = Path(__file__).parents[2]
QUICK = ["--domains", "kernel_module", "--cycles", "3"]


def _job(command: str, workdir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """One CI job's step: a shell command in the job's folder, with the job's environment."""
    done = subprocess.run(
        ["bash", "-c", command], cwd=workdir, capture_output=True, text=True, timeout=1800, env={**os.environ, **env}
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_lines_run_by_separate_jobs_merge_into_one_run(box, tmp_path: Path) -> None:  # noqa: ANN001
    for line in ("6.1", "5.10"):
        nox = f"{REPO}/.venv/bin/nox -f {REPO}/noxfile.py -s \"kernel-line(line='{line}')\" -- {' '.join(QUICK)}"
        _job(nox, REPO, VEXFS_RESULTS_DIR=str(tmp_path / f"results-{line}"))
    invoke = f"{REPO}/.venv/bin/invoke --search-root {REPO}"
    merged = _job(f"{invoke} results.merge results-*/*/", tmp_path, VEXFS_RESULTS_DIR=str(tmp_path / "results"))
    assert "merged 2 line run(s) into" in merged.stdout

    run = (tmp_path / "results" / "latest").resolve()
    data = json.loads((run / "results.json").read_text())
    assert [r["kernel_line"] for r in data["runs"]] == ["5.10", "6.1"]
    assert data["summary"] == {"passed": 2 * VEXFS_TESTS, "failed": 0, "error": 0, "flaky": 0, "skipped": 0, "known": 0}
    jobs = [
        json.loads((tmp_path / f"results-{line}" / "latest" / "results.json").read_text()) for line in ("6.1", "5.10")
    ]
    assert (data["started"], data["finished"]) == (jobs[0]["started"], jobs[1]["finished"])
    suites = ET.parse(run / "junit.xml").getroot().findall("testsuite")
    each = str(VEXFS_TESTS + 1)  # every test, and kernel/vexfs's tests/smoke.sh: module_tests' one subtest
    assert [(s.get("name"), s.get("tests"), s.get("failures")) for s in suites] == [
        ("kernel_module.5.10.vexfs", each, "0"), ("kernel_module.6.1.vexfs", each, "0"),
    ]  # fmt: skip
    kcidb = V5_3.validate_exactly(json.loads((run / "kcidb.json").read_text()))
    assert (
        len(kcidb["builds"]) == 2 and len(kcidb["tests"]) == 2 * VEXFS_TESTS
    )  # build is the build; smoke.sh a subtest
    assert {test["status"] for test in kcidb["tests"]} == {"PASS"}
    assert all((run / line / "vm" / "console.log").is_file() for line in ("5.10", "6.1"))
    assert 'href="5.10/vm/console.log"' in (run / "report.html").read_text()
