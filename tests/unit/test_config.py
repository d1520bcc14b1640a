import json
import os
import re
from pathlib import Path

import pytest

from toolkit import config
from toolkit.errors import UserError
from toolkit.machines import providers

REPO = Path(__file__).parents[2]


def test_defaults_use_xdg_dirs(tmp_path: Path) -> None:
    settings = config.load(cwd=tmp_path, environ={})
    assert settings.kernel == "6.1"
    assert settings.provider == "qemu"
    assert settings.cache_dir.name == "vexfs-vmtest"


def test_cache_and_state_default_to_the_xdg_folders_when_set(tmp_path: Path) -> None:
    environ = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "XDG_STATE_HOME": str(tmp_path / "state")}
    found = config.effective(cwd=tmp_path, environ=environ)
    assert found.settings.cache_dir == tmp_path / "cache" / "vexfs-vmtest"
    assert found.settings.state_dir == tmp_path / "state" / "vexfs-vmtest"
    assert found.origins["cache_dir"] == "default ($XDG_CACHE_HOME or ~/.cache)"
    assert found.origins["state_dir"] == "default ($XDG_STATE_HOME or ~/.local/state)"


@pytest.mark.parametrize("environ", [{}, {"XDG_CACHE_HOME": "", "XDG_STATE_HOME": ""}])
def test_cache_and_state_default_to_the_home_folders_without_xdg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = config.load(cwd=tmp_path, environ=environ)
    assert settings.cache_dir == tmp_path / ".cache" / "vexfs-vmtest"
    assert settings.state_dir == tmp_path / ".local" / "state" / "vexfs-vmtest"


def test_variables_and_files_win_over_the_xdg_folders(tmp_path: Path) -> None:
    (tmp_path / "vmtest.toml").write_text('state_dir = "state-here"\n')
    environ = {"XDG_CACHE_HOME": str(tmp_path / "x"), "XDG_STATE_HOME": str(tmp_path / "x"),
               "VEXFS_CACHE_DIR": str(tmp_path / "cache-here")}  # fmt: skip
    found = config.effective(cwd=tmp_path, environ=environ)
    assert found.settings.cache_dir == tmp_path / "cache-here"
    assert found.settings.state_dir == tmp_path / "state-here"
    assert (found.origins["cache_dir"], found.origins["state_dir"]) == (
        "VEXFS_CACHE_DIR",
        str(tmp_path / "vmtest.toml"),
    )


def test_file_then_env_then_flags_win_in_order(tmp_path: Path) -> None:
    file = tmp_path / "vmtest.toml"
    file.write_text('kernel = "6.12"\ncpus = 4\nmemory_mib = 1024\n')
    settings = config.load({"cpus": 1}, config_file=file, environ={"VEXFS_CPUS": "3", "VEXFS_MEMORY_MIB": "4096"})
    assert settings.kernel == "6.12"
    assert settings.memory_mib == 4096
    assert settings.cpus == 1


def test_flags_left_unset_do_not_override(tmp_path: Path) -> None:
    settings = config.load({"kernel": None}, cwd=tmp_path, environ={"VEXFS_KERNEL": "trixie"})
    assert settings.kernel == "trixie"


def test_env_paths_expand_home(tmp_path: Path) -> None:
    settings = config.load(cwd=tmp_path, environ={"VEXFS_CACHE_DIR": "~/x"})
    assert settings.cache_dir == Path("~/x").expanduser()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("cpus = 0\n", "cpus must be at least 1"),
        ("memory_mib = 100\n", "memory_mib must be at least 512"),
        ("cpu = 2\n", "unknown setting 'cpu'"),
        ('cpus = "many"\n', 'cpus = "many" in .* is not a whole number'),
        ("cpus = [\n", "not valid TOML"),
        ("boot_timeout_s = -1\n", "boot_timeout_s must be a positive number"),
        ("cpus = 100000\n", "cpus 100000 is too many: a test VM gets at most 64 vCPUs"),
        ("cpus = 99999999999999999999\n", "cpus 99999999999999999999 is too many"),
        ("memory_mib = 1048577\n", "memory_mib 1048577 is too much: a test VM gets at most 1048576 MiB"),
        ("boot_timeout_s = inf\n", "boot_timeout_s must be a positive number of seconds, got inf"),
        ("boot_timeout_s = 1e300\n", "boot_timeout_s 1e\\+300 is more than a day: give at most 86400 seconds"),
        ("command_timeout_s = 86401\n", "command_timeout_s 86401 is more than a day"),
    ],
)
def test_bad_config_file_is_a_user_error(tmp_path: Path, text: str, fragment: str) -> None:
    file = tmp_path / "vmtest.toml"
    file.write_text(text)
    with pytest.raises(UserError, match=fragment):
        config.load(config_file=file, environ={})


