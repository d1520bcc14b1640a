"""One command line: every task's flags and the matrix's come from the same declarations, short flags from one table."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkit import domains, kernels, matrix_cli, runs
from toolkit.errors import UserError
from toolkit.run_options import MATRIX, TEST_FS, TEST_KERNEL
from toolkit.short_flags import SHORT_FLAGS
from toolkit.tasks import ns
from toolkit.tasks.kernel import compile_jobs

INVOKE_CORE = set("cdDefFhlprRTVw")  # invoke's own short flags, given before a task's name
MODULE = str(Path(__file__).parents[2] / "kernel" / "vexfs")


def _task_flags() -> Iterator[tuple[str, str, tuple[str, ...], str]]:
    """(task, long flag, its short letters, help) of every task's every flag."""
    for context in ns.to_contexts():
        for argument in context.args.values():
            long, *short = argument.names
            yield context.name, long, tuple(short), argument.help or ""


def _matrix_flags() -> Iterator[tuple[str, tuple[str, ...], str]]:
    for action in matrix_cli.parser()._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        long = next(name for name in action.option_strings if name.startswith("--"))
        short = tuple(name[1:] for name in action.option_strings if not name.startswith("--"))
        yield long[2:], short, action.help or ""


def test_a_short_flag_means_one_option_in_every_task_and_in_the_matrix() -> None:
    meaning: dict[str, set[str]] = {}
    for _, long, letters, _ in _task_flags():
        for letter in letters:
            meaning.setdefault(letter, set()).add(long)
    for long, letters, _ in _matrix_flags():
        for letter in letters:
            meaning.setdefault(letter, set()).add(long)
    assert meaning == {letter: set(longs) for letter, longs in SHORT_FLAGS.items()}
    assert not INVOKE_CORE & set(meaning), "a task's short flag would mean something else before the task's name"


def test_every_flag_with_a_letter_in_the_table_has_it_and_no_other() -> None:
    for task, long, letters, _ in _task_flags():
        wanted = tuple(letter for letter, longs in SHORT_FLAGS.items() if long in longs)
        assert letters == wanted, f"{task} --{long}"


def test_every_task_takes_a_settings_file() -> None:
    tasks = {context.name: {argument.name for argument in context.args.values()} for context in ns.to_contexts()}
    assert [task for task, flags in tasks.items() if "config" not in flags] == []
    assert "config" in {long for long, _, _ in _matrix_flags()}


def test_test_kernel_test_fs_and_the_matrix_take_the_same_flags_with_the_same_help() -> None:
    def help_without_default(text: str) -> str:
        return text.split(" (default ")[0]

    by_task: dict[str, dict[str, str]] = {}
    for task, long, _, text in _task_flags():
        by_task.setdefault(task, {})[long] = help_without_default(" ".join(text.split()))
    matrix = {long: help_without_default(" ".join(text.split())) for long, _, text in _matrix_flags()}
    assert by_task["test.kernel"] == by_task["test.fs"]
    one_vm = {flag: text for flag, text in by_task["test.kernel"].items() if flag != "kernel"}
    assert {flag: text for flag, text in matrix.items() if flag not in ("kernels", "jobs", "hosts")} == one_vm
    assert {"module-param", "name", "build-in", "cycles", "debug", "domains", "keep-build"} <= set(one_vm)


def test_the_defaults_said_in_help_are_those_a_run_gets() -> None:
    helps = {flag.field: flag.described() for flag in TEST_KERNEL.flags()}
    assert helps["domains"].endswith("(default kernel_module)") and helps["name"].endswith("(default default)")
    assert helps["cycles"].endswith("(default 20)")
    matrix = {flag.field: flag.described() for flag in MATRIX.flags()}
    assert matrix["kernels"].endswith(f"(default {','.join(line.name for line in kernels.CATALOGUE)})")
    assert matrix["domains"].endswith(f"(default {','.join(domains.registered())})")


def test_test_kernel_runs_the_domains_asked_for_on_its_one_vm(tmp_path: Path) -> None:
    alone = TEST_KERNEL.request({"module_dir": MODULE}, None)
    assert [plan.domain.name for plan in alone.plans] == ["kernel_module"] and alone.name == "default"
    both = TEST_KERNEL.request({"module_dir": MODULE, "domains": "kernel_module,filesystem", "name": "x"}, None)
    assert [plan.domain.name for plan in both.plans] == ["filesystem", "kernel_module"] and both.name == "x"
    assert [line.name for line in both.lines] == [kernels.DEFAULT]
    assert [plan.domain.name for plan in TEST_FS.request({}, None).plans] == ["filesystem"]


