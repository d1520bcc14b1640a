"""The kernel_module domain on a real VM: each broken fixture module gets the right red test,
in the kernel's own words; the clean ones stay green."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkit import pipeline, plans
from toolkit.config import Settings
from toolkit.domains.kernel_module import domain as kernel_module
from toolkit.machines import registry
from toolkit.machines.vm_record import vm_dir
from toolkit.results import schema
from toolkit.results.records import RunRecord, Status, SubjectResults

from .conftest import VEXFS_TESTS, qemu_processes_for, source_line

pytestmark = pytest.mark.e2e

REPO = Path(__file__).parents[2]
MODULES = Path(__file__).parent / "modules"


@pytest.fixture(scope="module")
def vm(settings: Settings, box) -> Iterator[str]:  # noqa: ANN001
    name = f"e2e-km-{uuid.uuid4().hex[:6]}"
    yield name
    registry.open_existing(settings, name).destroy()
    assert qemu_processes_for(name) == []


def run_module(settings: Settings, vm: str, results: Path, **values: object) -> RunRecord:
    """The kernel_module domain as `invoke test.kernel` runs it; its results.json keeps the contract."""
    record = pipeline.one_vm(settings, [plans.plan("kernel_module", values)], vm, results)
    assert schema.problems(json.loads((results / record.run_id / "results.json").read_text())) == []
    return record


def _run(settings: Settings, vm: str, tmp_path: Path, module: str) -> SubjectResults:
    record = run_module(settings, vm, tmp_path / "results", module_dir=MODULES / module)
    assert (tmp_path / "results" / record.run_id / "6.1" / "vm" / "console.log").is_file()
    [run] = record.runs
    return run


def _statuses(run: SubjectResults) -> dict[str, Status]:
    return {test.name: test.status for test in run.tests}


def _test(run: SubjectResults, name: str):  # noqa: ANN202
    return next(test for test in run.tests if test.name == name)


def test_clean_module_passes_every_test_and_has_none_of_its_own(settings, vm, tmp_path) -> None:
    run = _run(settings, vm, tmp_path, "clean")
    assert len(run.tests) == len(kernel_module.DOMAIN.cases)
    assert _statuses(run) == {**dict.fromkeys(_statuses(run), Status.PASSED), "module_tests": Status.SKIPPED}
    assert _test(run, "module_tests").message.startswith("no tests/*.sh in ")  # clean has no tests of its own
    assert _test(run, "memory_leak").metrics["leaked_bytes"] == 0
    assert _test(run, "build").metrics["where"] == "chroot"


def test_leaking_module_fails_memory_leak_with_its_call_site(settings, vm, tmp_path) -> None:
    run = _run(settings, vm, tmp_path, "leaky")
    leak = _test(run, "memory_leak")
    assert leak.status is Status.FAILED
    assert leak.metrics["leaked_objects"] == 4 and leak.metrics["leaked_bytes"] == 256
    assert leak.metrics["call_sites"] == ["leaky_init+0x21: 4 x, 256 bytes"] or "leaky_init" in leak.message
    allocated = source_line(MODULES / "leaky" / "leaky.c", "kmalloc(")
    assert f"leaked 4 objects, 256 bytes: leaky.c:{allocated} (leaky_init): 4 x, 256 bytes" in leak.message
    assert any("kmalloc: call_site=" in line for line in leak.kernel_log)
    assert _statuses(run)["load"] is Status.PASSED and _statuses(run)["unload"] is Status.PASSED


def test_module_oopsing_in_exit_fails_unload_with_the_oops(settings, vm, tmp_path) -> None:
    run = _run(settings, vm, tmp_path, "oops_exit")
    unload = _test(run, "unload")
    assert unload.status is Status.FAILED
    faulted = source_line(MODULES / "oops_exit" / "oops_exit.c", "->value")
    assert f"BUG: unable to handle kernel NULL pointer dereference in oops_exit_exit at oops_exit.c:{faulted}" in (
        unload.message
    )
    assert any("oops_exit_exit" in line for line in unload.kernel_log)
    for name in ("lifecycle_stress", "memory_leak", "concurrency", "error_handling"):
        assert _test(run, name).status is Status.SKIPPED and "needs unload to pass" in _test(run, name).message


def test_module_whose_timer_fires_after_unload_fails_unload_once_the_kernel_reports_it(settings, vm, tmp_path) -> None:
    """rmmod returns; the timer it left armed oopses in the softirq: the probe or check that follows is given up once
    the report is complete, not at its timeout, and the console from before the rollback is kept."""
    run = _run(settings, vm, tmp_path, "timer_after_unload")
    unload = _test(run, "unload")
    assert unload.status is Status.FAILED
    assert "given up after" in unload.message and "BUG: unable to handle kernel paging request in" in unload.message
    assert any("unable to handle page fault" in line for line in unload.kernel_log)
    kept = list((tmp_path / "results").glob("*/6.1/rolled-back/*-console-*.log"))
    assert any("unable to handle page fault" in path.read_text() for path in kept)


def test_an_ioctl_writing_where_another_freed_fails_with_the_slab_poison_report(settings, vm, tmp_path) -> None:
    """SET after RESET writes into the freed table: the ioctl list, run over once per buffer, puts SET after RESET."""
    run = _run(settings, vm, tmp_path, "ioctl_after_free")
    for name in ("memory_leak", "interfaces"):
        test = _test(run, name)
        assert test.status is Status.FAILED and "SLUB: Poison overwritten in kmalloc-32" in test.message, test.message
    assert _statuses(run)["load"] is Status.PASSED and _statuses(run)["unload"] is Status.PASSED


def test_module_whose_init_never_returns_fails_with_the_hung_task_report(settings, vm, tmp_path) -> None:
    run = _run(settings, vm, tmp_path, "hang_init")
    for name in ("load", "hang_detection"):
        test = _test(run, name)
        assert test.status is Status.FAILED
        assert "INFO: task hung in hang_init_init" in test.message
    assert _test(run, "unload").status is Status.SKIPPED


def test_module_keeping_the_cpu_busy_fails_hang_detection_with_a_soft_lockup(settings, vm, tmp_path) -> None:
    run = _run(settings, vm, tmp_path, "busy_init")
    hang = _test(run, "hang_detection")
    assert hang.status is Status.FAILED
    assert "soft lockup" in hang.message
    assert any("busy_init_init" in line for line in hang.kernel_log)


def test_module_whose_init_fails_fails_load_with_the_errno_and_its_message(settings, vm, tmp_path) -> None:
    run = _run(settings, vm, tmp_path, "init_fail")
    load = _test(run, "load")
    assert load.status is Status.FAILED and load.message.endswith("No such device (ENODEV)")
    assert any("init_fail: no device here" in line for line in load.kernel_log)
    assert _test(run, "hang_detection").status is Status.SKIPPED
    assert _test(run, "unload").status is Status.SKIPPED


def test_module_that_does_not_compile_fails_build_quoting_the_compiler(settings, vm, tmp_path) -> None:
    run = _run(settings, vm, tmp_path, "compile_error")
    build = _test(run, "build")
    assert build.status is Status.FAILED
    assert "error: 'undefined_thing' undeclared" in build.message
    assert [t.status for t in run.tests[1:]] == [Status.SKIPPED] * (len(kernel_module.DOMAIN.cases) - 1)


def test_vexfs_from_the_command_line_is_all_green_and_writes_results(vm, tmp_path) -> None:
    results = tmp_path / "results"
    done = subprocess.run(
        [str(REPO / ".venv/bin/invoke"), "test.kernel", "--name", vm],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "VEXFS_RESULTS_DIR": str(results)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{VEXFS_TESTS} passed, 0 failed, 0 error, 0 skipped" in done.stdout
    latest = results / "latest"
    assert {p.name for p in latest.iterdir()} >= {"results.json", "junit.xml", "summary.txt", "6.1"}
    assert "registers filesystem vexfs" in (latest / "summary.txt").read_text()


def test_a_directory_building_two_modules_tests_the_one_chosen(settings, vm, tmp_path) -> None:
    record = run_module(settings, vm, tmp_path / "results", module_dir=MODULES / "pair", module="second")
    assert [run.subject.name for run in record.runs] == ["second"]
    statuses = {test.name: test.status for test in record.runs[0].tests}
    assert statuses == {**dict.fromkeys(statuses, Status.PASSED), "module_tests": Status.SKIPPED}  # no tests of its own


def test_choosing_a_module_the_directory_does_not_build_is_a_usage_error(vm) -> None:
    done = subprocess.run(
        [str(REPO / ".venv/bin/invoke"), "test.kernel", "--name", vm, "--module-dir", str(MODULES / "pair"),
         "--module", "third"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2
    assert "builds first, second, not third" in done.stderr and "Traceback" not in done.stderr


def test_module_paths_and_parameters_reach_the_guest_literally(settings, vm, tmp_path) -> None:
    odd_dir = tmp_path / "mod dir $(touch PWNED); 'q'"
    shutil.copytree(REPO / "kernel" / "vexfs", odd_dir, ignore=shutil.ignore_patterns("*.ko", "*.o", ".*.cmd"))
    greeting = "greeting=hi;$(touch${IFS}/tmp/pwned)'q'`id`"
    record = run_module(settings, vm, tmp_path / "results", module_dir=odd_dir, params=[greeting], cycles=2)
    assert {test.status for test in record.runs[0].tests} == {Status.PASSED}
    machine = registry.open_existing(settings, vm)
    shown = machine.run(
        f"insmod /root/vexfs-vmtest/vexfs.ko {shlex.quote(greeting)} && cat /sys/module/vexfs/parameters/greeting;"
        " rmmod vexfs; test ! -e /tmp/pwned",
        timeout=60,
        sudo=True,
    )
    assert (shown.exit_status, shown.stdout.strip()) == (0, greeting.removeprefix("greeting="))
    assert not list(tmp_path.rglob("PWNED")) and not (REPO / "PWNED").exists()


def _invoke(vm: str, results: Path, *words: str, **environ: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / ".venv/bin/invoke"), "test.kernel", "--name", vm, *words], cwd=REPO, capture_output=True,
        text=True, timeout=900, env={**os.environ, "VEXFS_RESULTS_DIR": str(results), **environ},
    )  # fmt: skip


def test_a_quick_run_keeps_every_test_of_vexfs_and_takes_its_watch_from_concurrency(vm, tmp_path) -> None:
    done = _invoke(vm, tmp_path / "results", "--quick")
    assert done.returncode == 0, done.stdout + done.stderr
    [run] = json.loads((tmp_path / "results/latest/results.json").read_text())["runs"]
    tests = {test["name"]: test for test in run["tests"]}
    assert len(tests) == VEXFS_TESTS and {test["status"] for test in tests.values()} == {"passed"}
    quick = kernel_module.DOMAIN.quick
    assert tests["lifecycle_stress"]["metrics"]["cycles"] == quick["cycles"]
    assert tests["concurrency"]["metrics"]["watched_s"] >= quick["watch_s"]
    assert tests["hang_detection"]["metrics"]["watched_in"] == "concurrency"


def test_only_and_repeat_run_one_test_and_its_needs_again_and_again(settings, vm, tmp_path) -> None:
    """Two processes on one VM: this one holds the guest agent (as a test process that used the VM does), so the
    run goes over SSH and rolls the guest back after each leak over it; then this process's agent reaches the guest
    the run left."""
    machine = registry.define(settings, vm)
    machine.up()
    assert machine.run("echo ${SSH_CONNECTION:-agent}", timeout=60).stdout == "agent\n"
    commands_log = vm_dir(settings, vm) / "commands.log"
    clock_set_over_ssh = commands_log.read_text().count("date -u -s @")
    done = _invoke(vm, tmp_path / "results", "-m", str(MODULES / "leaky"), "--only", "memory_leak", "--repeat", "2")
    assert done.returncode == 1, done.stdout + done.stderr
    [run] = json.loads((tmp_path / "results/latest/results.json").read_text())["runs"]
    tests = {test["name"]: test for test in run["tests"]}
    assert list(tests) == ["build", "load", "unload", "memory_leak"], done.stdout + done.stderr
    assert tests["load"]["message"].startswith("passed 2/2: loaded in")
    assert tests["memory_leak"]["message"].startswith("failed 2/2: "), done.stdout + done.stderr
    assert tests["memory_leak"]["metrics"]["flaky"] is False
    rolled_back_over_ssh = commands_log.read_text().count("date -u -s @") - clock_set_over_ssh
    assert rolled_back_over_ssh >= 2, "the run's clock set over SSH after each roll-back: it did not hold the agent"
    assert machine.run("echo ${SSH_CONNECTION:-agent}", timeout=60).stdout == "agent\n"


@pytest.mark.full
def test_a_leak_that_happens_now_and_then_is_reported_flaky_with_its_rate(vm, tmp_path) -> None:
    done = _invoke(vm, tmp_path / "results", "-m", str(MODULES / "flaky_leak"), "--only", "memory_leak",
                   "--repeat", "10")  # fmt: skip
    [run] = json.loads((tmp_path / "results/latest/results.json").read_text())["runs"]
    leak = next(test for test in run["tests"] if test["name"] == "memory_leak")
    red = leak["metrics"]["repeat"]["statuses"].count("failed")
    assert leak["metrics"]["repeat"]["runs"] == 10 and done.returncode == (1 if red else 0)
    if 0 < red < 10:  # each run leaks with probability 1/2: all ten alike happens 2 times in 1024
        assert leak["metrics"]["flaky"] is True
        assert leak["message"].startswith(f"flaky: memory_leak failed {red}/10: ")


KNOWN_FAILURES = """module_dir = "."

