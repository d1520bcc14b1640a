"""The kept build tree: synced from the module's source so make rebuilds what changed, and only that."""

from __future__ import annotations

import os
import time
from pathlib import Path

from toolkit.domains.kernel_module import build_tree


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
    assert (tree / "mymod.ko").read_bytes() == b"built"


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
