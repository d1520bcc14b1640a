"""One command line: every task's flags (the matrix's included) come from the same declarations, short flags from one
table, and one parser reads them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkit import domains, kernels, run_machines
from toolkit.errors import UserError
from toolkit.program import TaskContexts, checked_words, program, run_task
from toolkit.run_options import MATRIX, TEST_ALL, TEST_FS, TEST_KERNEL
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


def test_a_short_flag_means_one_option_in_every_task_and_in_the_matrix() -> None:
    meaning: dict[str, set[str]] = {}
    for _, long, letters, _ in _task_flags():
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


def test_each_run_task_takes_the_flags_of_the_domains_it_runs_with_the_same_help() -> None:
    def help_without_default(text: str) -> str:
        return text.split(" (default ")[0]

    by_task: dict[str, dict[str, str]] = {}
    for task, long, _, text in _task_flags():
        by_task.setdefault(task, {})[long] = help_without_default(" ".join(text.split()))
    kernel, fs, every, matrix = (by_task[f"test.{name}"] for name in ("kernel", "fs", "all", "matrix"))
    assert {"module-param", "build-in", "cycles", "workload"} <= set(kernel) and "fs-type" not in kernel
    assert {"fs-type", "mount-cycles"} <= set(fs) and "cycles" not in fs and "workload" not in fs
    assert "domains" not in kernel and "domains" not in fs
    assert "filesystem:" not in kernel.pop("quick") and "kernel_module:" not in fs.pop("quick")
    assert "filesystem:" in every["quick"] and "kernel_module:" in every["quick"]
    assert every == {**kernel, **fs, "domains": every["domains"], "quick": every["quick"]}
    assert {flag: text for flag, text in matrix.items() if flag not in ("kernels", "jobs", "hosts")} == {
        flag: text for flag, text in every.items() if flag != "kernel"
    }


def test_a_tasks_help_shows_each_flags_type(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_task(["--help", "test.matrix"]) == 0
    shown = capsys.readouterr().out
    assert "--jobs=INT" in shown and "--stress-seconds=INT" in shown and "-k STRING, --kernels=STRING" in shown
    assert "--module-param=STRING" in shown and "--keep-build " in shown
    assert "--hide" not in shown and "--dry" not in shown


def test_vexfs_vmtest_offers_only_its_own_core_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_task(["--help"]) == 0
    shown = capsys.readouterr().out
    assert "--config=STRING" in shown and "--version" in shown and "test.matrix" in shown
    for invokes_own in ("--hide", "--dry", "--echo", "--prompt-for-sudo-password", "--command-timeout", "--pty"):
        assert invokes_own not in shown
    assert run_task(["-R", "test.kernel"]) == 2
    assert "no idea what '-R' is" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["test.kernel", "--fs-type", "ext4"], "no idea what '--fs-type' is: see `vexfs-vmtest --help test.kernel`"),
        (["test.matrix", "--jobs", "two"], "--jobs must be a whole number, not 'two'"),
        (["test.matrix", "--module-param"], "--module-param needs a value"),
        (["test.fs", "--workload", "wl.sh"], "no idea what '--workload' is"),
    ],
)
def test_a_bad_flag_is_one_line_and_exit_status_2(
    words: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_task(words) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_the_defaults_said_in_help_are_those_a_run_gets() -> None:
    helps = {flag.field: flag.described() for flag in TEST_KERNEL.flags()}
    assert helps["name"].endswith("(default default)")
    assert {flag.field: flag.described() for flag in TEST_ALL.flags()}["domains"].endswith(
        f"(default {','.join(domains.registered())})"
    )
    assert helps["cycles"].endswith("(default 20)")
    matrix = {flag.field: flag.described() for flag in MATRIX.flags()}
    assert matrix["kernels"].endswith(f"(default {','.join(line.name for line in kernels.CATALOGUE)})")
    assert matrix["domains"].endswith(f"(default {','.join(domains.registered())})")


def test_test_all_runs_the_domains_asked_for_on_its_one_vm(tmp_path: Path) -> None:
    alone = TEST_KERNEL.request({"module_dir": MODULE}, None)
    assert [plan.domain.name for plan in alone.plans] == ["kernel_module"] and alone.name == "default"
    both = TEST_ALL.request({"module_dir": MODULE, "domains": "kernel_module,filesystem", "name": "x"}, None)
    assert [plan.domain.name for plan in both.plans] == ["filesystem", "kernel_module"] and both.name == "x"
    assert [line.name for line in both.lines] == [kernels.DEFAULT]
    assert [plan.domain.name for plan in TEST_FS.request({}, None).plans] == ["filesystem"]


def test_only_keeps_the_domains_that_have_the_tests_asked_for_and_repeat_goes_with_them() -> None:
    values = {"module_dir": MODULE, "domains": "kernel_module,filesystem", "only": "memory_leak", "repeat": "3"}
    (plan,) = TEST_ALL.request(values, None).plans
    assert plan.domain.name == "kernel_module" and plan.selection.only == ("memory_leak",)
    assert plan.selection.repeat == 3
    with pytest.raises(UserError, match="--repeat must be at least 1, not 0"):
        MATRIX.request({"repeat": "0"}, None)


def test_an_option_of_a_domain_the_run_leaves_out_is_refused() -> None:
    with pytest.raises(UserError, match=r"--fs-type, --mount-cycles: no domain of this run \(kernel_module\) takes it"):
        TEST_ALL.request({"domains": "kernel_module", "fs_type": "ext4", "mount_cycles": "3", "cycles": "2"}, None)
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
    assert [run_machines.matrix_vm(line, request.name) for line in request.lines] == ["matrix-ci-6.1", "matrix-ci-6.12"]
    assert run_machines.matrix_vm(kernels.select("7.x")) == "matrix-7.x"


def test_the_parser_spells_positional_words_and_leaves_a_well_formed_line_alone() -> None:
    contexts = {context.name: context for context in ns.to_contexts()}
    bodies = {name: ns[name].body for name in contexts}
    words = ["test.matrix", "-k", "6.1", "--module-param", "a=1", "--keep-build", "-n", "ci", "-j", "1"]
    assert checked_words(words, contexts, bodies, program.initial_context) == words
    assert checked_words(["results.diff", "A", "B"], contexts, bodies, program.initial_context) == [
        "results.diff", "--run-a", "A", "--run-b", "B"
    ]  # fmt: skip


def test_the_parser_makes_a_named_tasks_context_as_invoke_makes_every_one() -> None:
    every = {context.name: context for context in ns.to_contexts()}
    made = TaskContexts(ns, ignore_unknown_help=None)
    assert sorted(made) == sorted(every) and "vm.ssh-config" in made and "vm.ssh_config" not in made
    for name in ("vm.ssh-config", "test.kernel", "results.merge"):
        assert made[name].name == name
        assert made[name].help_tuples() == every[name].help_tuples()


def test_quick_shortens_what_each_domain_says_and_leaves_what_was_given() -> None:
    values = {"module_dir": MODULE, "domains": "kernel_module,filesystem", "quick": True, "mount_cycles": "7"}
    fs, module = TEST_ALL.request(values, None).plans
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


def test_output_to_a_reader_that_stopped_reading_ends_without_a_traceback() -> None:
    read, write = os.pipe()
    os.close(read)  # as `vexfs-vmtest --help vm.up | head -1` once head has its line
    try:
        done = subprocess.run(
            [sys.executable, "-c", "import sys; from toolkit.program import main; sys.exit(main())", "--help", "vm.up"],
            stdout=write, stderr=subprocess.PIPE, text=True, timeout=60, cwd=Path(__file__).parents[2],
        )  # fmt: skip
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (1, "")