[[known_failure]]
test = "memory_leak"
kernels = ["6.1"]
reason = "leaks in leaky_init, fix pending"

[[known_failure]]
test = "unload"
kernels = [">=6.0, <6.2"]
reason = "oopsed in exit before 1.2"
"""


def test_a_known_failure_file_turns_the_run_green_with_the_known_entry_shown(vm, tmp_path) -> None:
    module = tmp_path / "leaky"
    shutil.copytree(MODULES / "leaky", module)
    (module / "vmtest.toml").write_text(KNOWN_FAILURES)
    done = _invoke(vm, tmp_path / "results", "--only", "memory_leak", "--quick",
                   VEXFS_CONFIG=str(module / "vmtest.toml"))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [run] = json.loads((tmp_path / "results/latest/results.json").read_text())["runs"]
    tests = {test["name"]: test for test in run["tests"]}
    leak, unload = tests["memory_leak"], tests["unload"]
    assert (leak["status"], leak["known_failure"]) == ("known", "leaks in leaky_init, fix pending")
    assert leak["message"].startswith("known: leaks in leaky_init, fix pending: leaked 4 objects, 256 bytes")
    assert (unload["status"], unload["known_failure"]) == ("passed", "oopsed in exit before 1.2")
    assert "KNOWN" in done.stdout and "FIXED?" in done.stdout
    assert "  6.1 leaky memory_leak: known (leaks in leaky_init, fix pending)\n" in done.stdout
    assert "  6.1 leaky unload: fixed? (oopsed in exit before 1.2): its entry may go\n" in done.stdout
    assert "3 passed (1 fixed?), 0 failed, 0 error, 0 skipped, 1 known" in done.stdout


def test_a_leak_on_every_attempt_stays_failed_after_its_retry(vm, tmp_path) -> None:
    done = _invoke(vm, tmp_path / "results", "-m", str(MODULES / "leaky"), "--quick", "--only", "memory_leak",
                   "--retry", "1")  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    [run] = json.loads((tmp_path / "results/latest/results.json").read_text())["runs"]
    tests = {test["name"]: test for test in run["tests"]}
    leak = tests["memory_leak"]
    assert leak["status"] == "failed" and leak["message"].startswith("failed 2/2 attempts: "), leak["message"]
    assert leak["metrics"]["retry"]["statuses"] == ["failed", "failed"]
    assert all("leaky_init" in " ".join(titles) for titles in leak["metrics"]["retry"]["report_titles"]), leak[
        "metrics"
    ]["retry"]
    assert [tests[name]["status"] for name in ("build", "load", "unload")] == ["passed"] * 3
    assert "(retry 1/1) memory_leak: failed in " in done.stderr


def test_a_leak_that_happens_now_and_then_is_flaky_or_consistent_with_its_attempts(vm, tmp_path) -> None:
    """flaky_leak leaks at half its unloads: its first attempt is red one run in two, and then one of three
    retries passes seven times in eight; whatever the dice say, the verdict must match the attempts recorded."""
    done = _invoke(vm, tmp_path / "results", "-m", str(MODULES / "flaky_leak"), "--quick", "--only", "memory_leak",
                   "--retry", "3")  # fmt: skip
    [run] = json.loads((tmp_path / "results/latest/results.json").read_text())["runs"]
    leak = next(test for test in run["tests"] if test["name"] == "memory_leak")
    if leak["status"] == "passed":
        assert "retry" not in leak["metrics"] and done.returncode == 0, done.stdout + done.stderr
        return
    statuses = leak["metrics"]["retry"]["statuses"]
    assert done.returncode == 1 and statuses[0] == "failed", done.stdout + done.stderr
    if leak["status"] == "flaky":
        assert statuses[-1] == "passed" and set(statuses[:-1]) == {"failed"}
        assert leak["message"].startswith(f"flaky: failed {len(statuses) - 1}/{len(statuses)} attempts: ")
    else:
        assert leak["status"] == "failed" and statuses == ["failed"] * 4
        assert leak["message"].startswith("failed 4/4 attempts: ")
