"""A kernel the user brings is a line of its own: `--kernel-image` with Debian's newest bookworm-backports kernel
(downloaded from the configured mirror) gets a box of bookworm's userland, and kernel/vexfs is built against its
headers and tested there. `--kernel-tree` builds a whole kernel (30-60 min on two cores): it runs only in the full
suites (VEXFS_FULL=1) and when OWN_KERNEL_TREE names a kernel source tree."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkit.config import Settings
from toolkit.host_tools import DEBIAN_KEYRING
from toolkit.machines import registry

pytestmark = pytest.mark.e2e

REPO = Path(__file__).parents[2]
INVOKE = str(REPO / ".venv/bin/invoke")
QUICK = ("--only", "build,load,unload")


def _apt(folder: Path, mirror: str, suite: str) -> list[str]:
    """apt-get reading only suite of mirror, its lists and cache in folder."""
    (folder / "lists/partial").mkdir(parents=True, exist_ok=True)
    (folder / "archives/partial").mkdir(parents=True, exist_ok=True)
    (folder / "sources.list").write_text(f"deb [signed-by={DEBIAN_KEYRING}] {mirror} {suite} main\n")
    options = {"Dir::Etc::SourceList": folder / "sources.list", "Dir::Etc::SourceParts": "/dev/null",
               "Dir::State::Lists": folder / "lists", "Dir::Cache": folder, "Acquire::Check-Valid-Until": "false"}  # fmt: skip
    return [word for name, value in options.items() for word in ("-o", f"{name}={value}")]


@pytest.fixture(scope="module")
def backports_kernel(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A folder with the newest bookworm-backports kernel's four packages, and its release."""
    folder = tmp_path_factory.mktemp("kernel-image")
    options = _apt(folder / "apt", settings.mirror, "bookworm-backports")
    subprocess.run(["apt-get", *options, "update", "-q"], check=True, capture_output=True, timeout=600)
    names = subprocess.run(["apt-cache", *options, "search", "--names-only", r"^linux-image-.*\+deb12-amd64-unsigned$"],
                           check=True, capture_output=True, text=True).stdout  # fmt: skip
    releases = sorted(
        (re.fullmatch(r"linux-image-(\S+)-unsigned", line.split(" ")[0]).group(1) for line in names.splitlines()),  # type: ignore[union-attr]
        key=lambda release: [int(part) for part in re.findall(r"\d+", release.split("+")[0])],
    )
    if not releases:
        pytest.skip(f"{settings.mirror} has no bookworm-backports kernel")
    release = releases[-1]
    packages = [f"linux-image-{release}-unsigned", f"linux-headers-{release}",
                f"linux-headers-{release.removesuffix('-amd64')}-common", f"linux-kbuild-{release.removesuffix('-amd64')}"]  # fmt: skip
    debs = folder / "debs"
    debs.mkdir()
    subprocess.run(["apt-get", *options, "download", *packages], check=True, capture_output=True, cwd=debs, timeout=900)
    return debs, release


@pytest.fixture
def own_vm(settings: Settings) -> Iterator[str]:
    name = f"e2e-own-{uuid.uuid4().hex[:6]}"
    yield name
    if registry.exists(settings, name):
        registry.destroy(settings, name)


def _test_kernel(tmp_path: Path, *args: str) -> dict:  # type: ignore[type-arg]
    """Run test.kernel on kernel/vexfs with args; the run of its results.json."""
    env = {**os.environ, "VEXFS_RESULTS_DIR": str(tmp_path / "results")}
    done = subprocess.run([INVOKE, "--search-root", str(REPO), "test.kernel", *QUICK, *args], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=7200)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "results/latest/results.json").read_text())
    return results["runs"][0]  # type: ignore[no-any-return]


def test_a_debian_kernels_packages_are_a_line_of_their_own(
    tmp_path: Path, backports_kernel: tuple[Path, str], own_vm: str
) -> None:
    debs, release = backports_kernel
    run = _test_kernel(tmp_path, "--kernel-image", str(debs), "--name", own_vm)
    assert re.fullmatch(rf"image-{re.escape(release.split('+')[0])}-deb12-[0-9a-f]{{6}}", run["kernel_line"])
    assert run["kernel"] == release
    assert run["kernel_package"].endswith("~bpo12+1")
    assert [test["status"] for test in run["tests"]] == ["passed"] * len(QUICK[1].split(","))


@pytest.mark.full
def test_a_kernel_tree_is_built_out_of_it_and_tested(tmp_path: Path, own_vm: str) -> None:
    tree = os.environ.get("OWN_KERNEL_TREE")
    if not tree:
        pytest.skip("OWN_KERNEL_TREE names no kernel source tree")
    before = subprocess.run(["git", "-C", tree, "status", "--porcelain", "--ignored"], capture_output=True, text=True)
    run = _test_kernel(tmp_path, "--kernel-tree", tree, "--name", own_vm)
    assert run["kernel_line"].startswith("tree-")
    assert "+tree." in run["kernel_package"]
    assert [test["status"] for test in run["tests"]] == ["passed"] * len(QUICK[1].split(","))
    after = subprocess.run(["git", "-C", tree, "status", "--porcelain", "--ignored"], capture_output=True, text=True)
    assert after.stdout == before.stdout  # the tree was only read
