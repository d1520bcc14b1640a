"""Reading a built module and building one in the guest, with a small ELF object the host's gcc makes."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.scripted import Answer, ScriptedMachine
from toolkit import config
from toolkit.domains import options
from toolkit.domains.base import Target
from toolkit.domains.kernel_module import domain as kernel_module
from toolkit.domains.module.build import BuiltModule
from toolkit.domains.module.constraints import constraints
from toolkit.domains.module.options import ModuleOptions
from toolkit.errors import UserError
from toolkit.progress import Progress

SOURCE = """
static const char modinfo[] __attribute__((section(".modinfo"), used)) =
    "name=fake\\0vermagic=6.1.0-50-amd64 SMP mod_unload \\0srcversion=F00D\\0parmtype=size:uint\\0parmtype=label:charp";
int fake_read(int x) { return x + 1; }
static int __attribute__((section(".init.text"), used)) fake_init(void) { return fake_read(1); }
"""


@pytest.fixture(scope="module")
def fake_ko(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("needs the host's gcc to make an ELF object")
    directory = tmp_path_factory.mktemp("fake")
    (directory / "fake.c").write_text(SOURCE)
    subprocess.run(["gcc", "-c", "-O0", "-o", str(directory / "fake.ko"), str(directory / "fake.c")], check=True)
    return directory / "fake.ko"


def test_a_module_is_read_from_its_elf_sections_symbols_and_modinfo(fake_ko: Path) -> None:
    module = BuiltModule.read(fake_ko)
    assert (module.name, module.srcversion, module.vermagic) == ("fake", "F00D", "6.1.0-50-amd64 SMP mod_unload ")
    assert module.parameters == {"size": "uint", "label": "charp"}
    assert set(module.code_sections) == {".text", ".init.text"}
    assert {(s.name, s.section) for s in module.symbols} >= {("fake_read", ".text"), ("fake_init", ".init.text")}


def test_a_file_that_is_not_elf_is_refused(tmp_path: Path) -> None:
    (tmp_path / "junk.ko").write_bytes(b"not an elf file at all" * 4)
    with pytest.raises(UserError, match="not a 64-bit little-endian ELF file"):
        BuiltModule.read(tmp_path / "junk.ko")


def _module_dir(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    (source / "Kbuild").write_text("obj-m := fake.o\n")
    (source / "fake.c").write_text(SOURCE)
    return source


def test_a_module_built_in_the_guest_becomes_a_prepared_subject(fake_ko: Path, tmp_path: Path) -> None:
    machine = ScriptedMachine(
        {"make -C": Answer("  CC [M]  fake.o\n  LD [M]  fake.ko\n"), "find . -name": Answer("./fake.ko\n")}
    )
    original_get = machine.get
    machine.get = lambda remote, local: (
        shutil.copyfile(fake_ko, local) if remote.endswith(".ko") else original_get(remote, local)
    )  # type: ignore[method-assign]
    chosen = options.parse(ModuleOptions, {"module_dir": _module_dir(tmp_path), "build_in": "guest"})
    target = Target(machine, "6.1.0-50-amd64", tmp_path / "work", Progress("t", io.StringIO()))  # type: ignore[arg-type]
    [subject] = list(kernel_module.subjects(target, chosen))
    assert subject.info.name == "fake" and subject.info.version == "F00D" and subject.build.where == "guest"
    assert (tmp_path / "work" / "build.log").read_text().startswith("  CC [M]  fake.o")
    assert any(command.startswith("PUT /tmp/vexfs-vmtest-install-") for command in machine.commands)
    assert "sysctl -q -w kernel.hung_task_timeout_secs=10" in machine.commands[-1]


def test_choosing_a_module_the_build_did_not_make_is_a_usage_error(fake_ko: Path, tmp_path: Path) -> None:
    machine = ScriptedMachine({"find . -name": Answer("./fake.ko\n")})
    machine.get = lambda remote, local: shutil.copyfile(fake_ko, local)  # type: ignore[method-assign]
    values = {"module_dir": _module_dir(tmp_path), "build_in": "guest", "module": "other"}
    target = Target(machine, "6.1.0-50-amd64", tmp_path / "work", Progress("t", io.StringIO()))  # type: ignore[arg-type]
    with pytest.raises(UserError, match="builds fake, not other"):
        list(kernel_module.subjects(target, options.parse(ModuleOptions, values)))


def test_a_failed_build_still_gives_one_subject_for_the_build_test_to_judge(tmp_path: Path) -> None:
    machine = ScriptedMachine({"make -C": Answer("fake.c:1:1: error: expected ';'\n", exit_status=2)})
    chosen = options.parse(ModuleOptions, {"module_dir": _module_dir(tmp_path), "build_in": "guest"})
    target = Target(machine, "6.1.0-50-amd64", tmp_path / "work", Progress("t", io.StringIO()))  # type: ignore[arg-type]
    [subject] = list(kernel_module.subjects(target, chosen))
    assert subject.module is None and subject.name == "src" and subject.build.first_error.endswith("expected ';'")


def test_constraints_name_every_problem_before_a_vm_starts(tmp_path: Path) -> None:
    settings = config.load({"cache_dir": str(tmp_path), "state_dir": str(tmp_path), "memory_mib": 2**20}, environ={})
    values = {"module_dir": tmp_path / "missing", "params": ["flag", "=x", "a b=1", "s=a b", 's="a b"']}
    problems = constraints(options.parse(ModuleOptions, values), settings)
    assert problems[0].startswith(f"module directory {tmp_path / 'missing'} does not exist")
    assert "module parameter '=x' is not NAME=VALUE, nor NAME for a bool: '' is not a parameter name" in problems
    assert "module parameter 'a b=1' is not NAME=VALUE, nor NAME for a bool: 'a b' is not a parameter name" in problems
    assert (
        "module parameter 's=a b' would reach the kernel as 's=a' and 'b' (insmod joins parameters with spaces): "
        'put a value with spaces in double quotes, NAME="a b"' in problems
    )
    assert not any("'flag'" in problem or "a b\"'" in problem for problem in problems), "a bool, a quoted value"
    assert "lower memory_mib" in problems[-1]
    (tmp_path / "empty").mkdir()
    empty = options.parse(ModuleOptions, {"module_dir": tmp_path / "empty"})
    assert "has no Makefile or Kbuild" in constraints(empty, settings)[0]


@pytest.mark.parametrize("keep_build", [False, True])
def test_the_build_tree_leaves_the_run_folder_when_its_tests_are_done_unless_kept(
    fake_ko: Path, tmp_path: Path, keep_build: bool
) -> None:
    machine = ScriptedMachine({"make -C": Answer("  LD [M]  fake.ko\n"), "find . -name": Answer("./fake.ko\n")})
    machine.get = lambda remote, local: shutil.copyfile(fake_ko, local)  # type: ignore[method-assign]
    values = {"module_dir": _module_dir(tmp_path), "build_in": "guest", "keep_build": keep_build}
    work = tmp_path / "work"
    target = Target(machine, "6.1.0-50-amd64", work, Progress("t", io.StringIO()))  # type: ignore[arg-type]
    subjects = kernel_module.subjects(target, options.parse(ModuleOptions, values))
    next(subjects)
    assert (work / "src" / "fake.ko").is_file(), "the tests load the module from the build tree"
    assert list(subjects) == []
    assert (work / "build.log").is_file()
    assert sorted(p.name for p in work.iterdir()) == (
        ["build.log", "src", "src.tar.gz"] if keep_build else ["build.log"]
    )
