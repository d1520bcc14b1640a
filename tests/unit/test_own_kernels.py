"""Kernels the user brings: the line a tree or packages become, its suite, its cache key, and input refused."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from toolkit import kernels
from toolkit.boxes import kernel_config, kernel_image, kernel_tree
from toolkit.boxes.recipe import BoxRecipe
from toolkit.errors import UserError
from toolkit.run_options import MATRIX, TEST_KERNEL
from toolkit.run_request import brought_lines

MAKEFILE = "# SPDX-License-Identifier: GPL-2.0\nVERSION = 6\nPATCHLEVEL = 6\nSUBLEVEL = 58\nEXTRAVERSION =\nNAME = x\n"


@pytest.mark.parametrize(
    ("version", "suite"),
    [
        ("6.1.170", "bookworm"),
        ("6.6.58", "bookworm"),
        ("6.12.95", "trixie"),
        ("6.15.0-rc3", "trixie"),
        ("7.3.4", "sid"),
        ("5.15.0", "bullseye"),
        ("4.19.300", "bullseye"),
        ("6.12.95+deb12-amd64", "bookworm"),
        ("6.12.95-1~bpo12+1", "bookworm"),
        ("7.0.10+deb13-amd64", "trixie"),
    ],
)
def test_a_kernel_runs_on_the_suite_its_debian_mark_or_version_is_nearest(version: str, suite: str) -> None:
    assert kernels.nearest_suite(version) == suite


def test_a_brought_kernel_is_a_line_known_by_its_name_alone() -> None:
    line = kernels.select("tree-6.6.58-abc123")
    assert (line.name, line.suite, line.own, line.slowdown) == ("tree-6.6.58-abc123", "bookworm", True, 1.0)
    assert kernels.select("image-6.12.95-deb12-0f0f0f").suite == "bookworm"
    assert kernels.select("image-6.12.95-bpo12-0f0f0f").suite == "bookworm"
    assert kernels.select("image-6.1.170-0f0f0f").suite == "bookworm"


def test_a_brought_kernel_named_in_the_matrixs_lines_comes_after_debians() -> None:
    names = [line.name for line in kernels.select_many("tree-6.6.58-abc123,6.1,image-6.12.95-deb12-0f0f0f")]
    assert names == ["6.1", "image-6.12.95-deb12-0f0f0f", "tree-6.6.58-abc123"]


@pytest.mark.parametrize("name", ["tree-6.6.58", "tree-6.6.58-xyz123", "tree--abc123", "image-abc123"])
def test_a_name_not_of_the_scheme_is_no_line(name: str) -> None:
    with pytest.raises(UserError, match="unknown kernel line"):
        kernels.select(name)


def test_a_brought_kernels_box_is_its_own_not_its_suites() -> None:
    own = BoxRecipe(kernels.select("tree-6.1.170-abc123"))
    assert own.name.startswith("tree-6.1.170-abc123-")
    assert own.name != BoxRecipe(kernels.select("6.1")).name
    assert own.key() != BoxRecipe(kernels.select("tree-6.1.170-abc124")).key()


def _git(tree: Path, *arguments: str) -> None:
    subprocess.run(["git", "-C", str(tree), "-c", "user.name=t", "-c", "user.email=t@t", *arguments], check=True,
                   capture_output=True)  # fmt: skip


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A git repository with a kernel's top Makefile and one source file."""
    root = tmp_path / "linux"
    (root / "fs").mkdir(parents=True)
    (root / "Makefile").write_text(MAKEFILE)
    (root / "fs/super.c").write_text("int x;\n")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "v6.6.58")
    _git(root, "tag", "v6.6.58")
    return root


def test_a_tree_is_named_by_its_version_and_described_by_git(tree: Path) -> None:
    found = kernel_tree.inspect(str(tree))
    assert (found.version, found.revision) == ("6.6.58", "v6.6.58")
    assert found.line.name == f"tree-6.6.58-{found.key}"
    assert found.line.suite == "bookworm"
    assert found.package_version == "6.6.58+tree.v6.6.58"


def test_a_tree_keeps_its_key_until_its_sources_or_config_change(tree: Path) -> None:
    first = kernel_tree.inspect(str(tree)).key
    assert kernel_tree.inspect(str(tree)).key == first
    (tree / "fs/super.c").write_text("int y;\n")
    edited = kernel_tree.inspect(str(tree))
    assert edited.key != first
    assert edited.revision == "v6.6.58-dirty"
    (tree / "fs/super.c").write_text("int x;\n")
    assert kernel_tree.inspect(str(tree)).key == first
    (tree / ".config").write_text("CONFIG_EXT4_FS=y\n")  # ignored by no .gitignore here, but a config all the same
    assert kernel_tree.inspect(str(tree)).key != first


