"""The kept build tree: synced from the module's source so make rebuilds what changed, and only that."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from toolkit.domains.module import build_tree
from toolkit.domains.module.build import _make as make_in_its_session
from toolkit.errors import UserError

REPO = Path(__file__).resolve().parents[2]


def _source(tmp_path: Path) -> Path:
    source = tmp_path / "mymod"
    (source / "include").mkdir(parents=True)
    (source / "Kbuild").write_text("obj-m := mymod.o\nmymod-y := main.o util.o\n")
    (source / "main.c").write_text("int main_part;\n")
    (source / "util.c").write_text("int util_part;\n")
    (source / "include" / "mymod.h").write_text("#define X 1\n")
    (source / "main.o").write_bytes(b"an object the author built in place")
    (source / "link.h").symlink_to("include/mymod.h")
    return source


def _build_in(tree: Path) -> None:
    """What make leaves: objects newer than every source."""
    for name in ("main.o", "util.o", "mymod.ko", ".main.o.cmd"):
        (tree / name).write_bytes(b"built")
        os.utime(tree / name, (time.time() - 60, time.time() - 60))


def test_the_tree_gets_the_sources_but_not_what_was_built_in_the_source_directory(tmp_path: Path) -> None:
    source, tree = _source(tmp_path), tmp_path / "tree"
    tree.mkdir()
    build_tree.sync(source, tree)
    files = sorted(str(p.relative_to(tree)) for p in tree.rglob("*"))
    assert files == ["Kbuild", "include", "include/mymod.h", "link.h", "main.c", "util.c"]
    assert os.readlink(tree / "link.h") == "include/mymod.h"


def test_only_an_edited_file_is_copied_again_and_it_is_newer_than_the_objects(tmp_path: Path) -> None:
    source, tree = _source(tmp_path), tmp_path / "tree"
    tree.mkdir()
    build_tree.sync(source, tree)
    _build_in(tree)
    os.utime(tree / "util.c", (1_000_000_000, 1_000_000_000))
    (source / "main.c").write_text("int main_part = 2;\n")
    os.utime(source / "main.c", (1_000_000_000, 1_000_000_000))  # an old mtime (a restored backup) still counts
    build_tree.sync(source, tree)
    assert (tree / "main.c").read_text() == "int main_part = 2;\n"
    assert (tree / "main.c").stat().st_mtime > (tree / "main.o").stat().st_mtime
    assert (tree / "util.c").stat().st_mtime == 1_000_000_000, "an unchanged source is left alone"
    assert (tree / "main.o").read_bytes() == b"built"


def test_a_module_the_last_build_linked_goes_so_one_the_source_no_longer_builds_is_never_found(tmp_path: Path) -> None:
    source, tree = _source(tmp_path), tmp_path / "tree"
    tree.mkdir()
    build_tree.sync(source, tree)
    _build_in(tree)
    (source / "Kbuild").write_text("obj-m := renamed.o\nrenamed-y := main.o util.o\n")
    build_tree.sync(source, tree)
    assert not (tree / "mymod.ko").exists() and (tree / "main.o").read_bytes() == b"built"


def test_a_source_removed_from_the_module_goes_from_the_tree_and_the_objects_stay(tmp_path: Path) -> None:
    source, tree = _source(tmp_path), tmp_path / "tree"
    tree.mkdir()
    build_tree.sync(source, tree)
    _build_in(tree)
    (source / "util.c").unlink()
    build_tree.sync(source, tree)
    assert not (tree / "util.c").exists()
    assert (tree / "util.o").exists() and (tree / ".main.o.cmd").exists()


def test_a_build_whose_make_never_ended_leaves_an_empty_tree_to_the_next(tmp_path: Path) -> None:
    source = _source(tmp_path)
    tree = build_tree.tree_for(tmp_path / "box" / "rootfs", "6.1.0-50-amd64", source)
    with build_tree.building(tree) as held:
        build_tree.sync(source, held.path)
        _build_in(held.path)
    with build_tree.building(tree) as held:
        assert not any(held.path.iterdir()), "the killed build's objects may be truncated: start afresh"
        build_tree.sync(source, held.path)
        assert (held.path / "main.c").exists(), "the sources come back although their listing said they were there"
        _build_in(held.path)
        held.ended()
    with build_tree.building(tree) as held:
        assert (held.path / "main.o").exists(), "after a make that ended, the objects are kept"


def test_each_source_directory_and_kernel_has_its_own_tree_beside_the_box(tmp_path: Path) -> None:
    rootfs = tmp_path / "box" / "rootfs"
    one = build_tree.tree_for(rootfs, "6.1.0-50-amd64", tmp_path / "a" / "mod")
    assert one.parent == tmp_path / "box" / "module-builds" and one.name.startswith("mod-")
    assert one != build_tree.tree_for(rootfs, "6.1.0-51-amd64", tmp_path / "a" / "mod")
    assert one != build_tree.tree_for(rootfs, "6.1.0-50-amd64", tmp_path / "b" / "mod")


def test_a_tree_is_named_so_that_make_takes_it_whatever_the_module_directory_is_called(tmp_path: Path) -> None:
    tree = build_tree.tree_for(tmp_path / "rootfs", "6.1.0-50-amd64", tmp_path / "mod dir $(touch PWNED); 'q'")
    assert tree.name.startswith("mod_dir___touch_PWNED____q_-") and " " not in tree.name


def test_a_second_build_of_a_held_tree_waits_and_is_then_refused_naming_the_holder(tmp_path: Path) -> None:
    tree = build_tree.tree_for(tmp_path / "box" / "rootfs", "6.1.0-50-amd64", _source(tmp_path))
    said: list[str] = []
    with build_tree.building(tree, "building mymod for 6.1.0-50-amd64"):
        started = time.monotonic()
        with pytest.raises(UserError) as refused:
            with build_tree.building(tree, "the second build", wait_s=0.5, say=said.append):
                pytest.fail("two builds held one tree")
        assert time.monotonic() - started >= 0.5
    holder = f"pid {os.getpid()} (building mymod for 6.1.0-50-amd64)"
    assert str(refused.value) == (
        f"the module's build tree {tree} is in use by {holder} for more than 0.5 s: wait for that build to end, or end it"
    )
    assert said == [f"waiting for the module's build tree, in use by {holder}"]


def test_a_build_waiting_for_a_tree_gets_it_when_the_other_build_ends(tmp_path: Path) -> None:
    tree = build_tree.tree_for(tmp_path / "box" / "rootfs", "6.1.0-50-amd64", _source(tmp_path))
    first = build_tree.building(tree, "the first build")
    first.__enter__()
    threading.Timer(0.3, first.__exit__, (None, None, None)).start()
    with build_tree.building(tree, "the second build", wait_s=10) as held:
        assert (
            held.path == tree
            and (tree.parent / f"{tree.name}.lock").read_text() == f"pid {os.getpid()} (the second build)\n"
        )


# A toolkit killed (SIGKILL) while its make runs: the make, in a session of its own, runs on. Here the make is
# sh running sleeps, started as the build starts make (build._make) with this tree's path in its command line.
KILLED_DURING_MAKE = """
import os, signal, sys, threading, time
from pathlib import Path
from toolkit.domains.module import build_tree
from toolkit.domains.module.build import _make
tree = Path(sys.argv[1])
def sigkill_when_make_runs():
    while not (tree.parent / (tree.name + ".make")).exists():
        time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGKILL)