def test_bad_environment_value_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="in the environment"):
        config.load(cwd=tmp_path, environ={"VEXFS_MEMORY_MIB": "lots"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cpus = 2.7\n", "cpus = 2.7 in {file} is not a whole number: write a whole number, e.g. cpus = 2"),
        ("cpus = true\n", "cpus = true in {file} is not a whole number: write a whole number, e.g. cpus = 2"),
        ('cpus = "4"\n', 'cpus = "4" in {file} is not a whole number: write a whole number, e.g. cpus = 2'),
        ("memory_mib = 4096.9\n", "memory_mib = 4096.9 in {file} is not a whole number"),
        ("kernel = 5.10\n", 'kernel = 5.10 in {file} is not a string: write it as a string: kernel = "5.10"'),
        ("kernel = 6.12  # trixie\n", 'write it as a string: kernel = "6.12"'),
        ("results_dir = 3\n", "results_dir = 3 in {file} is not a string (a path): write it as a string"),
        ('boot_timeout_s = "fast"\n', 'boot_timeout_s = "fast" in {file} is not a number: write a number'),
        ("boot_timeout_s = nan\n", "boot_timeout_s must be a positive number of seconds, got nan"),
        ("command_timeout_s = false\n", "command_timeout_s = false in {file} is not a number"),
    ],
)
def test_a_toml_value_must_have_its_settings_type_exactly(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "vmtest.toml"
    file.write_text(text)
    with pytest.raises(UserError) as raised:
        config.load(config_file=file, environ={})
    assert message.format(file=file) in str(raised.value)


def test_a_whole_toml_number_is_fine_for_seconds(tmp_path: Path) -> None:
    file = tmp_path / "vmtest.toml"
    file.write_text('boot_timeout_s = 60\ncommand_timeout_s = 2.5\nresults_dir = "out"\n')
    settings = config.load(config_file=file, environ={})
    assert settings.boot_timeout_s == 60.0 and isinstance(settings.boot_timeout_s, float)
    assert settings.command_timeout_s == 2.5
    assert settings.results_dir == tmp_path / "out"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('provider = "xen"\n', "unknown provider 'xen': choose one of qemu, vagrant"),
        ('kernel = "4.4"\n', "unknown kernel line '4.4': choose one of 5.10 (bullseye)"),
    ],
)
def test_provider_and_kernel_are_checked_against_what_exists(tmp_path: Path, text: str, fragment: str) -> None:
    file = tmp_path / "vmtest.toml"
    file.write_text(text)
    with pytest.raises(UserError, match=re.escape(fragment)):
        config.load(config_file=file, environ={})


def test_kernel_suites_and_aliases_are_valid_kernels(tmp_path: Path) -> None:
    settings = config.load({"kernel": "sid"}, cwd=tmp_path, environ={"VEXFS_KERNEL": "trixie"})
    assert settings.kernel == "sid"


def test_the_known_providers_are_those_machines_runs() -> None:
    assert config.PROVIDERS == tuple(providers.PROVIDERS)


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        (
            "VEXFS_CPUS",
            "2.7",
            "VEXFS_CPUS='2.7' in the environment is not a whole number: set it to one, e.g. VEXFS_CPUS=2",
        ),
        ("VEXFS_CPUS", " 3", "VEXFS_CPUS=' 3' in the environment is not a whole number"),
        ("VEXFS_CPUS", "+3", "is not a whole number"),
        ("VEXFS_CPUS", "3_0", "is not a whole number"),
        ("VEXFS_CPUS", "", "VEXFS_CPUS='' in the environment is not a whole number"),
        ("VEXFS_MEMORY_MIB", "lots", "VEXFS_MEMORY_MIB='lots' in the environment is not a whole number"),
        ("VEXFS_BOOT_TIMEOUT_S", "nan", "VEXFS_BOOT_TIMEOUT_S='nan' in the environment is not a number"),
        ("VEXFS_BOOT_TIMEOUT_S", "inf", "is not a number"),
        ("VEXFS_PROVIDER", "xen", "unknown provider 'xen'"),
    ],
)
def test_environment_text_is_parsed_strictly(tmp_path: Path, variable: str, value: str, fragment: str) -> None:
    with pytest.raises(UserError, match=re.escape(fragment)):
        config.load(cwd=tmp_path, environ={variable: value})


