"""SIGINT, SIGTERM and SIGKILL at several points of a run: it stops within seconds, keeps every finished
test in a valid results.json marked interrupted, and leaves no process, VM or scratch folder behind."""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path

import pytest

from toolkit import config
from toolkit.domains.kernel_module import domain as kernel_module
from toolkit.machines import vm_record

from .conftest import MODULES, SIGNALS, invoke, processes_mentioning

pytestmark = pytest.mark.e2e

TESTS = len(kernel_module.DOMAIN.cases)


def _saved(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "results" / "latest" / "results.json").read_text())


@pytest.mark.parametrize("name", ["SIGTERM", pytest.param("SIGINT", marks=pytest.mark.full)])
def test_a_signal_during_a_test_keeps_the_finished_tests_and_removes_the_vm_the_run_made(
    name: str, start, vm_name: str, tmp_path: Path
) -> None:
    signum, expected = SIGNALS[name]
    run = start("test.kernel", "--name", vm_name, "--module-dir", str(MODULES / "clean"))
    run.wait_for(f"(3/{TESTS}) unload: passed")
    status, seconds = run.stop(signum)
    assert status == expected, run.text
    assert seconds < 20, f"took {seconds:.1f} s to stop"
    saved = _saved(tmp_path)
    assert saved["interrupted"] is True
    assert [test["name"] for test in saved["runs"][0]["tests"]][:3] == ["build", "load", "unload"]
    assert f"interrupted by {name}" in run.text
    assert processes_mentioning(f"vexfs-{vm_name}") == []
    assert not vm_record.exists(config.load(), vm_name)
    print(f"{name} during a test: exit {status} after {seconds:.1f} s")


@pytest.mark.full
def test_a_signal_during_the_module_build_kills_make_and_rolls_the_existing_vm_back(start, vm_name, tmp_path) -> None:
    assert invoke("vm.up", "--name", vm_name).returncode == 0
    run = start("test.kernel", "--name", vm_name, "--module-dir", str(MODULES / "slow_build"))
    run.wait_for("building")
    status, seconds = run.stop(signal.SIGINT)
    assert (status, seconds < 15) == (130, True), run.text
    assert processes_mentioning("slow_build") == [] and processes_mentioning("sleep 60") == []
    assert vm_record.exists(config.load(), vm_name) and processes_mentioning(f"vexfs-{vm_name}")
    assert invoke("vm.run", "--name", vm_name, "--", "lsmod").stdout.count("slow_build") == 0
    print(f"SIGINT during the build: exit {status} after {seconds:.1f} s")


@pytest.mark.full
def test_a_signal_during_a_box_build_leaves_no_half_box_and_no_mmdebstrap(start, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    run = start("box.build", "--kernel", "6.1", env={"VEXFS_CACHE_DIR": str(cache)})
    run.wait_for("mmdebstrap bookworm")
    status, seconds = run.stop(signal.SIGTERM)
    assert (status, seconds < 15) == (143, True), run.text
    assert [p.name for p in (cache / "boxes").iterdir() if p.name.startswith(".building-")] == []
    assert processes_mentioning(str(cache)) == []
    print(f"SIGTERM during a box build: exit {status} after {seconds:.1f} s")


@pytest.mark.full
def test_a_signal_during_boot_removes_the_vm_being_made(start, vm_name: str) -> None:
    run = start("vm.up", "--name", vm_name, "--cold")
    time.sleep(3)  # QEMU started, the kernel booting
    status, seconds = run.stop(signal.SIGTERM)
    assert (status, seconds < 15) == (143, True), run.text
    assert processes_mentioning(f"vexfs-{vm_name}") == []
    assert not vm_record.exists(config.load(), vm_name)
    print(f"SIGTERM during boot: exit {status} after {seconds:.1f} s")


@pytest.mark.full
def test_after_sigkill_of_a_matrix_the_next_command_that_starts_a_vm_removes_its_vm(
    start, vm_name: str, tmp_path: Path
) -> None:
    run = start("-s", "kernel-matrix", "--", "--kernels", "6.1", "--cycles", "2",
                program=str(Path(__file__).parents[2] / ".venv" / "bin" / "nox"))  # fmt: skip
    run.wait_for(f"(2/{TESTS}) load")
    run.stop(signal.SIGKILL)
    assert processes_mentioning("vexfs-matrix-6.1")
    looked = invoke("vm.status")
    assert "[stale] VM matrix-6.1 of a matrix run that did not finish" in looked.stderr
    assert processes_mentioning("vexfs-matrix-6.1"), "a command that only looks removes nothing"
    cleanup = invoke("vm.up", "--name", vm_name)
    assert "removed VM matrix-6.1 of a matrix run that did not finish, left by an interrupted run" in cleanup.stderr
    assert processes_mentioning("vexfs-matrix-6.1") == []


@pytest.mark.full
def test_a_signal_while_a_second_guest_runs_a_test_removes_it_too(start, vm_name: str, tmp_path: Path) -> None:
    module = tmp_path / "taptest"
    shutil.copytree(MODULES / "taptest", module)
    (module / "tests" / "slow.sh").write_text("sleep 60; echo 'TAP version 13'; echo 1..1; echo 'ok 1 - slept'\n")
    only = "module_tests,memory_leak,error_handling"  # a CPU free meanwhile: slow.sh sleeps
    args = ("test.kernel", "--quick", "--name", vm_name, "--module-dir", str(module), "--only", only)
    assert invoke(*args, env={"VEXFS_RESULTS_DIR": str(tmp_path / "results")}).returncode == 0  # what a rerun splits by
    run = start(*args)
    run.wait_for("(6/6) module_tests: running for")  # build, load, unload, the others on the first guest meanwhile
    if "no second guest" in run.text:
        run.stop(signal.SIGKILL)
        pytest.skip(f"the host had no CPU to spare for a second guest: {run.text.split('no second guest')[1][:60]}")
    assert processes_mentioning(f"vexfs-apart-{vm_name}")
    status, seconds = run.stop(signal.SIGINT)
    assert (status, seconds < 20) == (130, True), run.text
    assert processes_mentioning(f"vexfs-apart-{vm_name}") == []
    assert not vm_record.exists(config.load(), f"apart-{vm_name}")
    print(f"SIGINT while a second guest ran a test: exit {status} after {seconds:.1f} s, both guests gone")
