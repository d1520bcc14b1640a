"""A module repository's vmtest.toml (module_dir, module_params, workload) gives the defaults of a run's domain
options; a flag given wins, and a domain without the option never hears of it."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from toolkit.domains.module.constraints import constraints
from toolkit.errors import UserError
from toolkit.run_options import MATRIX, TEST_FS, TEST_KERNEL, RunCommand

SETUP = 'module_dir = "."\nmodule_params = ["bug=none", "size=4"]\nworkload = "tools/load.sh"\n'


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No VEXFS_* variable nor user file of the machine running the tests; the working directory a fresh one."""
    for variable in [name for name in os.environ if name.startswith("VEXFS_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")


def _repo(tmp_path: Path, text: str = SETUP) -> Path:
    """A module repository with its own vmtest.toml: a Makefile, a workload, the file."""
    repo = tmp_path / "my repo"
    (repo / "tools").mkdir(parents=True)
    (repo / "Makefile").write_text("obj-m += buggydev.o\n")
    (repo / "tools" / "load.sh").write_text("cat /proc/buggydev\n")
    (repo / "vmtest.toml").write_text(text)
    return repo


def _typed(run: RunCommand, **given: Any) -> dict[str, Any]:
    """Values as invoke hands them to a task: every flag, those not typed None, False or [] (a repeatable one)."""
    flags = run.flags()
    unset = {flag.field: False if flag.kind is bool else [] if flag.repeat else None for flag in flags}
    return unset | given


def test_test_kernel_takes_the_module_dir_its_params_and_its_workload_from_the_repositorys_file(
    tmp_path: Path,
) -> None:
    repo = _repo(tmp_path)
    (plan,) = TEST_KERNEL.request(_typed(TEST_KERNEL), repo / "vmtest.toml").plans
    assert plan.options.module_dir == repo
    assert plan.options.params == ("bug=none", "size=4")
    assert plan.options.workload == repo / "tools" / "load.sh"
    assert plan.options.cycles == 20 and plan.options.module is None


def test_the_file_is_found_upward_from_the_working_directory_like_every_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repo(tmp_path)
    (repo / "src" / "sub").mkdir(parents=True)
    monkeypatch.chdir(repo / "src" / "sub")
    request = TEST_KERNEL.request(_typed(TEST_KERNEL), None)
    assert request.plans[0].options.module_dir == repo
    assert request.settings.results_dir == repo / "results"


def test_test_fs_takes_module_dir_and_params_and_a_workload_setting_does_not_make_it_refuse(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (plan,) = TEST_FS.request(_typed(TEST_FS), repo / "vmtest.toml").plans
    assert plan.domain.name == "filesystem"
    assert (plan.options.module_dir, plan.options.params) == (repo, ("bug=none", "size=4"))
    assert not hasattr(plan.options, "workload")
    assert plan.options.module_options().params == ("bug=none", "size=4")


def test_a_workload_flag_is_still_refused_by_test_fs(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    with pytest.raises(UserError, match=r"--workload: no domain of this run \(filesystem\) takes it"):
        TEST_FS.request(_typed(TEST_FS, workload="x.sh"), repo / "vmtest.toml")


def test_flags_win_and_a_module_param_given_replaces_the_files_list_whole(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    other = tmp_path / "other"
    given = _typed(TEST_KERNEL, module_dir=str(other), params=["bug=leak"], workload="mine.sh")
    (plan,) = TEST_KERNEL.request(given, repo / "vmtest.toml").plans
    assert plan.options.module_dir == other
    assert plan.options.params == ("bug=leak",)
    assert plan.options.workload == tmp_path / "elsewhere" / "mine.sh"  # a flag's path: the working directory's
    (only_params,) = TEST_KERNEL.request(_typed(TEST_KERNEL, params=["x=1"]), repo / "vmtest.toml").plans
    assert (only_params.options.module_dir, only_params.options.params) == (repo, ("x=1",))


def test_the_environment_sits_between_the_file_and_the_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path)
    monkeypatch.setenv("VEXFS_MODULE_PARAMS", "bug=race 'name=\"a b\"'")
    monkeypatch.setenv("VEXFS_WORKLOAD", "")
    with pytest.raises(UserError, match="VEXFS_WORKLOAD='' in the environment is an empty path"):
        TEST_KERNEL.request(_typed(TEST_KERNEL), repo / "vmtest.toml")
    monkeypatch.delenv("VEXFS_WORKLOAD")
    (plan,) = TEST_KERNEL.request(_typed(TEST_KERNEL), repo / "vmtest.toml").plans
    assert plan.options.params == ("bug=race", 'name="a b"')
    (flagged,) = TEST_KERNEL.request(_typed(TEST_KERNEL, params=["bug=none"]), repo / "vmtest.toml").plans
    assert flagged.options.params == ("bug=none",)
    monkeypatch.setenv("VEXFS_MODULE_PARAMS", "")  # set and empty: no parameters, whatever the file says
    (cleared,) = TEST_KERNEL.request(_typed(TEST_KERNEL), repo / "vmtest.toml").plans
    assert cleared.options.params == ()


def test_without_a_setup_each_domain_keeps_its_own_defaults(tmp_path: Path) -> None:
    (plan,) = TEST_KERNEL.request(_typed(TEST_KERNEL), None).plans
    assert plan.options.module_dir == tmp_path / "elsewhere" / "kernel" / "vexfs"
    assert (plan.options.params, plan.options.workload) == ((), None)


def test_the_matrix_gives_each_domain_the_settings_it_has_an_option_for(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    values = {"kernels": "6.1"}
    fs, module = MATRIX.request(values, repo / "vmtest.toml").plans
    assert (fs.options.module_dir, fs.options.params) == (repo, ("bug=none", "size=4"))
    assert (module.options.module_dir, module.options.workload) == (repo, repo / "tools" / "load.sh")
    values = {"kernels": "6.1", "params": ["a=1"], "domains": "filesystem"}
    (only_fs,) = MATRIX.request(values, repo / "vmtest.toml").plans
    assert only_fs.options.params == ("a=1",)


def test_a_module_dir_from_a_file_that_is_not_there_is_refused_by_the_domain_with_its_whole_path(
    tmp_path: Path,
) -> None:
    repo = _repo(tmp_path, 'module_dir = "../gone"\nmodule_params = ["", "a b"]\nworkload = "no such.sh"\n')
    request = TEST_KERNEL.request(_typed(TEST_KERNEL), repo / "vmtest.toml")
    problems = constraints(request.plans[0].options, request.settings)
    assert (
        f"module directory {tmp_path / 'gone'} does not exist (give --module-dir DIR, or module_dir in vmtest.toml)"
        in problems
    )
    assert "module parameter '' is not NAME=VALUE, nor NAME for a bool: '' is not a parameter name" in problems
    assert f"--workload {repo / 'no such.sh'} does not exist: give a shell script the guest runs with the module " \
           "loaded" in problems  # fmt: skip


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ({"retry": -1}, "--retry must be at least 0, not -1"),
        ({"retry": 11}, "--retry must be at most 10, not 11"),
        ({"retry": "x"}, "--retry"),
        ({"retry": "1 2"}, "--retry"),
        ({"retry": "'2'"}, "--retry"),
        ({"retry": "../1"}, "--retry"),
        ({"retry": 1, "repeat": 3}, "--retry 1 and --repeat 3: give one of them"),
    ],
)
def test_a_bad_retry_is_refused_before_anything_starts(given: dict[str, Any], fragment: str) -> None:
    with pytest.raises(UserError, match=re.escape(fragment)):
        TEST_KERNEL.request(_typed(TEST_KERNEL, **given), None)


def test_retry_comes_from_the_flag_else_the_setting_and_a_repeated_run_goes_without(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("BUILD_NUMBER", raising=False)
    assert TEST_KERNEL.request(_typed(TEST_KERNEL), None).plans[0].selection.retry == 0
    assert TEST_KERNEL.request(_typed(TEST_KERNEL, retry=3), None).plans[0].selection.retry == 3
    monkeypatch.setenv("CI", "true")
    assert TEST_KERNEL.request(_typed(TEST_KERNEL), None).plans[0].selection.retry == 2
    assert TEST_KERNEL.request(_typed(TEST_KERNEL, retry=0), None).plans[0].selection.retry == 0
    repeated = TEST_KERNEL.request(_typed(TEST_KERNEL, repeat=4), None).plans[0].selection
    assert (repeated.repeat, repeated.retry) == (4, 0)
    assert MATRIX.request(_typed(MATRIX, retry=1), None).plans[0].selection.retry == 1