def test_environment_numbers_spelled_plainly_are_read(tmp_path: Path) -> None:
    environ = {"VEXFS_CPUS": "4", "VEXFS_BOOT_TIMEOUT_S": "2.5", "VEXFS_COMMAND_TIMEOUT_S": "30"}
    settings = config.load(cwd=tmp_path, environ=environ)
    assert (settings.cpus, settings.boot_timeout_s, settings.command_timeout_s) == (4, 2.5, 30.0)


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        ({"cpus": True}, "cpus True on the command line is not a whole number"),
        ({"cpus": 2.5}, "cpus 2.5 on the command line is not a whole number"),
        ({"command_timeout_s": "soon"}, "command_timeout_s 'soon' on the command line is not a number"),
        ({"kernel": "4.4"}, "unknown kernel line '4.4'"),
    ],
)
def test_flags_are_parsed_strictly_too(tmp_path: Path, flags: dict[str, object], fragment: str) -> None:
    with pytest.raises(UserError, match=re.escape(fragment)):
        config.load(flags, cwd=tmp_path, environ={})


def test_flags_given_as_text_are_read_as_their_type(tmp_path: Path) -> None:
    settings = config.load({"command_timeout_s": "30", "cpus": "3"}, cwd=tmp_path, environ={})
    assert (settings.command_timeout_s, settings.cpus) == (30.0, 3)


def test_an_unknown_vexfs_variable_is_warned_about_once_and_ignored(tmp_path: Path) -> None:
    warnings: list[str] = []
    settings = config.load(cwd=tmp_path, environ={"VEXFS_CPU": "4", "VEXFS_KERNL": "6.12"}, warn=warnings.append)
    assert settings.cpus == 2 and settings.kernel == "6.1"
    assert len(warnings) == 1
    assert warnings[0].startswith("ignoring VEXFS_CPU, VEXFS_KERNL: not a setting")
    assert "did you mean VEXFS_CPUS, VEXFS_KERNEL?" in warnings[0]
    assert "known ones are VEXFS_BOOT_TIMEOUT_S, VEXFS_CACHE_DIR" in warnings[0]


def test_settings_and_what_the_toolkit_sets_for_vagrant_are_not_warned_about(tmp_path: Path) -> None:
    mentioned = set()
    for source in (REPO / "Vagrantfile", REPO / "toolkit" / "machines" / "vagrant" / "provider.py"):
        mentioned |= set(re.findall(r"\bVEXFS_[A-Z_]+\b", source.read_text()))
    assert "VEXFS_VM_NAME" in mentioned and "VEXFS_SSH_KEY" in mentioned
    environ = {variable: "1" for variable in mentioned} | {"VEXFS_CPUS": "2", "VEXFS_KERNEL": "6.1"}
    assert config.unknown_variables(environ) == []


def test_the_os_release_file_the_host_checks_read_is_not_warned_about() -> None:
    assert config.unknown_variables({"VEXFS_OS_RELEASE": "/tmp/os-release", "VEXFS_CPU": "2"}) == ["VEXFS_CPU"]


def test_results_dir_that_is_a_file_is_refused_before_anything_starts(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="results_dir .*/file is a file: point results_dir"):
        config.load(cwd=tmp_path, environ={"VEXFS_RESULTS_DIR": str(tmp_path / "file")})
    with pytest.raises(UserError, match="cannot be made: .*/file is a file"):
        config.load(cwd=tmp_path, environ={"VEXFS_RESULTS_DIR": str(tmp_path / "file" / "runs")})


