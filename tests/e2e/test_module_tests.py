"""A module's own tests on a real VM: tests/e2e/modules/taptest's two TAP scripts run with it loaded, each TAP
test a subtest in results.json; loaded with answer=41, one of them fails and the test says which."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkit import pipeline, plans
from toolkit.config import Settings
from toolkit.domains import lanes
from toolkit.domains.kernel_module import domain as kernel_module
from toolkit.domains.selection import Selection
from toolkit.machines import registry
from toolkit.results import schema

from .conftest import qemu_processes_for

pytestmark = pytest.mark.e2e

TAPTEST = Path(__file__).parent / "modules" / "taptest"
ONLY = "module_tests"


@pytest.fixture(scope="module")
def vm(settings: Settings, box) -> Iterator[str]:  # noqa: ANN001
    name = f"e2e-tap-{uuid.uuid4().hex[:6]}"
    yield name
    registry.open_existing(settings, name).destroy()
    assert qemu_processes_for(name) == []


def _module_tests(settings: Settings, vm: str, results: Path, *params: str, module_dir: Path = TAPTEST) -> dict:
    """module_tests of taptest (and the tests it needs) as `--only module_tests` runs it: results.json's entry."""
    selection = Selection.parse(ONLY, None, kernel_module.DOMAIN.test_names)
    plan = plans.plan("kernel_module", {"module_dir": module_dir, "params": params}, selection)
    record = pipeline.one_vm(settings, [plan], vm, results)
    data = json.loads((results / record.run_id / "results.json").read_text())
    assert schema.problems(data) == []
    [run] = data["runs"]
    assert [test["name"] for test in run["tests"]] == ["build", "load", ONLY]
    return run["tests"][-1]


def test_each_tap_test_of_the_modules_scripts_is_a_subtest(settings: Settings, vm: str, tmp_path: Path) -> None:
    test = _module_tests(settings, vm, tmp_path / "results")
    assert test["status"] == "passed", test["message"]
    assert test["message"].startswith("2 scripts, 7 TAP tests: 6 passed, 1 skipped; no KUnit in 6.1."), test["message"]
    assert [(sub["name"], sub["status"]) for sub in test["subtests"]] == [
        ("modules.sh/taptest is live in /proc/modules", "passed"),
        ("modules.sh/its taint says out of tree (O)", "passed"),
        ("modules.sh/device /dev/taptest opens", "skipped"),
        ("sysfs.sh/it is in /sys/module/taptest", "passed"),
        ("sysfs.sh/its refcnt is 0", "passed"),
        ("sysfs.sh/parameter answer reads 42", "passed"),
        ("sysfs.sh/parameter answer takes 7", "passed"),
    ]
    assert test["subtests"][2]["message"] == "taptest makes no device node"
    print(f"taptest: {test['message']}")


def test_a_failing_tap_test_fails_the_test_naming_it(settings: Settings, vm: str, tmp_path: Path) -> None:
    test = _module_tests(settings, vm, tmp_path / "results", "answer=41")
    assert test["status"] == "failed"
    assert test["message"].endswith("(tests/sysfs.sh: 3 - parameter answer reads 42)"), test["message"]
    failed = [sub for sub in test["subtests"] if sub["status"] == "failed"]
    assert failed == [{"name": "sysfs.sh/parameter answer reads 42", "status": "failed", "message": "answer reads 41"}]
    print(f"taptest answer=41: {test['message']}")


ANSWER_C = r"""#include <stdio.h>
int main(void)
{
	FILE *f = fopen("/sys/module/taptest/parameters/answer", "r");
	int answer = 0;

	if (!f || fscanf(f, "%d", &answer) != 1)
		return 1;
	printf("TAP version 13\n1..1\n%s 1 - a program tests/Makefile built reads %d\n", answer == 42 ? "ok" : "not ok",
		answer);
	return 0;
}
"""


def _with_a_program(tmp_path: Path, source: str) -> Path:
    """taptest with a C program of its tests, built by tests/Makefile, and a script running it."""
    module = tmp_path / "taptest"
    shutil.copytree(TAPTEST, module)
    (module / "tests" / "Makefile").write_text("answer: answer.c\n\t$(CC) -O2 -o $@ answer.c\n")
    (module / "tests" / "answer.c").write_text(source)
    (module / "tests" / "program.sh").write_text('exec "$(dirname "$0")/answer"\n')
    return module


