"""`--json` on vm.status, box.list and results.show: the keys docs/usage.md promises, and nothing else."""

import json
import os
import subprocess
from pathlib import Path

from toolkit.boxes.store import Box
from toolkit.machines.protocol import MachineStatus
from toolkit.results import store
from toolkit.results.records import RunRecord

REPO = Path(__file__).parents[2]
USAGE = REPO / "docs" / "usage.md"
REAL_RUN = Path(__file__).parent / "fixtures" / "results" / "20261128-032950-a3a1"
BOX_KEYS = ["name", "kernel_line", "suite", "kernel_release", "kernel_package", "built", "size_bytes", "path"]
VM_KEYS = ["name", "provider", "state", "kernel_line", "accel", "ssh", "box", "problem"]
SHOW_KEYS = ["run_id", "started", "finished", "interrupted", "state", "planned", "summary", "exit_status", "rows"]
DPKG_STATUS = """Package: gcc
Status: install ok installed
Version: 4:12.2.0-3

Package: gcc-12
Status: install ok installed
Description: GNU C compiler
 Version: not this one, a continuation line
Version: 12.2.0-14+deb12u1
"""


def _box(cache: Path) -> Box:
    box = Box(cache / "boxes" / "bookworm-abc", "bookworm-abc", "6.1", "bookworm", "6.1.0-50-amd64", "6.1.176-1",
              "2026-11-28T02:39:49+00:00")  # fmt: skip
    (box.rootfs / "usr" / "bin").mkdir(parents=True)
    (box.rootfs / "var" / "lib" / "dpkg").mkdir(parents=True)
    (box.rootfs / "usr" / "bin" / "gcc").symlink_to("gcc-12")
    (box.rootfs / "var" / "lib" / "dpkg" / "status").write_text(DPKG_STATUS)
    box.save()
    return box


def test_a_box_names_the_gcc_its_modules_are_built_with(tmp_path: Path) -> None:
    box = _box(tmp_path)
    assert box.compiler() == "gcc-12 12.2.0-14+deb12u1"
    (box.rootfs / "usr" / "bin" / "gcc").unlink()
    assert box.compiler() == ""


def test_a_box_and_a_vm_describe_themselves_with_stable_keys(tmp_path: Path) -> None:
    assert list(_box(tmp_path).describe()) == BOX_KEYS
    status = MachineStatus("default", "qemu", "running", "6.1", "bookworm-abc", "kvm", "127.0.0.1:2222")
    assert list(status.to_dict()) == VM_KEYS and status.to_dict()["ssh"] == "127.0.0.1:2222"


def _invoke(tmp_path: Path, *words: str) -> object:
    env = {**os.environ, "VEXFS_CACHE_DIR": str(tmp_path / "cache"), "VEXFS_STATE_DIR": str(tmp_path / "state"),
           "VEXFS_RESULTS_DIR": str(tmp_path / "results")}  # fmt: skip
    done = subprocess.run([str(REPO / ".venv/bin/invoke"), "--search-root", str(REPO), *words], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_tasks_print_json_with_the_documented_keys(tmp_path: Path) -> None:
    _box(tmp_path / "cache")
    store.write(tmp_path / "results", RunRecord.from_dict(json.loads((REAL_RUN / "results.json").read_text())))
    boxes = _invoke(tmp_path, "box.list", "--json")
    assert isinstance(boxes, list) and [list(b) for b in boxes] == [BOX_KEYS]
    assert _invoke(tmp_path, "vm.status", "--json") == []
    shown = _invoke(tmp_path, "results.show", "--json")
    assert isinstance(shown, dict) and list(shown) == SHOW_KEYS and shown["rows"][2]["tests"]["load"] == "failed"


def test_the_usage_page_lists_each_listings_keys_in_order() -> None:
    listings = USAGE.read_text().split("## `--json` listings", 1)[1].split("\n## ", 1)[0]
    for task, keys in (("vm.status", VM_KEYS), ("box.list", BOX_KEYS), ("results.show", SHOW_KEYS)):
        line = next(line for line in listings.splitlines() if line.startswith(f"- `{task}`"))
        said = line + listings.split(line, 1)[1].split("\n- ", 1)[0]
        assert [said.index(key) for key in keys] == sorted(said.index(key) for key in keys), task