@pytest.mark.parametrize("name", config.FOLDERS)
def test_every_folder_setting_must_be_a_directory_that_can_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    variable = f"VEXFS_{name.upper()}"
    (tmp_path / "file").write_text("")
    (tmp_path / "locked").mkdir()
    cases = {
        str(tmp_path / "file"): f"{name} {tmp_path / 'file'} is a file: point {name} in vmtest.toml (or {variable})",
        str(tmp_path / "file" / "x"): f"{name} {tmp_path / 'file' / 'x'} cannot be made: {tmp_path / 'file'} is a file",
        "/proc/x": f"{name} /proc/x cannot be written: /proc is the kernel's pseudo-filesystem",
        "/sys": f"{name} /sys cannot be written: /sys is the kernel's pseudo-filesystem",
        str(tmp_path / "locked" / "new"): f"{name} {tmp_path / 'locked' / 'new'} cannot be written: "
        f"{tmp_path / 'locked'} is not writable",
        str(tmp_path / ("n" * 300) / "x"): "File name too long",
    }
    writable = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path / "locked" and writable(path, mode))
    for value, message in cases.items():
        with pytest.raises(UserError) as raised:
            config.load(cwd=tmp_path, environ={variable: value})
        assert message in str(raised.value)
        assert str(raised.value).endswith("at a directory you can write"), value
    assert getattr(config.load(cwd=tmp_path, environ={variable: str(tmp_path / "new" / "deeper")}), name)


def test_a_path_with_a_nul_in_a_settings_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "vmtest.toml"
    file.write_text('state_dir = "a\\u0000b"\n')
    with pytest.raises(UserError, match="state_dir '.*a\\\\x00b' cannot be used \\(a path holds no NUL character\\)"):
        config.load(config_file=file, environ={})


def _layout(tmp_path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)


def test_user_file_then_project_file_then_environment_then_flags_each_say_where_they_came_from(tmp_path: Path) -> None:
    _layout(tmp_path, {
        "xdg/vexfs-vmtest/vmtest.toml": 'kernel = "6.12"\ncpus = 3\nmirror = "http://user"\n',
        "project/vmtest.toml": 'cpus = 4\nmemory_mib = 4096\n',
    })  # fmt: skip
    environ = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "VEXFS_MEMORY_MIB": "3072"}
    found = config.effective({"kernel": "7.x"}, environ=environ, cwd=tmp_path / "project")
    settings, origins = found.settings, found.origins
    assert (settings.kernel, settings.cpus, settings.memory_mib, settings.mirror) == ("7.x", 4, 3072, "http://user")
    assert origins["kernel"] == "command line"
    assert origins["cpus"] == str(tmp_path / "project" / "vmtest.toml")
    assert origins["memory_mib"] == "VEXFS_MEMORY_MIB"
    assert origins["mirror"] == str(tmp_path / "xdg" / "vexfs-vmtest" / "vmtest.toml")
    assert origins["provider"] == "default"
    assert found.files == (tmp_path / "xdg/vexfs-vmtest/vmtest.toml", tmp_path / "project/vmtest.toml")
    assert [row["setting"] for row in found.rows()][:3] == ["cache_dir", "state_dir", "results_dir"]


def test_the_nearest_vmtest_toml_above_the_working_directory_is_the_projects(tmp_path: Path) -> None:
    _layout(tmp_path, {"vmtest.toml": "cpus = 5\n", "a/vmtest.toml": "cpus = 6\n", "a/b/c/.keep": ""})
    assert config.load(cwd=tmp_path / "a" / "b" / "c", environ={}).cpus == 6
    assert config.load(cwd=tmp_path / "a" / "b" / "c", environ={}, config_file=Path("../../../vmtest.toml")).cpus == 5


def test_vexfs_config_names_the_projects_file_and_is_no_unknown_variable(tmp_path: Path) -> None:
    _layout(tmp_path, {"vmtest.toml": "cpus = 5\n", "elsewhere.toml": "cpus = 7\n"})
    warnings: list[str] = []
    environ = {"VEXFS_CONFIG": str(tmp_path / "elsewhere.toml")}
    assert config.load(cwd=tmp_path, environ=environ, warn=warnings.append).cpus == 7
    assert warnings == []
    assert config.load(cwd=tmp_path, environ=environ, config_file=tmp_path / "vmtest.toml").cpus == 5


@pytest.mark.parametrize(
    ("chosen", "environ", "message"),
    [
        (Path("missing.toml"), {}, "--config missing.toml: no such settings file ({tmp}/missing.toml)"),
        (None, {"VEXFS_CONFIG": "gone.toml"}, "VEXFS_CONFIG gone.toml: no such settings file ({tmp}/gone.toml)"),
    ],
)
def test_a_settings_file_asked_for_must_exist(tmp_path: Path, chosen: Path | None, environ: dict[str, str],
                                             message: str) -> None:  # fmt: skip
    with pytest.raises(UserError) as raised:
        config.load(config_file=chosen, cwd=tmp_path, environ=environ)
    assert str(raised.value).startswith(message.format(tmp=tmp_path))