def test_the_programs_a_tests_makefile_builds_are_built_on_the_host_and_run_in_the_guest(
    settings: Settings, vm: str, tmp_path: Path
) -> None:
    test = _module_tests(settings, vm, tmp_path / "results", module_dir=_with_a_program(tmp_path, ANSWER_C))
    assert test["status"] == "passed", test["message"]
    assert test["message"].startswith("3 scripts, 8 TAP tests: 7 passed, 1 skipped"), test["message"]
    assert ("program.sh/a program tests/Makefile built reads 42", "passed") in [
        (sub["name"], sub["status"]) for sub in test["subtests"]
    ]
    [line] = [found for found in (tmp_path / "results").glob("*/6.1") if not found.parent.is_symlink()]
    assert "-O2 -o answer answer.c" in (line / "tests-make.log").read_text()
    assert "answer.c" not in (line / "vm" / "commands.log").read_text()  # the guest never compiled it


def test_a_tests_makefile_that_fails_fails_module_tests_with_the_compilers_error(
    settings: Settings, vm: str, tmp_path: Path
) -> None:
    test = _module_tests(settings, vm, tmp_path / "results", module_dir=_with_a_program(tmp_path, "int main(void) {"))
    assert test["status"] == "failed"
    assert test["message"].startswith("tests/Makefile: make failed (exit 2): answer.c:1:"), test["message"]
    print(f"a broken tests/Makefile: {test['message']}")


def test_a_rerun_takes_long_tests_to_a_second_guest_with_every_verdict_in_order(
    settings: Settings, vm: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Once a run of a module timed its tests, the next runs the long ones nothing needs (its own tests here, a
    20 s script, mostly asleep: the host keeps a CPU free) on a second guest restored from the same snapshot
    while the first runs the rest: every verdict, in order, and the second guest gone after."""
    module = tmp_path / "taptest"
    shutil.copytree(TAPTEST, module)
    (module / "tests" / "slow.sh").write_text("sleep 20; echo 'TAP version 13'; echo 1..1; echo 'ok 1 - slept'\n")
    # concurrency keeps the first guest busy for long enough that a second guest ends the run more than 5 s sooner
    selection = Selection.parse(f"{ONLY},memory_leak,error_handling,concurrency", None, kernel_module.DOMAIN.test_names)
    plan = plans.plan("kernel_module", {"module_dir": module}, selection, quick=True)
    names = [case.name for case in selection.cases(plan.domain.cases)]
    results = tmp_path / "results"
    runs = [pipeline.one_vm(settings, [plan], vm, results) for _ in range(2)]
    said = capfd.readouterr().err
    first, second = (json.loads((results / run.run_id / "results.json").read_text())["runs"][0] for run in runs)
    apart = lanes.apart(
        selection.cases(plan.domain.cases), {test["name"]: test["duration_s"] for test in first["tests"]}
    )
    assert apart == (ONLY,), first["tests"]
    assert [test["name"] for test in second["tests"]] == names
    assert [test["status"] for test in second["tests"]] == ["passed"] * len(names), second["tests"]
    assert not (results / runs[0].run_id / "6.1" / "second-guest").exists()
    assert qemu_processes_for(f"apart-{vm}") == []
    if "no second guest (the host's CPUs are busy" in said:
        pytest.skip(f"the host had no CPU to spare for a second guest: {said.split('no second guest')[1][:60]}")
    assert (results / runs[1].run_id / "6.1" / "second-guest" / "vm" / "commands.log").stat().st_size > 0
    assert f"[6.1 taptest, 2nd guest] ({len(names)}/{len(names)}) {ONLY}: passed" in said
    assert [test["name"] for test in second["tests"] if test["metrics"].get("second_guest")] == [ONLY]
    took = [sum(test["duration_s"] for test in run["tests"]) for run in (first, second)]
    print(f"taptest: {took[0]:.1f} s of tests in turn; then {ONLY} on a second guest")
