"""A cache, state or results folder (or a box, VM or run in it) the user cannot use is one line and exit status 2.

Root may read and write anything, so each command runs as an ordinary user: in a child forked from the test,
with its user id set to nobody's, its HOME a folder of nobody's (where the settings' defaults point).
"""

from __future__ import annotations

import os
import pwd
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from toolkit.program import run_task

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="acting as another user (nobody) needs root")
NOBODY = pwd.getpwnam("nobody") if os.geteuid() == 0 else None


@dataclass(frozen=True)
class Outcome:
    """How a command run as another user ended: its exit status and what it wrote to stderr."""

    status: int
    stderr: str


@pytest.fixture
def home() -> Iterator[Path]:
    """An empty home folder of nobody's, in a place nobody can reach (pytest's own tmp_path is root's alone)."""
    assert NOBODY is not None
    top = Path(tempfile.mkdtemp(prefix="vexfs-user-folders-"))
    top.chmod(0o755)
    folder = top / "home"
    folder.mkdir()
    os.chown(folder, NOBODY.pw_uid, NOBODY.pw_gid)
    yield folder
    shutil.rmtree(top)


def folders(home: Path, *relative: str, owner: str = "nobody", mode: int = 0o755) -> Path:
    """Make home/relative... (each one below the last), the last one owned by owner with mode; the others
    nobody's, 0755."""
    path = home
    for part in relative:
        path = path / part
        path.mkdir(exist_ok=True)
        user = pwd.getpwnam("nobody" if path != home.joinpath(*relative) else owner)
        os.chown(path, user.pw_uid, user.pw_gid)
        path.chmod(0o755)
    path.chmod(mode)
    return path


def as_nobody(home: Path, *argv: str) -> Outcome:
    """`vexfs-vmtest ARGV` run by nobody in home, with no VEXFS_* or XDG_* variables set."""
    assert NOBODY is not None
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:
        sys.stderr = os.fdopen(writer, "w")  # pytest has replaced sys.stdout and sys.stderr in this process
        sys.stdout = open(os.devnull, "w")
        os.setgroups([])
        os.setgid(NOBODY.pw_gid)
        os.setuid(NOBODY.pw_uid)
        for name in [name for name in os.environ if name.startswith(("VEXFS_", "XDG_"))]:
            del os.environ[name]
        os.environ["HOME"] = str(home)
        os.environ["VEXFS_RESULTS_DIR"] = str(home / "results")
        os.chdir(home)
        status = run_task(list(argv))
        sys.stderr.flush()
        os._exit(status)
    os.close(writer)
    with os.fdopen(reader) as stderr:
        text = stderr.read()
    _, waited = os.waitpid(child, 0)
    return Outcome(os.waitstatus_to_exitcode(waited), text)


def assert_one_line_error(outcome: Outcome, *fragments: str) -> None:
    lines = outcome.stderr.splitlines()
    assert (outcome.status, len(lines)) == (2, 1), outcome.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_a_usable_home_lists_no_boxes_no_vms_and_no_results(home: Path) -> None:
    assert as_nobody(home, "box.list") == Outcome(0, "")
    assert as_nobody(home, "vm.status") == Outcome(0, "")
    assert_one_line_error(as_nobody(home, "results.show"), "no results for run 'latest'")


def test_a_cache_folder_the_user_cannot_read_is_one_line(home: Path) -> None:
    cache = folders(home, ".cache", "vexfs-vmtest", mode=0o000)
    assert_one_line_error(as_nobody(home, "box.list"), f"cache_dir {cache} ", "mode 0000", "VEXFS_CACHE_DIR")


def test_a_cache_folder_the_user_may_write_but_not_list_is_one_line(home: Path) -> None:
    cache = folders(home, ".cache", "vexfs-vmtest", mode=0o300)
    assert_one_line_error(as_nobody(home, "box.list"), f"cache_dir {cache} is not readable by you (owned by nobody")


def test_a_box_folder_of_roots_the_user_cannot_read_is_one_line(home: Path) -> None:
    box = folders(home, ".cache", "vexfs-vmtest", "boxes", "bookworm-x", owner="root", mode=0o700)
    for command in ("box.list", "vm.status", "vm.up"):
        assert_one_line_error(
            as_nobody(home, command),
            f"cache_dir {box} is not readable by you (owned by root, mode 0700): remove it (sudo rm -rf {box}) "
            "or set VEXFS_CACHE_DIR to a folder of yours",
        )


def test_a_box_folder_of_roots_is_listed_but_a_vm_is_not_started_from_it(home: Path) -> None:
    box = folders(home, ".cache", "vexfs-vmtest", "boxes", "bookworm-x", owner="root", mode=0o755)
    assert as_nobody(home, "box.list") == Outcome(0, "")
    assert_one_line_error(as_nobody(home, "vm.up"), f"cache_dir {box} is not writable by you (owned by root")


def test_a_box_record_the_user_cannot_read_is_one_line(home: Path) -> None:
    box = folders(home, ".cache", "vexfs-vmtest", "boxes", "bookworm-x")
    (box / "box.json").write_text("{}")
    (box / "box.json").chmod(0o600)
    assert_one_line_error(as_nobody(home, "box.list"), f"cache_dir {box / 'box.json'} is not readable by you")


def test_a_state_folder_the_user_cannot_write_is_one_line(home: Path) -> None:
    state = folders(home, ".local", "state", "vexfs-vmtest", mode=0o555)
    assert_one_line_error(as_nobody(home, "vm.status"), f"state_dir {state} ", "not writable by you", "VEXFS_STATE_DIR")


def test_a_vm_folder_of_roots_the_user_cannot_read_is_one_line(home: Path) -> None:
    vm = folders(home, ".local", "state", "vexfs-vmtest", "vms", "default", owner="root", mode=0o700)
    for command in ("vm.status", "vm.destroy"):
        assert_one_line_error(as_nobody(home, command), f"state_dir {vm} is not readable by you (owned by root")


def test_a_results_folder_the_user_cannot_write_is_one_line(home: Path) -> None:
    results = folders(home, "results", mode=0o555)
    for command in ("results.show", "results.prune"):
        assert_one_line_error(as_nobody(home, command), f"results_dir {results} ", "VEXFS_RESULTS_DIR")


def test_a_run_folder_of_roots_the_user_cannot_read_is_one_line(home: Path) -> None:
    run = folders(home, "results", "20250101-000000-abcd", owner="root", mode=0o700)
    (home / "results" / "latest").symlink_to(run.name)
    assert_one_line_error(as_nobody(home, "results.show"), f"results_dir {run} is not readable by you (owned by root")
