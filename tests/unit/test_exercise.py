"""The guest's exerciser (scripts/exercise.py) on a fake system tree: what a module added is found by comparing
the system before and after it loaded, each path is exercised within its bounds, and the host's verdict says
what was done with counts."""

from __future__ import annotations

import importlib.util
import json
import os
import stat
from pathlib import Path
from types import ModuleType

import pytest

from toolkit.domains.kernel_module import interfaces
from toolkit.results.records import Status

SCRIPT = Path(__file__).parents[2] / "toolkit/domains/kernel_module/scripts/exercise.py"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A system before a module loads: /proc, /sys and /dev with what any kernel has."""
    files = {
        "proc/misc": "183 hw_random\n", "proc/devices": "Character devices:\n  1 mem\n 10 misc\n",
        "proc/filesystems": "nodev\tsysfs\n\text4\n", "proc/uptime": "1.0 1.0\n", "proc/1/status": "x\n",
        "sys/class/misc/hw_random/dev": "10:183\n", "sys/kernel/debug/sched/verbose": "N\n",
        "sys/kernel/mm/x": "1\n", "sys/bus/platform/drivers/serial8250/uevent": "",
    }  # fmt: skip
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "dev").mkdir()
    os.mknod(tmp_path / "dev/zero", 0o666 | stat.S_IFCHR, os.makedev(1, 5))
    monkeypatch.setenv("GUEST_ROOT", str(tmp_path))
    return tmp_path


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("exercise", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_module(root: Path) -> None:
    """What loading a misc-device module with a /proc file, a sysfs class device and debugfs files changes."""
    (root / "proc/misc").write_text("183 hw_random\n 57 buggydev\n")
    (root / "proc/buggydev").write_text("opens 0\n")
    (root / "proc/buggydev").chmod(0o444)
    (root / "sys/class/misc/buggydev").mkdir()
    (root / "sys/class/misc/buggydev/dev").write_text("10:57\n")
    (root / "sys/class/misc/buggydev/fill").write_text("0\n")
    (root / "sys/class/misc/buggydev/fill").chmod(0o644)
    (root / "sys/class/misc/buggydev/uevent").write_text("MAJOR=10\n")
    (root / "sys/class/misc/buggydev/subsystem").symlink_to(root / "sys/class/misc")
    (root / "sys/kernel/debug/buggydev").mkdir()
    (root / "sys/kernel/debug/buggydev/stats").write_text("0\n")
    (root / "sys/module/buggydev/parameters").mkdir(parents=True)
    (root / "sys/module/buggydev/parameters/bug").write_text("(null)\n")
    os.mknod(root / "dev/buggydev", 0o600 | stat.S_IFCHR, os.makedev(10, 57))


def test_what_a_module_added_is_found_by_comparing_before_and_after(root: Path) -> None:
    exercise = _script()
    before = exercise.snapshot()
    _load_module(root)
    assert exercise.added(before, exercise.snapshot(), "buggydev") == [
        ("chardev", "/dev/buggydev"),
        ("proc", "/proc/buggydev"),
        ("sysfs", "/sys/class/misc/buggydev"),
        ("debugfs", "/sys/kernel/debug/buggydev"),
        ("parameters", "/sys/module/buggydev/parameters"),
    ]


def test_a_module_that_adds_nothing_has_no_surface(root: Path) -> None:
    exercise = _script()
    before = exercise.snapshot()
    assert exercise.added(before, exercise.snapshot(), "quiet") == []


def test_a_new_directory_is_exercised_through_its_files_not_its_links_or_uevent(root: Path) -> None:
    exercise = _script()
    _load_module(root)
    assert exercise.files_of("sysfs", "/sys/class/misc/buggydev") == [
        "/sys/class/misc/buggydev/dev", "/sys/class/misc/buggydev/fill"]  # fmt: skip


def test_the_walk_reads_every_file_and_writes_malformed_strings_only_to_writable_ones(root: Path) -> None:
    exercise = _script()
    before = exercise.snapshot()
    _load_module(root)
    (root / "dev/buggydev").unlink()  # a device node of its own: the host's /dev/zero stands in below
    walked = exercise.walk(before, "buggydev", [], 30.0)
    fill, proc = walked["paths"]["/sys/class/misc/buggydev/fill"], walked["paths"]["/proc/buggydev"]
    assert proc["counts"] == {"open": 5, "read": 5}
    assert fill["counts"] == {"open": 5 + 7, "read": 5, "write": 7}  # what was read back, then 6 malformed
    assert (root / "sys/class/misc/buggydev/fill").read_text() == "A" * 4096
    assert "vexfs-vmtest: exercising /proc/buggydev" in (root / "dev/kmsg").read_text()
    assert walked["wrong"] == [] and walked["out_of_time"] == []


def test_a_device_is_opened_read_written_polled_mapped_and_sent_ioctls(root: Path) -> None:
    exercise = _script()
    tally = exercise.Tally()
    ioctl = {"name": "GET_SIZE", "number": 0x80046201, "size": 4, "direction": "read"}
    exercise.signal.signal(exercise.signal.SIGALRM, exercise._alarm)
    exercise.use_device("/dev/zero", [ioctl], tally, opens=20)
    assert tally.counts["open"] == 21 and tally.counts["close"] == 20
    assert tally.counts["read"] == 8 and tally.counts["write"] == 4 and tally.counts["poll"] == 1
    assert tally.outcomes["ioctl GET_SIZE:ENOTTY"] == 4 and "ioctl unknown" not in tally.counts
    exercise.misuse_device("/dev/zero", [ioctl], tally)
    assert tally.outcomes["ioctl unknown:ENOTTY"] == 2 and tally.counts["ioctl bad pointer"] == 3
    assert tally.wrong == []


def test_users_use_the_surface_with_good_input_round_after_round(root: Path, tmp_path: Path) -> None:
    exercise = _script()
    exercise.write_json(str(tmp_path / "before.json"), exercise.snapshot())
    _load_module(root)
    (root / "dev/buggydev").unlink()
    exercise.main(["exercise.py", "surface", str(tmp_path / "before.json"), "buggydev", str(tmp_path / "s.json")])
    surface = exercise.read_json(str(tmp_path / "s.json"))
    assert ["proc", "/proc/buggydev"] in surface and ["parameters", "/sys/module/buggydev/parameters"] in surface
    used = exercise.use(surface, [], 0.0)
    assert used["rounds"] == 1
    assert used["paths"]["/proc/buggydev"]["counts"] == {"open": 1, "read": 1}
    fill = used["paths"]["/sys/class/misc/buggydev/fill"]["counts"]
    assert fill == {"open": 2, "read": 1, "write": 1}  # what it read, written back; nothing malformed
    assert (root / "sys/class/misc/buggydev/fill").read_text() == "0\n"
    assert not (root / "dev/kmsg").exists()  # no marks: with several users at once they would name no culprit


def test_users_with_nothing_to_use_keep_the_module_loaded_for_their_time(root: Path) -> None:
    exercise = _script()
    used = exercise.use([], [], 0.2)
    assert used == {"rounds": 0, "paths": {}}


def test_a_walk_past_its_budget_says_which_paths_it_did_not_reach(root: Path) -> None:
    exercise = _script()
    before = exercise.snapshot()
    _load_module(root)
    walked = exercise.walk(before, "buggydev", [], 0.0)
    assert walked["paths"] == {} and "/proc/buggydev" in walked["out_of_time"]


def _walked(**changes: object) -> dict:
    walked = {
        "surface": [{"kind": "chardev", "path": "/dev/buggydev", "mode": "crw-------"},
                    {"kind": "proc", "path": "/proc/buggydev", "mode": "-r--r--r--"}],
        "paths": {"/dev/buggydev": {"kind": "chardev", "outcomes": {"open:ok": 22, "write:ENOSPC": 1},
                                    "counts": {"open": 22, "read": 8, "write": 4, "ioctl GET": 1,
                                               "ioctl bad pointer": 3, "ioctl unknown": 2}},
                  "/proc/buggydev": {"kind": "proc", "counts": {"open": 5, "read": 5}, "outcomes": {"read:ok": 5}}},
        "wrong": [], "out_of_time": [],
    }  # fmt: skip
    return json.loads(json.dumps({**walked, **changes}))


def test_the_verdict_says_what_was_exercised_with_counts() -> None:
    verdict = interfaces.verdict(_walked(), 20.0)
    assert verdict.status is Status.PASSED
    assert verdict.message == (
        "/dev/buggydev: 22 opens, 8 reads, 4 writes, 1 ioctl from the source x 1 call, 3 with bad pointers, "
        "2 unknown ioctls (1 refused); 1 file read 5 times"
    )
    assert verdict.metrics["surface"][0] == {"kind": "chardev", "path": "/dev/buggydev", "mode": "crw-------"}


def test_an_accepted_unknown_ioctl_is_red_and_an_empty_surface_says_so() -> None:
    red = interfaces.verdict(_walked(wrong=["/dev/buggydev: unknown ioctl 0xdead succeeded"]), 20.0)
    assert red.status is Status.FAILED and red.message == "/dev/buggydev: unknown ioctl 0xdead succeeded"
    nothing = interfaces.verdict(_walked(surface=[], paths={}), 20.0)
    assert nothing.status is Status.PASSED and nothing.message.startswith("the module exposes nothing to exercise")


def test_a_kernel_report_is_blamed_on_the_path_exercised_before_it() -> None:
    log = ["[ 1.0] vexfs-vmtest: exercising /proc/buggydev", "[ 1.1] vexfs-vmtest: exercising /dev/buggydev",
           "[ 1.2] BUG: KASAN: slab-use-after-free in buggydev_open", "[ 1.3] vexfs-vmtest: exercising /x"]  # fmt: skip
    assert interfaces.culprit(log, "KASAN: slab-use-after-free in buggydev_open") == "/dev/buggydev"
    assert interfaces.culprit(log[2:3], "KASAN") == ""


def test_ioctl_buffers_include_small_values_a_driver_accepts() -> None:
    exercise = _script()
    zeros, wide, narrow, pattern = exercise.buffers(32)  # a struct of u64 offset, u32 length, u32 flags, char[16]
    assert zeros == bytes(32) and pattern[:4] == b"\x00\x01\x02\x03"
    assert int.from_bytes(wide[:8], "little") == 1 and int.from_bytes(wide[8:12], "little") == 1
    assert int.from_bytes(wide[12:16], "little") == 0 and wide[16:18] == b"\x01\x00"  # flags 0, pattern "\x01"
    assert int.from_bytes(narrow[:4], "little") == 1 and len(narrow) == 32
    assert exercise.buffers(3) == (bytes(3), b"\x01\x00\x00", b"\x01\x00\x00", b"\x00\x01\x02")