def test_relative_paths_are_relative_to_their_file_or_to_the_working_directory(tmp_path: Path) -> None:
    _layout(tmp_path, {"project/vmtest.toml": 'results_dir = "out"\ncache_dir = "../cache"\n', "project/sub/.keep": ""})
    settings = config.load(cwd=tmp_path / "project" / "sub", environ={"VEXFS_STATE_DIR": "state"})
    assert settings.results_dir == tmp_path / "project" / "out"
    assert settings.cache_dir == tmp_path / "project" / ".." / "cache"
    assert settings.state_dir == tmp_path / "project" / "sub" / "state"


def test_results_go_beside_the_projects_file_by_default(tmp_path: Path) -> None:
    _layout(tmp_path, {"project/vmtest.toml": "cpus = 2\n", "project/deep/.keep": ""})
    found = config.effective(cwd=tmp_path / "project" / "deep", environ={})
    assert found.settings.results_dir == tmp_path / "project" / "results"
    assert found.origins["results_dir"] == f"default (beside {tmp_path / 'project' / 'vmtest.toml'})"


def test_without_a_projects_file_results_go_to_the_checkout_or_the_users_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert config.load(cwd=tmp_path, environ={}).results_dir == REPO / "results"
    monkeypatch.setattr(config, "CHECKOUT", tmp_path / "site-packages")
    settings = config.load(cwd=tmp_path, environ={"XDG_DATA_HOME": str(tmp_path / "data")})
    assert settings.results_dir == tmp_path / "data" / "vexfs-vmtest" / "results"


def test_a_module_repositorys_test_setup_is_read_from_its_file_relative_to_that_file(tmp_path: Path) -> None:
    _layout(tmp_path, {
        "repo/vmtest.toml": 'module_dir = "."\nmodule_params = ["bug=none", "size=4"]\nworkload = "tools/load.sh"\n',
        "repo/deep/.keep": "",
    })  # fmt: skip
    found = config.effective(cwd=tmp_path / "repo" / "deep", environ={})
    settings, file = found.settings, str(tmp_path / "repo" / "vmtest.toml")
    assert settings.module_dir == tmp_path / "repo" / "."
    assert settings.module_params == ("bug=none", "size=4")
    assert settings.workload == tmp_path / "repo" / "tools" / "load.sh"
    assert [found.origins[name] for name in ("module_dir", "module_params", "workload")] == [file, file, file]


def test_without_a_test_setup_nothing_is_set_and_show_says_so_with_an_empty_value(tmp_path: Path) -> None:
    found = config.effective(cwd=tmp_path, environ={})
    assert (found.settings.module_dir, found.settings.module_params, found.settings.workload) == (None, (), None)
    rows = {row["setting"]: row for row in found.rows()}
    assert [rows[name]["value"] for name in ("module_dir", "module_params", "workload")] == ["", "", ""]
    assert rows["workload"]["from"] == "default"


@pytest.mark.parametrize(
    "params",
    [
        ("bug=none", "size=4"),
        ('name="a b"', "quote='", "dollar=$HOME", "back=\\", "star=*", "semi=;rm -rf /"),
        ("../x=y", "a/b=c", "x" * 10_000),
        (),
    ],
)
def test_show_prints_module_params_as_the_words_vexfs_module_params_takes_back(
    tmp_path: Path, params: tuple[str, ...]
) -> None:
    file = tmp_path / "vmtest.toml"
    file.write_text(f"module_params = {json.dumps(list(params))}\n")  # a JSON list of strings is a TOML one
    shown = {row["setting"]: row["value"] for row in config.effective(config_file=file, environ={}).rows()}
    assert config.load(config_file=file, environ={}).module_params == params
    assert config.load(cwd=tmp_path, environ={"VEXFS_MODULE_PARAMS": shown["module_params"]}).module_params == params


def test_module_params_in_the_environment_are_words_as_a_shell_splits_them_and_replace_the_files(
    tmp_path: Path,
) -> None:
    (tmp_path / "vmtest.toml").write_text('module_params = ["bug=none", "size=4"]\n')
    cases = {
        "bug=leak  size=8\t": ("bug=leak", "size=8"),
        "'name=\"a b\"' x=1": ('name="a b"', "x=1"),
        "": (),  # set but empty: no parameters, whatever the file says
    }
    for text, params in cases.items():
        found = config.effective(cwd=tmp_path, environ={"VEXFS_MODULE_PARAMS": text})
        assert (found.settings.module_params, found.origins["module_params"]) == (params, "VEXFS_MODULE_PARAMS")