def test_a_tree_without_a_config_is_keyed_on_the_base_a_guest_kernel_starts_from(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = kernel_tree.inspect(str(tree)).key
    monkeypatch.setattr(kernel_config, "BASE_TARGETS", ("defconfig", "kvm_guest.config"))
    assert kernel_tree.inspect(str(tree)).key != first
    (tree / ".config").write_text("CONFIG_EXT4_FS=y\n")
    own = kernel_tree.inspect(str(tree)).key
    monkeypatch.setattr(kernel_config, "BASE_TARGETS", ("allnoconfig", "kvm_guest.config"))
    assert kernel_tree.inspect(str(tree)).key == own


def test_a_tree_without_git_is_keyed_by_its_sources_not_its_build_products(tmp_path: Path) -> None:
    root = tmp_path / "linux"
    (root / "fs").mkdir(parents=True)
    (root / "Makefile").write_text(MAKEFILE)
    (root / "fs/super.c").write_text("int x;\n")
    first = kernel_tree.inspect(str(root))
    assert first.revision == "files"
    (root / "fs/super.o").write_text("object")
    (root / "fs/.super.o.cmd").write_text("cmd")
    assert kernel_tree.inspect(str(root)).key == first.key
    (root / "fs/super.c").write_text("int x; int y;\n")
    assert kernel_tree.inspect(str(root)).key != first.key


def test_a_tree_whose_repository_is_another_users_is_keyed_by_its_files(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: (tree / ".git").stat().st_uid + 1)  # what git calls dubious ownership
    found = kernel_tree.inspect(str(tree))
    assert found.revision == "files" and found.package_version == "6.6.58+tree.files"
    (tree / "fs/super.c").write_text("int y;\n")
    assert kernel_tree.inspect(str(tree)).key != found.key


def test_the_extraversion_is_part_of_the_version(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text(MAKEFILE.replace("SUBLEVEL = 58", "SUBLEVEL = 0").replace(
        "EXTRAVERSION =", "EXTRAVERSION = -rc3"))  # fmt: skip
    assert kernel_tree.kernel_version(tmp_path) == "6.6.0-rc3"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "--kernel-tree is empty"),
        ("   ", "--kernel-tree is empty"),
        ("/tmp/my linux", "has white space"),
        ("/tmp/../tmp", "goes up with '..'"),
        ("/nonexistent/linux", "is not a folder"),
        ("/etc", "is not a kernel source tree (no Makefile with VERSION =)"),
    ],
)
def test_a_path_that_is_no_kernel_tree_is_refused(text: str, said: str) -> None:
    with pytest.raises(UserError, match=said.replace("(", r"\(").replace(")", r"\)")):
        kernel_tree.checked_path(text)


def _deb(folder: Path, package: str, version: str = "6.12.95-1", depends: str = "") -> Path:
    """A real .deb file with these control fields (and nothing else)."""
    root = folder.parent / f"control-{package}-{version}-{len(depends)}"
    (root / "DEBIAN").mkdir(parents=True)
    control = f"Package: {package}\nVersion: {version}\nArchitecture: all\nMaintainer: t <t@t>\nDescription: t\n"
    (root / "DEBIAN/control").write_text(control + (f"Depends: {depends}\n" if depends else ""))
    path = folder / f"{package}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--build", "-Znone", str(root), str(path)], check=True, capture_output=True)
    return path


RELEASE = "6.12.95+deb12-amd64"


@pytest.fixture
def debian_kernel(tmp_path: Path) -> Path:
    """A folder with Debian's four packages of one kernel, depending on each other as Debian's do."""
    folder = tmp_path / "debs"
    folder.mkdir()
    _deb(folder, f"linux-image-{RELEASE}-unsigned", depends="kmod, initramfs-tools | linux-initramfs-tool")
    _deb(folder, f"linux-headers-{RELEASE}", depends=f"linux-base (>= 4.12~), linux-headers-6.12.95+deb12-common "
         f"(= 6.12.95-1), linux-image-{RELEASE} (= 6.12.95-1) | linux-image-{RELEASE}-unsigned (= 6.12.95-1), "
         "linux-kbuild-6.12.95+deb12, gcc-12")  # fmt: skip
    _deb(folder, "linux-headers-6.12.95+deb12-common")
    _deb(folder, "linux-kbuild-6.12.95+deb12", depends="libc6 (>= 2.34), pahole")
    return folder


def test_a_folder_of_a_kernels_debs_is_one_image_line(debian_kernel: Path) -> None:
    image = kernel_image.inspect([str(debian_kernel)])
    assert (image.release, image.version, len(image.packages)) == (RELEASE, "6.12.95-1", 4)
    assert image.line.name == f"image-6.12.95-deb12-{image.key}"
    assert image.line.suite == "bookworm"
    files = sorted(str(path) for path in debian_kernel.glob("*.deb"))
    assert kernel_image.inspect(files).key == image.key


def test_the_images_key_follows_the_packages_content(debian_kernel: Path) -> None:
    first = kernel_image.inspect([str(debian_kernel)]).key
    common = next(debian_kernel.glob("linux-headers-*-common_*.deb"))
    common.unlink()
    _deb(debian_kernel, "linux-headers-6.12.95+deb12-common", depends="linux-base")
    assert kernel_image.inspect([str(debian_kernel)]).key != first


