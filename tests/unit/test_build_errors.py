"""The line quoted for a failed build, picked from real make and gcc output (make runs on small Makefiles)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from toolkit.build_errors import first_error

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _make(tmp_path: Path, files: dict[str, str], *args: str) -> list[str]:
    """make's merged output (as a build's log holds it) in a folder holding files; it must fail."""
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    done = subprocess.run(["make", "-C", str(tmp_path), "--no-print-directory", *args], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)  # fmt: skip
    assert done.returncode != 0, done.stdout
    return done.stdout.splitlines()


SUB_MAKE = "all:\n\t$(MAKE) -C sub\n"  # kbuild's shape: the module's Makefile is read by a make below the first


def test_a_makefile_syntax_error_is_quoted_not_the_makes_that_failed_above_it(tmp_path: Path) -> None:
    output = _make(tmp_path, {"Makefile": SUB_MAKE, "sub/Makefile": "obj-m := a.o\nifeq (a\nendif\n"})
    assert any(line.endswith("Error 2") for line in output), output
    assert first_error(output) == "Makefile:2: *** invalid syntax in conditional.  Stop."


def test_a_missing_separator_is_quoted(tmp_path: Path) -> None:
    output = _make(tmp_path, {"Makefile": SUB_MAKE, "sub/Makefile": "all:\n    echo spaces, not a tab\n"})
    assert (first_error(output) or "").startswith("Makefile:2: *** missing separator")


def test_a_missing_rule_in_a_make_below_is_quoted(tmp_path: Path) -> None:
    output = _make(tmp_path, {"Makefile": SUB_MAKE, "sub/Makefile": "all: absent.o\n"})
    assert first_error(output) == "make[1]: *** No rule to make target 'absent.o', needed by 'all'.  Stop."


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_the_compilers_error_is_quoted_though_make_said_other_things_first(tmp_path: Path) -> None:
    files = {
        "Makefile": "all: quick broken.o\nquick:\n\t@sleep 0.2; false\nbroken.o: broken.c\n\t@sleep 1; $(CC) -c broken.c\n",
        "broken.c": "int f(void) { return undefined_thing; }\n",
    }
    output = _make(tmp_path, files, "-j2")
    error = "broken.c:1:22: error: 'undefined_thing' undeclared (first use in this function)"
    assert output.index("make: *** Waiting for unfinished jobs....") < output.index(error), output
    assert first_error(output) == error


def test_a_recipe_that_failed_saying_nothing_is_quoted_by_makes_line_about_it(tmp_path: Path) -> None:
    output = _make(tmp_path, {"Makefile": SUB_MAKE, "sub/Makefile": "all:\n\t@false\n"})
    assert first_error(output) == "make[1]: *** [Makefile:2: all] Error 1"


def test_apts_errors_and_linker_errors_are_errors_too() -> None:
    assert first_error(["Reading package lists...", "E: Unable to locate package nope"]) == (
        "E: Unable to locate package nope"
    )
    modpost = ['ERROR: modpost: "missing_symbol" [/mnt/x/m.ko] undefined!', "make[2]: *** [x] Error 1"]
    assert first_error(modpost) == modpost[0]


def test_output_without_an_error_has_none() -> None:
    assert first_error(["  CC [M]  /mnt/x/a.o", "  LD [M]  /mnt/x/a.ko"]) is None