def test_only_keeps_the_domains_that_have_the_tests_asked_for_and_repeat_goes_with_them() -> None:
    values = {"module_dir": MODULE, "domains": "kernel_module,filesystem", "only": "memory_leak", "repeat": "3"}
    (plan,) = TEST_KERNEL.request(values, None).plans
    assert plan.domain.name == "kernel_module" and plan.selection.only == ("memory_leak",)
    assert plan.selection.repeat == 3
    with pytest.raises(UserError, match="--repeat must be at least 1, not 0"):
        MATRIX.request({"repeat": "0"}, None)


def test_an_option_of_a_domain_the_run_leaves_out_is_refused() -> None:
    with pytest.raises(UserError, match=r"--fs-type, --mount-cycles: no domain of this run \(kernel_module\) takes it"):
        TEST_KERNEL.request({"fs_type": "ext4", "mount_cycles": "3", "cycles": "2"}, None)
    assert TEST_KERNEL.request({"params": ["a=1"], "keep_build": True, "cycles": "2"}, None).plans


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"jobs": "0"}, "--jobs must be at least 1, not 0"),
        ({"jobs": "two"}, "--jobs must be a whole number, not 'two'"),
        ({"cycles": "abc"}, "--cycles must be a whole number, not 'abc'"),
        ({"kernels": "6.1,4.4"}, "unknown kernel line '4.4'"),
        ({"domains": "network"}, "unknown domain 'network'"),
        ({"provider": "xen"}, "unknown provider 'xen'"),
        ({"jobs": "99999999999999999999"}, "--jobs must be at most 64, not 99999999999999999999"),
        ({"repeat": "1001"}, "--repeat must be at most 1000, not 1001"),
        ({"kernels": ""}, "no kernel line given: name one or more"),
        ({"kernels": " , "}, "no kernel line given: name one or more"),
        ({"only": ""}, "--only '' names no test: name one or more of"),
        ({"domains": ""}, "no domain given"),
        ({"hosts": " , "}, "--hosts ' , ' names no libvirt host"),
    ],
)
def test_the_matrix_checks_what_test_kernel_checks(values: dict[str, str], message: str) -> None:
    with pytest.raises(UserError, match=message):
        MATRIX.request(values, None)


def test_a_matrix_run_given_a_name_names_its_vms_with_it() -> None:
    request = MATRIX.request({"kernels": "6.1,trixie", "name": "ci"}, None)
    assert [runs.matrix_vm(line, request.name) for line in request.lines] == ["matrix-ci-6.1", "matrix-ci-6.12"]
    assert runs.matrix_vm(kernels.select("7.x")) == "matrix-7.x"


def test_the_matrix_parses_text_the_way_invoke_gives_it() -> None:
    values = vars(matrix_cli.parser().parse_args(["-k", "6.1", "--module-param", "a=1", "--module-param", "b=2",
                                                  "--keep-build", "-n", "ci", "-j", "1"]))  # fmt: skip
    assert (values["kernels"], values["params"], values["keep_build"], values["name"]) == (
        "6.1",
        ["a=1", "b=2"],
        True,
        "ci",
    )
    with pytest.raises(UserError, match="ambiguous|unrecognized arguments: --kern 6.1"):
        matrix_cli.parser().parse_args(["--kern", "6.1"])


def test_quick_shortens_what_each_domain_says_and_leaves_what_was_given() -> None:
    values = {"module_dir": MODULE, "domains": "kernel_module,filesystem", "quick": True, "mount_cycles": "7"}
    fs, module = TEST_KERNEL.request(values, None).plans
    assert (module.options.cycles, module.options.watch_s, module.options.race_rounds) == (3, 3.0, 2)
    assert (fs.options.mount_cycles, fs.options.stress_s) == (7, 5)
    full = TEST_KERNEL.request({"module_dir": MODULE}, None).plans[0].options
    assert (full.cycles, full.watch_s, full.race_rounds) == (20, 12.0, 5)


def test_a_task_flag_declared_int_or_none_takes_whole_numbers_only() -> None:
    jobs = next(context for context in ns.to_contexts() if context.name == "kernel.build").args["jobs"]
    assert (jobs.kind, jobs.default) == (int, None)


@pytest.mark.parametrize("jobs", [0, -3, 9, 99999999999999999999])
def test_kernel_build_refuses_compile_jobs_out_of_range_before_anything_starts(jobs: int) -> None:
    with pytest.raises(UserError, match=f"--jobs must be between 1 and 8 \\(4 per CPU of this host's 2\\), not {jobs}"):
        compile_jobs(jobs, 2)
    assert (compile_jobs(None, 2), compile_jobs(1, 2), compile_jobs(8, 2)) == (2, 1, 8)