threading.Thread(target=sigkill_when_make_runs, daemon=True).start()
with build_tree.building(tree, "the killed build") as held:
    (tree / "half.o").write_bytes(b"trunc")
    _make(["sh", "-c", sys.argv[2], "make", str(tree)], 60, held.running)
"""


def _killed_during_make(tree: Path, make_script: str) -> int:
    """The group of the make a toolkit killed during the build left running (checked running)."""
    done = subprocess.run([sys.executable, "-c", KILLED_DURING_MAKE, str(tree), make_script], cwd=REPO, timeout=60)
    assert done.returncode == -signal.SIGKILL
    group = json.loads((tree.parent / f"{tree.name}.make").read_text())["pid"]
    assert _members(group), "the make runs on after its toolkit was killed"
    return group


def _members(group: int) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if os.getpgid(process.pid) == group and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
    return found


@pytest.fixture
def groups() -> Iterator[list[int]]:
    """Process groups a test started: none is left running, whatever the test did."""
    started: list[int] = []
    yield started
    for group in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)


@pytest.mark.parametrize(
    "make_script",
    ["sleep 60 & sleep 60; wait", 'sh -c "sleep 60; true" compiler "$1" & sleep 0.2'],
    ids=["the make itself", "its compiler, the make gone"],
)
def test_a_make_left_running_by_a_killed_build_is_ended_before_the_next_build_uses_the_tree(
    tmp_path: Path, groups: list[int], make_script: str
) -> None:
    source = _source(tmp_path)
    tree = build_tree.tree_for(tmp_path / "box" / "rootfs", "6.1.0-50-amd64", source)
    group = _killed_during_make(tree, make_script)
    groups.append(group)
    time.sleep(0.3)
    if "compiler" in make_script:  # the make has ended (at most a zombie), its compiler runs on
        assert all(process.pid != group for process in _members(group)) and _members(group)
    said: list[str] = []
    with build_tree.building(tree, "the next build", say=said.append) as held:
        assert _members(group) == []
        assert said == [f"a killed build had left its make running (process group {group}): ended it, building afresh"]
        assert not any(held.path.iterdir()), "what the killed make wrote may be truncated"
        assert not held.make.exists()


def test_a_recorded_make_whose_process_is_not_provably_that_make_is_left_alone(
    tmp_path: Path, groups: list[int]
) -> None:
    tree = build_tree.tree_for(tmp_path / "box" / "rootfs", "6.1.0-50-amd64", _source(tmp_path))
    with build_tree.building(tree):
        pass  # the tree and its folder made
    record = tree.parent / f"{tree.name}.make"
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)  # a process that got the pid again, say
    mentions = subprocess.Popen(["sh", "-c", "sleep 60; true", "make", str(tree)], start_new_session=True)
    groups += [other.pid, mentions.pid]
    born = psutil.Process(mentions.pid).create_time()
    cases = {
        "another program": {"pid": other.pid, "started": psutil.Process(other.pid).create_time()},
        "another start time": {"pid": mentions.pid, "started": born - 100},
        "no process": {"pid": 2**22 + 1, "started": born},
    }
    for what, entry in cases.items():
        record.write_text(json.dumps(entry))
        said: list[str] = []
        with build_tree.building(tree, say=said.append) as held:
            assert said == [], what
            assert not held.make.exists()
        assert other.poll() is None and mentions.poll() is None, what
    for process in (other, mentions):
        process.kill()
        process.wait()


def test_the_record_of_a_make_goes_when_its_build_is_over(tmp_path: Path) -> None:
    tree = build_tree.tree_for(tmp_path / "box" / "rootfs", "6.1.0-50-amd64", _source(tmp_path))
    with build_tree.building(tree) as held:
        sees_its_record = 'for i in $(seq 200); do test -f "$1" && exit 0; sleep 0.01; done; exit 1'
        assert make_in_its_session(["sh", "-c", sees_its_record, "make", str(held.make)], 30, held.running) == (0, "")
    assert not held.make.exists()
