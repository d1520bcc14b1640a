"""A verdict that holds on a shared machine: a run killed, hung up on or cut off never reads as passed, every
planned test ends with a verdict, and nothing another checkout's command does touches a run's VM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkit import config
from toolkit.domains.kernel_module import domain as kernel_module
from toolkit.machines import registry, vm_record

from .conftest import INVOKE, MODULES, REPO, invoke, processes_mentioning

pytestmark = pytest.mark.e2e

CLEAN = str(MODULES / "clean")
TESTS = len(kernel_module.DOMAIN.cases)
PASSED = TESTS - 1  # the clean module has no tests of its own: module_tests is skipped
# Names a script with an unset or hostile variable may give: each refused, nothing touched.
BAD_NAMES = ["", ".", "..", "../x", "a/b", "-x", "x" * 300, "a b", "$(touch PWNED)"]


def _show(results: Path) -> dict:
    shown = subprocess.run([INVOKE, "results.show", "--json"], cwd=REPO, capture_output=True, text=True,
                           env={**os.environ, "VEXFS_RESULTS_DIR": str(results)}, timeout=60)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def _verdicts(shown: dict) -> int:
    return sum(len(row["tests"]) for row in shown["rows"])


@pytest.fixture
def names() -> Iterator[list[str]]:
    made = [f"rel-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    yield made
    for name in made:
        invoke("vm.destroy", "--name", name)


def test_a_run_killed_at_a_test_reads_as_abandoned_and_never_as_passed(start, vm_name: str, tmp_path: Path) -> None:
    run = start("test.kernel", "--name", vm_name, "--module-dir", CLEAN)
    run.wait_for(f"(4/{TESTS}) lifecycle_stress")
    run.stop(signal.SIGKILL)
    shown = _show(tmp_path / "results")
    assert (shown["state"], shown["exit_status"], _verdicts(shown)) == ("abandoned", 1, TESTS)
    passed = shown["summary"]["passed"]
    assert 3 <= passed < TESTS and shown["summary"]["error"] == TESTS - passed
    summary = tmp_path / "results" / shown["run_id"] / "summary.txt"
    assert f"still running: no verdict yet; {passed} of {TESTS} planned tests" in summary.read_text()
    pruned = invoke("results.prune", env={"VEXFS_RESULTS_DIR": str(tmp_path / "results")})
    assert f"run {shown['run_id']}, left running by a process now gone, marked abandoned" in pruned.stdout
    assert "abandoned: its process ended without finishing it" in summary.read_text()


def test_a_hangup_at_a_test_is_an_interruption_with_every_planned_test_accounted_for(
    start, vm_name: str, tmp_path: Path
) -> None:
    run = start("test.kernel", "--name", vm_name, "--module-dir", CLEAN, "--quick")
    run.wait_for(f"(3/{TESTS}) unload: passed")
    status, seconds = run.stop(signal.SIGHUP)
    assert (status, seconds < 20) == (129, True), run.text
    shown = _show(tmp_path / "results")
    assert (shown["state"], shown["exit_status"], _verdicts(shown)) == ("interrupted", 1, TESTS)
    assert processes_mentioning(f"vexfs-{vm_name}") == [], "the VM the run made goes with it"


def test_a_closed_output_pipe_does_not_end_the_run(vm_name: str, tmp_path: Path) -> None:
    results = tmp_path / "results"
    line = f"{INVOKE} test.kernel --name {vm_name} --module-dir {CLEAN} --quick 2>&1 >/dev/null | head -2"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", line], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "VEXFS_RESULTS_DIR": str(results)}, timeout=900)  # fmt: skip
    assert len(done.stdout.splitlines()) == 2
    shown = _show(results)
    assert (shown["state"], shown["exit_status"], shown["summary"]["passed"]) == ("finished", 0, PASSED)


def test_a_vm_folder_removed_mid_run_is_no_silent_pass(start, vm_name: str, tmp_path: Path) -> None:
    run = start("test.kernel", "--name", vm_name, "--module-dir", CLEAN)
    run.wait_for(f"(4/{TESTS}) lifecycle_stress")
    shutil.rmtree(vm_record.vm_dir(config.load(), vm_name))
    assert run.process.wait(timeout=300) == 1, run.text
    shown = _show(tmp_path / "results")
    assert (shown["state"], _verdicts(shown)) == ("finished", TESTS)
    assert shown["summary"]["passed"] < TESTS and shown["summary"]["error"] >= 1
    assert "is lost: its folder" in run.text or "guest trouble" in run.text
    registry.sweep(config.load())  # its QEMU, whose folder is gone, as the next command that starts VMs would


def _another_checkout(tmp_path: Path) -> Path:
    """A second clone of this repository: its own tasks.py and toolkit, the same user's VMs."""
    clone = tmp_path / "other-checkout"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(clone)], check=True)
    return clone


def test_two_checkouts_run_side_by_side_while_a_third_looks_and_destroys_bad_names(
    names: list[str], tmp_path: Path
) -> None:
    other = _another_checkout(tmp_path)
    stop = threading.Event()
    refused: list[int] = []

    def hostile() -> None:
        while not stop.is_set():
            invoke("vm.status")
            for bad in BAD_NAMES:
                refused.append(invoke("vm.destroy", "--name", bad).returncode)

    runs = [
        subprocess.Popen([INVOKE, "--search-root", str(checkout), "test.kernel", "--name", name, "--module-dir", CLEAN,
                          "--quick"], cwd=checkout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env={**os.environ, "VEXFS_RESULTS_DIR": str(tmp_path / f"results-{name}")})
        for checkout, name in ((REPO, names[0]), (other, names[1]))
    ]  # fmt: skip
    looker = threading.Thread(target=hostile)
    looker.start()
    try:
        outputs = [process.communicate(timeout=900)[0] for process in runs]
    finally:
        stop.set()
        looker.join()
    for name, process, output in zip(names, runs, outputs, strict=True):
        assert process.returncode == 0, output
        shown = _show(tmp_path / f"results-{name}")
        assert (shown["state"], shown["summary"]["passed"]) == ("finished", PASSED), output
        assert vm_record.exists(config.load(), name) and processes_mentioning(f"vexfs-{name}")
    assert refused and set(refused) == {2}, "every bad name refused with a usage error"
    assert not (REPO / "PWNED").exists()
    print(f"two checkouts {TESTS}/{TESTS} each while {len(refused)} destroys of bad names were refused")


@pytest.mark.full
def test_a_make_left_running_by_a_killed_run_is_ended_by_the_next_build(start, vm_name: str) -> None:
    slow = str(MODULES / "slow_build")
    run = start("test.kernel", "--name", vm_name, "--module-dir", slow, "--only", "build")
    run.wait_for("building")
    time.sleep(2)  # make has started: Kbuild holds it in its sleep
    run.stop(signal.SIGKILL)
    assert any("make" in line for line in processes_mentioning("slow_build")), "make outlives a SIGKILL"
    again = invoke("test.kernel", "--name", vm_name, "--module-dir", slow, "--only", "build")
    assert "a killed build had left its make running" in again.stderr, again.stderr
    assert again.returncode == 0, again.stdout + again.stderr
    assert processes_mentioning("slow_build") == []
