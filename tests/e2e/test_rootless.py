"""Everything as an ordinary user: the 6.1 box built in a user namespace, the module built in its chroot, and
test.kernel run on it. These run only when pytest is not root (CI runs them as a user of their own)."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkit import user_namespace
from toolkit.boxes.store import Box
from toolkit.config import Settings
from toolkit.domains.module.build import build_in_chroot
from toolkit.machines import box_supply, registry

from .conftest import VEXFS_TESTS, qemu_processes_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() == 0, reason="what an ordinary user can do: run as one"),
]

REPO = Path(__file__).parents[2]
VEXFS = REPO / "kernel" / "vexfs"
GUEST_USER_ID = 1000  # the box's vagrant user


@pytest.fixture(scope="module")
def user_box(settings: Settings) -> Box:
    assert user_namespace.problem("the rootless tests") is None
    return box_supply.box_for(settings, "6.1")


def subordinate_start() -> int:
    name = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
    found = user_namespace.first_range(user_namespace.parse_ranges(Path("/etc/subuid").read_text()), name, os.getuid())
    assert found is not None
    return found.start


def test_the_box_s_tree_is_this_user_s_and_its_other_owners_are_the_subordinate_ids(user_box: Box) -> None:
    assert (user_box.rootfs / "etc").stat().st_uid == os.getuid()
    vagrant_home = (user_box.rootfs / "home" / "vagrant").stat()
    assert vagrant_home.st_uid == subordinate_start() + GUEST_USER_ID - 1
    assert user_box.disk.is_file() and user_box.kernel.is_file()


def test_the_module_builds_in_the_box_s_chroot(user_box: Box, tmp_path: Path) -> None:
    outcome = build_in_chroot(user_box.rootfs, user_box.kernel_release, VEXFS, tmp_path, timeout=600)
    assert outcome.ok, outcome.output
    assert outcome.where == "chroot"
    assert [module.vermagic.split()[0] for module in outcome.modules] == [user_box.kernel_release]


@pytest.fixture
def vm(settings: Settings, user_box: Box) -> Iterator[str]:
    name = f"e2e-user-{uuid.uuid4().hex[:6]}"
    yield name
    registry.open_existing(settings, name).destroy()
    assert qemu_processes_for(name) == []


def test_a_quick_test_kernel_passes_every_test_as_this_user(vm: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [str(REPO / ".venv/bin/invoke"), "test.kernel", "--kernel", "6.1", "--quick", "--name", vm], cwd=REPO,
        capture_output=True, text=True, timeout=1200, env={**os.environ, "VEXFS_RESULTS_DIR": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [run] = json.loads((tmp_path / "latest" / "results.json").read_text())["runs"]
    assert len(run["tests"]) == VEXFS_TESTS
    assert {test["name"]: test["status"] for test in run["tests"]} == {test["name"]: "passed" for test in run["tests"]}
    assert {test["name"] for test in run["tests"]} >= {"build", "load", "memory_leak"}