def test_a_module_dir_or_workload_in_the_environment_is_relative_to_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "vmtest.toml").write_text('module_dir = "from-file"\n')
    (tmp_path / "sub").mkdir()
    environ = {"VEXFS_MODULE_DIR": "../my mod", "VEXFS_WORKLOAD": "~/load.sh"}
    settings = config.load(cwd=tmp_path / "sub", environ=environ)
    assert settings.module_dir == tmp_path / "sub" / ".." / "my mod"
    assert settings.workload == Path.home() / "load.sh"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'module_params = "bug=none"\n',
            'module_params = "bug=none" in {file} is not a list of strings: write a list of quoted strings, '
            'e.g. module_params = ["bug=none"]',
        ),
        (
            "module_params = 4\n",
            "module_params = 4 in {file} is not a list of strings: write a list of quoted strings, "
            'e.g. module_params = ["NAME=VALUE"]',
        ),
        (
            'module_params = ["size=4", 4, true]\n',
            'module_params = ["size=4", 4, true] in {file} is not a list of strings: '
            'write a list of quoted strings, e.g. module_params = ["size=4", "4", "true"]',
        ),
        (
            'module_params = [\n  "bug=none",\n  2.5,\n]\n',
            'module_params = ["bug=none", 2.5] in {file} is not a list of strings',
        ),
        (
            'module_params = { bug = "none", size = 4 }\n',
            'module_params = {{ bug = "none", size = 4 }} in {file} is not a list of strings: '
            'write a list of quoted strings, e.g. module_params = ["bug=none", "size=4"]',
        ),
        ('module_params = [["a=1"]]\n', 'e.g. module_params = ["NAME=VALUE"]'),
        (
            "module_dir = 3\n",
            'module_dir = 3 in {file} is not a string (a path): write it as a string: module_dir = "3"',
        ),
        ("module_dir = true\n", "module_dir = true in {file} is not a string (a path): write it as a string"),
        ('workload = ["load.sh"]\n', 'workload = ["load.sh"] in {file} is not a string (a path)'),
        (
            'module_dir = ""\n',
            'module_dir = "" in {file} is an empty path: write a path, relative to {folder} or absolute, '
            'e.g. module_dir = "PATH", or leave module_dir out',
        ),
        ('workload = ""\n', 'workload = "" in {file} is an empty path'),
        ('results_dir = ""\n', 'results_dir = "" in {file} is an empty path'),
        (
            'cache_dir = "~nosuchuser/cache"\n',
            'cache_dir = "~nosuchuser/cache" in {file} starts with the home of an unknown user (~nosuchuser): '
            "write a path",
        ),
    ],
)
def test_a_test_setup_of_the_wrong_type_is_one_line_saying_how_to_write_it(
    tmp_path: Path, text: str, message: str
) -> None:
    file = tmp_path / "vmtest.toml"
    file.write_text(text)
    with pytest.raises(UserError) as raised:
        config.load(config_file=file, environ={})
    assert message.format(file=file, folder=tmp_path) in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "VEXFS_MODULE_DIR",
            "",
            "VEXFS_MODULE_DIR='' in the environment is an empty path: set it to a path, e.g. VEXFS_MODULE_DIR=PATH, "
            "or unset it",
        ),
        ("VEXFS_WORKLOAD", "", "VEXFS_WORKLOAD='' in the environment is an empty path"),
        ("VEXFS_CACHE_DIR", "", "VEXFS_CACHE_DIR='' in the environment is an empty path"),
        (
            "VEXFS_WORKLOAD",
            "~nosuchuser/load.sh",
            "VEXFS_WORKLOAD='~nosuchuser/load.sh' in the environment starts with the home of an unknown user "
            "(~nosuchuser): set it to a path",
        ),
        (
            "VEXFS_MODULE_PARAMS",
            'name="a b',
            "VEXFS_MODULE_PARAMS='name=\"a b' in the environment is not words a shell can split (No closing "
            "quotation): separate the items with spaces, quoting one as a shell would, e.g. "
            "VEXFS_MODULE_PARAMS='bug=none size=4'",
        ),
        ("VEXFS_MODULE_PARAMS", "a=1 \\", "is not words a shell can split (No escaped character)"),
    ],
)
def test_a_test_setup_in_the_environment_is_read_strictly(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    with pytest.raises(UserError) as raised:
        config.load(cwd=tmp_path, environ={variable: value})
    assert message in str(raised.value)


@pytest.mark.parametrize("name", ["module_dir", "workload"])
def test_a_module_path_that_cannot_even_be_looked_up_is_refused_but_a_missing_one_is_for_the_run(
    tmp_path: Path, name: str
) -> None:
    file = tmp_path / "vmtest.toml"
    fix = f"fix {name} in vmtest.toml (or VEXFS_{name.upper()})"
    for value, message in {
        "n" * 300: f"{name} {tmp_path / ('n' * 300)} cannot be used (File name too long): {fix}",
        "a\\u0000b": f"{name} '{tmp_path}/a\\x00b' cannot be used (a path holds no NUL character): {fix}",
    }.items():
        file.write_text(f'{name} = "{value}"\n')
        with pytest.raises(UserError) as raised:
            config.load(config_file=file, environ={})
        assert str(raised.value) == message
    file.write_text(f'{name} = "../not here/\\"quoted\\" it\'s"\n')
    assert getattr(config.load(config_file=file, environ={}), name) == tmp_path / ".." / "not here" / '"quoted" it\'s'


def test_a_test_setup_given_as_flags_is_typed_like_the_rest(tmp_path: Path) -> None:
    settings = config.load({"module_params": ["a=1"], "module_dir": "m"}, cwd=tmp_path, environ={})
    assert (settings.module_params, settings.module_dir) == (("a=1",), tmp_path / "m")
    assert config.load({"module_params": "a=1 'b=x y'"}, cwd=tmp_path, environ={}).module_params == ("a=1", "b=x y")
    with pytest.raises(UserError, match=re.escape("module_params 3 on the command line is not a list of strings")):
        config.load({"module_params": 3}, cwd=tmp_path, environ={})
    with pytest.raises(UserError, match=re.escape("module_dir '' on the command line is an empty path")):
        config.load({"module_dir": ""}, cwd=tmp_path, environ={})


@pytest.mark.parametrize(
    ("environ", "retry", "origin"),
    [
        ({}, 0, "default"),
        ({"CI": ""}, 0, "default"),
        ({"CI": "true"}, 2, "default (in CI: $CI is set)"),
        ({"BUILD_NUMBER": "41"}, 2, "default (in CI: $BUILD_NUMBER is set)"),
        ({"CI": "true", "VEXFS_RETRY": "0"}, 0, "VEXFS_RETRY"),
    ],
)
def test_red_tests_are_retried_twice_in_ci_and_not_at_all_elsewhere(
    tmp_path: Path, environ: dict[str, str], retry: int, origin: str
) -> None:
    found = config.effective(cwd=tmp_path, environ=environ)
    assert (found.settings.retry, found.origins["retry"]) == (retry, origin)


@pytest.mark.parametrize(
    ("where", "value", "fragment"),
    [
        ("env", "-1", "retry must be 0 to 10 (times a red test runs again), got -1: fix vmtest.toml or VEXFS_RETRY"),
        ("env", "11", "retry must be 0 to 10 (times a red test runs again), got 11"),
        ("env", "99999999999999999999", "retry must be 0 to 10"),
        ("env", "", "VEXFS_RETRY='' in the environment is not a whole number"),
        ("env", "2.5", "VEXFS_RETRY='2.5' in the environment is not a whole number"),
        ("env", "two", "VEXFS_RETRY='two' in the environment is not a whole number"),
        ("env", "../2", "is not a whole number"),
        ("file", 'retry = "2"', 'retry = "2" in'),
        ("file", "retry = true", "is not a whole number"),
        ("file", "retry = 11", "retry must be 0 to 10"),
    ],
)
def test_a_bad_retry_setting_is_a_user_error(tmp_path: Path, where: str, value: str, fragment: str) -> None:
    if where == "file":
        (tmp_path / "vmtest.toml").write_text(value + "\n")
    environ = {"VEXFS_RETRY": value} if where == "env" else {}
    with pytest.raises(UserError, match=re.escape(fragment)):
        config.load(cwd=tmp_path, environ=environ)