def test_headers_left_out_are_named_with_how_to_get_them(debian_kernel: Path) -> None:
    next(debian_kernel.glob(f"linux-headers-{RELEASE}_*.deb")).unlink()
    with pytest.raises(
        UserError, match=re.escape(f"the headers of {RELEASE} are missing: add linux-headers-{RELEASE}_6.12.95-1")
    ):
        kernel_image.inspect([str(debian_kernel)])


def test_headers_of_another_version_are_refused(debian_kernel: Path) -> None:
    next(debian_kernel.glob(f"linux-headers-{RELEASE}_*.deb")).unlink()
    _deb(debian_kernel, f"linux-headers-{RELEASE}", version="6.12.90-1")
    with pytest.raises(UserError, match="is version 6.12.90-1, the image 6.12.95-1: give the headers of the same"):
        kernel_image.inspect([str(debian_kernel)])


def test_a_kernel_package_the_headers_need_is_asked_for(debian_kernel: Path) -> None:
    next(debian_kernel.glob("linux-kbuild-*.deb")).unlink()
    with pytest.raises(UserError, match=r"needs linux-kbuild-6.12.95\+deb12: add its .deb"):
        kernel_image.inspect([str(debian_kernel)])


def test_a_meta_package_is_not_a_kernel_image(tmp_path: Path) -> None:
    meta = _deb(tmp_path, "linux-image-amd64", depends="linux-image-6.1.0-50-amd64")
    with pytest.raises(UserError, match="is not a kernel image \\(a meta-package\\?\\)"):
        kernel_image.inspect([str(meta)])


def test_a_package_of_no_kernel_is_refused(debian_kernel: Path) -> None:
    _deb(debian_kernel, "fio")
    with pytest.raises(UserError, match="fio_6.12.95-1_all.deb is not a package of a kernel"):
        kernel_image.inspect([str(debian_kernel)])


def test_a_deb_that_is_no_linux_image_is_refused(tmp_path: Path) -> None:
    fio = _deb(tmp_path, "fio")
    with pytest.raises(UserError, match="--kernel-image needs one linux-image package, not none"):
        kernel_image.inspect([str(fio)])


def test_two_images_are_two_kernels(debian_kernel: Path) -> None:
    _deb(debian_kernel, "linux-image-6.1.0-50-amd64")
    with pytest.raises(UserError, match="needs one linux-image package, not linux-image-6.1.0-50-amd64, linux-image"):
        kernel_image.inspect([str(debian_kernel)])


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        ("kernel.rpm", "rpm", "is not a .deb package: only Debian packages are taken"),
        ("bzImage", "MZ", "is not a .deb package: only Debian packages are taken"),
        ("fake.deb", "not an archive", "is not a .deb package (no Debian archive inside)"),
    ],
)
def test_what_is_no_deb_is_refused_in_one_line(tmp_path: Path, name: str, text: str, said: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(UserError, match=said.replace("(", r"\(").replace(")", r"\)")):
        kernel_image.inspect([str(tmp_path / name)])


def test_a_folder_without_debs_and_a_missing_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="is a folder without .deb files"):
        kernel_image.inspect([str(tmp_path)])
    with pytest.raises(UserError, match="does not exist"):
        kernel_image.inspect([str(tmp_path / "nope.deb")])
    with pytest.raises(UserError, match="--kernel-image is empty"):
        kernel_image.inspect([""])


def test_one_vm_runs_one_kernel(tree: Path, debian_kernel: Path) -> None:
    with pytest.raises(UserError, match="--kernel and --kernel-tree/--kernel-image each name the VM's kernel"):
        brought_lines(str(tree), (), one_vm=True, kernel="6.1")
    with pytest.raises(UserError, match="--kernel-tree and --kernel-image each name the VM's kernel"):
        brought_lines(str(tree), (str(debian_kernel),), one_vm=True, kernel=None)
    both = brought_lines(str(tree), (str(debian_kernel),), one_vm=False, kernel=None)
    assert [line.name.split("-")[0] for line in both] == ["tree", "image"]


def test_a_tree_is_the_one_vms_kernel_and_a_line_added_to_the_matrix(tree: Path, debian_kernel: Path) -> None:
    one = TEST_KERNEL.request({"kernel_tree": str(tree)}, None)
    (line,) = one.lines
    assert line.name.startswith("tree-6.6.58-") and one.settings.kernel == line.name
    matrix = MATRIX.request({"kernels": "6.1", "kernel_tree": str(tree), "kernel_image": [str(debian_kernel)]}, None)
    assert [line.name.split("-")[0] for line in matrix.lines] == ["6.1", "tree", "image"]


@pytest.mark.parametrize(
    ("config", "without"),
    [("CONFIG_PRINTK=y\nCONFIG_BUG=y\n", False), ("# CONFIG_PRINTK is not set\n", True), ("CONFIG_BUG=y\n", True),
     (None, False)],
)  # fmt: skip
def test_a_kernel_built_without_a_kernel_log_is_told_by_its_config(
    tmp_path: Path, config: str | None, without: bool
) -> None:
    path = tmp_path / "config-6.1.0"
    if config is not None:
        path.write_text(config)
    assert kernel_config.without_kernel_log(path) is without
