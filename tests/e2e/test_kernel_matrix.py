"""`nox -s kernel-matrix` on two kernel lines: merged results, one table, one JUnit file, the HTML report."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from toolkit.domains.kernel_module import domain as kernel_module

from .conftest import VEXFS_TESTS

pytestmark = pytest.mark.e2e

REPO = Path(__file__).parents[2]
NOISE = ("paramiko", "fabric", "invoke.", "Vagrant executable", "Traceback")


def test_two_line_matrix_merges_results_and_prints_one_table(box, tmp_path: Path) -> None:  # noqa: ANN001
    results = tmp_path / "results"
    done = subprocess.run(
        [str(REPO / ".venv/bin/nox"), "-s", "kernel-matrix", "--", "--kernels", "bookworm,5.10", "--cycles", "5",
         "--domains", "kernel_module"],
        cwd=REPO, capture_output=True, text=True, timeout=1800, env={**os.environ, "VEXFS_RESULTS_DIR": str(results)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    header = next(line for line in done.stdout.splitlines() if line.startswith("kernel "))
    assert header.split()[:5] == ["kernel", "release", "module", "build", "load"]
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith(("5.10 ", "6.1 "))]
    assert [row[0] for row in rows] == ["5.10", "6.1"] and all(set(row[3:]) == {"PASS"} for row in rows)
    assert f"{2 * VEXFS_TESTS} passed, 0 failed, 0 error, 0 skipped" in done.stdout

    latest = results / "latest"
    data = json.loads((latest / "results.json").read_text())
    assert [(run["kernel_line"], run["kernel"].split(".")[0]) for run in data["runs"]] == [("5.10", "5"), ("6.1", "6")]
    assert all(run["kernel_package"] for run in data["runs"])
    suites = ET.parse(latest / "junit.xml").getroot().findall("testsuite")
    assert [suite.get("name") for suite in suites] == ["kernel_module.5.10.vexfs", "kernel_module.6.1.vexfs"]
    page = (latest / "report.html").read_text()
    assert page.count('<td class="passed"') == 2 * VEXFS_TESTS
    assert (latest / "5.10" / "vm" / "console.log").is_file() and (latest / "6.1" / "vm" / "console.log").is_file()
    vms = subprocess.run([str(REPO / ".venv/bin/invoke"), "vm.status"], cwd=REPO, capture_output=True, text=True).stdout
    assert "matrix-" not in vms


def test_a_named_matrix_run_names_its_vms_reads_its_config_and_says_only_its_own_words(box, tmp_path: Path) -> None:  # noqa: ANN001
    (tmp_path / "vmtest.toml").write_text('results_dir = "runs"\n')
    name = f"e2e{uuid.uuid4().hex[:6]}"
    env = {key: value for key, value in os.environ.items() if key != "VEXFS_RESULTS_DIR"}
    done = subprocess.run(
        [str(REPO / ".venv/bin/nox"), "-s", "kernel-matrix", "--", "-k", "6.1", "--domains", "kernel_module",
         "-m", str(REPO / "tests/e2e/modules/compile_error"), "-n", name, "--keep-build",
         "--config", str(tmp_path / "vmtest.toml")],
        cwd=REPO, capture_output=True, text=True, timeout=900, env=env,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"VM matrix-{name}-6.1 up" in done.stderr
    said = [line for line in done.stderr.splitlines() if not line.startswith("nox > ")]
    assert not [line for line in said if any(noise in line for noise in NOISE)], said
    latest = tmp_path / "runs" / "latest"
    [run] = json.loads((latest / "results.json").read_text())["runs"]
    assert [test["status"] for test in run["tests"]] == ["failed"] + ["skipped"] * (len(kernel_module.DOMAIN.cases) - 1)
    assert (latest / "6.1" / "src" / "compile_error.c").is_file(), "--keep-build keeps the build tree"
    vms = subprocess.run([str(REPO / ".venv/bin/invoke"), "vm.status"], cwd=REPO, capture_output=True, text=True).stdout
    assert f"matrix-{name}" not in vms
