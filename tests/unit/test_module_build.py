from pathlib import Path

import pytest

from toolkit.domains.module.build import BuildOutcome, line_tables
from toolkit.domains.module.subject import with_errno


def _outcome(output: str, returncode: int = 2) -> BuildOutcome:
    return BuildOutcome("chroot", returncode, 1.0, output, ())


def test_first_compiler_error_is_quoted() -> None:
    output = (
        "  CC [M]  /mnt/x/broken.o\n"
        "/mnt/x/broken.c:5:9: warning: unused variable 'y' [-Wunused-variable]\n"
        "/mnt/x/broken.c:7:2: error: 'undefined_thing' undeclared (first use in this function)\n"
        "make[2]: *** [scripts/Makefile.build:250: /mnt/x/broken.o] Error 1\n"
    )
    outcome = _outcome(output)
    assert not outcome.ok
    assert (
        outcome.first_error == "/mnt/x/broken.c:7:2: error: 'undefined_thing' undeclared (first use in this function)"
    )
    assert outcome.warnings == ["/mnt/x/broken.c:5:9: warning: unused variable 'y' [-Wunused-variable]"]


def test_make_errors_without_a_compiler_line_are_quoted_too() -> None:
    outcome = _outcome("make: *** No rule to make target 'modules'.  Stop.\n")
    assert "No rule to make target" in outcome.first_error


def test_a_successful_make_without_modules_is_not_a_build() -> None:
    assert not _outcome("nothing\n", returncode=0).ok


def test_errno_names_are_added_to_insmod_messages() -> None:
    message = "insmod: ERROR: could not insert module /root/m.ko: No such device"
    assert with_errno(message) == f"{message} (ENODEV)"
    assert with_errno("insmod: ERROR: could not insert module m.ko: File exists\n").endswith("File exists (EEXIST)")
    assert with_errno("something else") == "something else"


# Real output of failed chroot builds, each with the line its build test must quote in its header (second line).
BUILD_LOGS = sorted((Path(__file__).parent / "fixtures" / "build_logs").glob("*.log"))


@pytest.mark.parametrize("log", BUILD_LOGS, ids=[log.stem for log in BUILD_LOGS])
def test_a_failed_kbuild_is_quoted_by_its_first_error_not_by_the_makes_that_failed_above_it(log: Path) -> None:
    header, output = [], []
    for line in log.read_text().splitlines():
        (header if line.startswith("# ") and not output else output).append(line)
    outcome = _outcome("\n".join(output) + "\n")
    assert outcome.first_error == header[1].removeprefix("# ")
    assert "Error 2" not in outcome.first_error


@pytest.mark.parametrize(
    ("config", "flags"),
    [
        ("CONFIG_DEBUG_INFO=y\nCONFIG_DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT=y\n", []),  # Debian's kernels
        ("CONFIG_DEBUG_INFO_NONE=y\n# CONFIG_DEBUG_INFO is not set\n", ["KCFLAGS=-g"]),  # debug and own kernels
        (None, ["KCFLAGS=-g"]),  # headers without their .config
    ],
)
def test_a_module_gets_line_tables_from_a_kernel_without_debug_info_only(
    tmp_path: Path, config: str | None, flags: list[str]
) -> None:
    kernel_config = tmp_path / ".config"
    if config is not None:
        kernel_config.write_text(config)
    assert line_tables(kernel_config) == flags
