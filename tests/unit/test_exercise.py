"""The guest's exerciser (scripts/exercise.py) on a fake system tree: what a module added is found by comparing
the system before and after it loaded, each path is exercised within its bounds, and the host's verdict says
what was done with counts."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from toolkit.domains.kernel_module import interfaces
from toolkit.domains.module import exercised
from toolkit.results.records import Status

SCRIPT = Path(__file__).parents[2] / "toolkit/domains/module/scripts/exercise.py"


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
    assert used == {"rounds": 0, "paths": {}, "wrong": []}


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


def test_a_call_past_its_time_is_blocked_even_when_the_alarm_goes_off_as_it_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exercise = _script()
    signal.signal(signal.SIGALRM, exercise._alarm)
    try:
        monkeypatch.setattr(exercise, "OP_TIMEOUT_S", 0.05)
        assert exercise.bounded(time.sleep, 5) == ("blocked", None)
        arm = signal.setitimer

        def alarm_while_disarming(which: int, seconds: float) -> tuple[float, float]:
            armed = arm(which, seconds)
            if seconds == 0:
                exercise._alarm(signal.SIGALRM, None)  # what the handler does when the timer fires just then
            return armed

        monkeypatch.setattr(exercise.signal, "setitimer", alarm_while_disarming)
        assert exercise.bounded(len, b"done") == ("blocked", None)
    finally:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)


def test_ioctl_buffers_include_small_values_a_driver_accepts() -> None:
    exercise = _script()
    zeros, wide, narrow, pattern = exercise.buffers(32)  # a struct of u64 offset, u32 length, u32 flags, char[16]
    assert zeros == bytes(32) and pattern[:4] == b"\x00\x01\x02\x03"
    assert int.from_bytes(wide[:8], "little") == 1 and int.from_bytes(wide[8:12], "little") == 1
    assert int.from_bytes(wide[12:16], "little") == 0 and wide[16:18] == b"\x01\x00"  # flags 0, pattern "\x01"
    assert int.from_bytes(narrow[:4], "little") == 1 and len(narrow) == 32
    assert exercise.buffers(3) == (bytes(3), b"\x01\x00\x00", b"\x01\x00\x00", b"\x00\x01\x02")


def test_every_ioctl_runs_again_after_every_other_one_did(monkeypatch: pytest.MonkeyPatch) -> None:
    """A RESET that frees what SET writes to shows only when SET runs after it."""
    exercise = _script()
    calls: list[tuple[int, bytes | int]] = []

    def ioctl(fd: int, number: int, argument: bytes | bytearray | int) -> int:
        calls.append((number, argument if isinstance(argument, int) else bytes(argument)))
        return 0

    monkeypatch.setattr(exercise.fcntl, "ioctl", ioctl)
    commands = [{"name": "CFG_SET", "number": 1, "size": 8, "direction": "write"},
                {"name": "CFG_RESET", "number": 2, "size": 0, "direction": "none"}]  # fmt: skip
    tally = exercise.Tally()
    exercise.call_ioctls(3, commands, tally)
    assert [number for number, _ in calls] == [1, 2, 1, 2, 1, 2, 1, 2]
    assert [argument for number, argument in calls if number == 1] == list(exercise.buffers(8))
    assert [argument for number, argument in calls if number == 2] == [0, 0, 0, 0]


MIB = 1 << 20


def _block_module(root: Path) -> None:
    """What loading a module with an 8 MiB disk of one partition and a network interface changes: its major, its
    devices' folders (reached through /sys/block, /sys/class and /sys/dev/block) and nodes, the interface."""
    (root / "proc/devices").write_text("Character devices:\n  1 mem\n 10 misc\n\nBlock devices:\n252 vmtestblk\n")
    disk = root / "sys/devices/virtual/block/vmtestblk0"
    for folder, number in ((disk, "252:0"), (disk / "vmtestblk0p1", "252:1")):
        (folder / "holders").mkdir(parents=True)
        (folder / "dev").write_text(f"{number}\n")
        (root / "sys/dev/block").mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(folder, root / "sys/dev/block"), root / f"sys/dev/block/{number}")
    (disk / "size").write_text("16384\n")
    (disk / "vmtestblk0p1/size").write_text("14336\n")
    (disk / "vmtestblk0p1/partition").write_text("1\n")
    (disk / "vmtestblk0p1/start").write_text("2048\n")
    (root / "sys/block").mkdir(exist_ok=True)
    (root / "sys/class/block").mkdir(exist_ok=True)
    for name, target in (("sys/block/vmtestblk0", disk), ("sys/class/block/vmtestblk0", disk),
                         ("sys/class/block/vmtestblk0p1", disk / "vmtestblk0p1")):  # fmt: skip
        os.symlink(os.path.relpath(target, (root / name).parent), root / name)
    os.mknod(root / "dev/vmtestblk0", 0o660 | stat.S_IFBLK, os.makedev(252, 0))
    os.mknod(root / "dev/vmtestblk0p1", 0o660 | stat.S_IFBLK, os.makedev(252, 1))
    (root / "sys/class/net/vmtestnet0/statistics").mkdir(parents=True)
    (root / "sys/class/net/vmtestnet0/statistics/tx_packets").write_text("0\n")


def test_a_disk_is_exercised_through_its_nodes_in_dev_and_an_interface_as_itself(root: Path) -> None:
    exercise = _script()
    for folder in ("sys/class/net/lo", "sys/class/block", "sys/block"):
        (root / folder).mkdir(parents=True)
    before = exercise.snapshot()
    _block_module(root)
    surface = exercise.added(before, exercise.snapshot(), "vmtestblk")
    assert surface == [
        ("blockdev", "/dev/vmtestblk0"), ("blockdev", "/dev/vmtestblk0p1"),  # /sys/block/vmtestblk0 is the first
        ("sysfs", "/sys/class/block/vmtestblk0"), ("sysfs", "/sys/class/block/vmtestblk0p1"),
        ("sysfs", "/sys/class/net/vmtestnet0"), ("netdev", "/sys/class/net/vmtestnet0"),
    ]  # fmt: skip
    assert exercise.files_of("blockdev", "/dev/vmtestblk0") == ["/dev/vmtestblk0"]
    assert exercise.files_of("blockdev", "/sys/block/vmtestblk1") == []  # a disk without a node: nothing to open
    assert exercise.files_of("netdev", "/sys/class/net/vmtestnet0") == ["/sys/class/net/vmtestnet0"]


def _disk(root: Path, size: int = 8 * MIB) -> bytes:
    """A regular file standing in for the block device /dev/vmtestblk0 (its device number 0:0 is in
    /sys/dev/block), holding random bytes."""
    content = os.urandom(size)
    (root / "dev/vmtestblk0").write_bytes(content)
    (root / "sys/dev/block/0:0/holders").mkdir(parents=True)
    (root / "sys/dev/block/0:0/size").write_text(f"{size // 512}\n")
    return content


def _writes(exercise: ModuleType, monkeypatch: pytest.MonkeyPatch, corrupt_at: int | None = None) -> list:
    """Every write of a region, as (offset, bytes), written as they are or with one byte flipped."""
    writes: list[tuple[int, bytes]] = []
    write = exercise.pwrite_all

    def recorded(fd: int, data: bytes, offset: int) -> int:
        writes.append((offset, data))
        if corrupt_at is not None:
            data = data[:corrupt_at] + bytes([data[corrupt_at] ^ 1]) + data[corrupt_at + 1 :]
        return write(fd, data, offset)

    monkeypatch.setattr(exercise, "pwrite_all", recorded)
    return writes


def test_a_block_device_is_read_whole_and_regions_are_written_verified_and_given_back(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exercise = _script()
    content = _disk(root)
    writes = _writes(exercise, monkeypatch)
    tally = exercise.Tally()
    exercise.signal.signal(exercise.signal.SIGALRM, exercise._alarm)
    exercise.use_block("/dev/vmtestblk0", tally, opens=20, regions=exercise.walk_regions, ends=None)
    assert [offset for offset, _ in writes] == [4 * MIB, 4 * MIB, 8 * MIB - 65536, 8 * MIB - 65536]
    pattern, restored = writes[2][1], writes[3][1]
    assert pattern != content[-65536:] and restored == content[-65536:]
    assert int.from_bytes(pattern[512:520], "little") == 8 * MIB - 65536 + 512  # each sector says where it belongs
    assert (root / "dev/vmtestblk0").read_bytes() == content
    assert tally.outcomes["read whole:ok"] == 2 and tally.bytes["read whole"] == 16 * MIB
    assert tally.outcomes["verify region:ok"] == 2 and tally.counts["open"] == 21 and tally.wrong == []
    report = exercised.walked({"/dev/vmtestblk0": tally.entry("blockdev")})[0]
    assert (
        report.summary() == "/dev/vmtestblk0: 21 opens, 2 reads of all 8 MiB, 2 regions of 64 KiB written and verified"
    )


def test_a_region_that_reads_back_different_is_wrong_saying_where(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exercise = _script()
    _disk(root, size=32 * 1024)  # smaller than a region: the region is the whole device
    _writes(exercise, monkeypatch, corrupt_at=1000)  # a driver that flips a bit of what it stores
    tally = exercise.Tally()
    exercise.signal.signal(exercise.signal.SIGALRM, exercise._alarm)
    exercise.use_block("/dev/vmtestblk0", tally, opens=0, regions=exercise.walk_regions, ends=None)
    assert tally.wrong == ["32768 bytes written at offset 0 read back different (first at byte 1000)"]
    assert tally.outcomes["verify region:different"] == 1
    summary = exercised.walked({"/dev/x": tally.entry("blockdev")})[0].summary()
    assert summary == "/dev/x: 1 open, 2 reads of all 32 KiB, 1 region written, 0 read back the same"


def test_the_walk_says_which_block_device_read_back_different(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exercise = _script()
    _disk(root)
    _writes(exercise, monkeypatch, corrupt_at=7)
    monkeypatch.setattr(exercise, "added", lambda before, after, module: [("blockdev", "/dev/vmtestblk0")])
    walked = exercise.walk(exercise.snapshot(), "vmtestblk", [], 30.0)
    assert walked["wrong"] == [
        "/dev/vmtestblk0: 65536 bytes written at offset 4194304 read back different (first at byte 7)",
        "/dev/vmtestblk0: 65536 bytes written at offset 8323072 read back different (first at byte 7)",
    ]
    assert walked["paths"]["/dev/vmtestblk0"]["size"] == 8 * MIB
    assert "vexfs-vmtest: exercising /dev/vmtestblk0" in (root / "dev/kmsg").read_text()
    red = interfaces.verdict(walked, 30.0)
    assert red.status is Status.FAILED and red.message == f"{walked['wrong'][0]} (and 1 more)"


def test_a_block_device_in_use_is_read_but_never_written(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exercise = _script()
    content = _disk(root)
    writes = _writes(exercise, monkeypatch)
    tally = exercise.Tally()
    (root / "proc/self").mkdir()
    (root / "proc/self/mountinfo").write_text("29 1 0:0 / /mnt rw,relatime shared:1 - ext4 /dev/vmtestblk0 rw\n")
    exercise.signal.signal(exercise.signal.SIGALRM, exercise._alarm)
    exercise.use_block("/dev/vmtestblk0", tally, opens=0, regions=exercise.walk_regions, ends=None)
    assert writes == [] and (root / "dev/vmtestblk0").read_bytes() == content
    assert tally.outcomes == {"open:ok": 1, "read whole:ok": 2, "read region:ok": 2, "write region:busy": 2}
    summary = exercised.walked({"/dev/x": tally.entry("blockdev")})[0].summary()
    assert summary == "/dev/x: 1 open, 2 reads of all 8 MiB, 2 regions not written: the device is in use"


def test_a_disk_is_in_use_when_a_partition_of_it_is_and_the_other_way_round(root: Path) -> None:
    exercise = _script()
    _block_module(root)
    assert exercise.disk_of("252:1") == ("252:0", MIB)  # users lock a partition's regions in its disk's bytes
    assert exercise.disk_of("252:0") == ("252:0", 0)
    assert exercise.related_numbers("252:0") == {"252:0", "252:1"}
    assert exercise.related_numbers("252:1") == {"252:0", "252:1"}
    assert exercise.used_by("252:0") == exercise.used_by("252:1") == ""
    (root / "proc/self").mkdir()
    (root / "proc/self/mountinfo").write_text("29 1 252:1 / /srv rw - ext4 /dev/vmtestblk0p1 rw\n")
    assert exercise.used_by("252:0") == "mounted at /srv"
    (root / "proc/self/mountinfo").write_text("30 1 0:52 / /b rw - btrfs /dev/vmtestblk0 rw\n")  # btrfs: its own
    assert exercise.used_by("252:1") == "mounted at /b"
    (root / "proc/self/mountinfo").write_text("")
    (root / "proc/swaps").write_text("Filename Type Size Used Priority\n/dev/vmtestblk0p1 partition 7164 0 -2\n")
    assert exercise.used_by("252:0") == "swap"
    (root / "proc/swaps").write_text("")
    (root / "sys/devices/virtual/block/vmtestblk0/vmtestblk0p1/holders/dm-0").mkdir()
    assert exercise.used_by("252:0") == "held by dm-0"


def test_a_region_another_user_holds_is_left_alone(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exercise = _script()
    content = _disk(root)
    writes = _writes(exercise, monkeypatch)
    monkeypatch.setattr(exercise, "OP_TIMEOUT_S", 0.2)
    holder = subprocess.Popen(  # another user, writing the disk's last region
        [sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
         "fcntl.lockf(fd, fcntl.LOCK_EX, 65536, 8 * 2**20 - 65536); print(flush=True); time.sleep(30)",
         exercise.lock_file("0:0")], stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"\n"
        tally = exercise.Tally()
        exercise.signal.signal(exercise.signal.SIGALRM, exercise._alarm)
        exercise.use_block("/dev/vmtestblk0", tally, opens=0, regions=exercise.walk_regions, ends=None)
    finally:
        holder.kill()
        holder.wait()
    assert [offset for offset, _ in writes] == [4 * MIB, 4 * MIB]  # the middle only
    assert tally.outcomes["write region:blocked"] == 1 and tally.outcomes["verify region:ok"] == 1
    assert (root / "dev/vmtestblk0").read_bytes() == content


def test_the_regions_are_the_middle_and_the_end_in_the_walk_and_move_with_a_users_rounds() -> None:
    exercise = _script()
    assert exercise.walk_regions(8 * MIB) == [4 * MIB, 8 * MIB - 65536]
    assert exercise.walk_regions(4096) == [0] and exercise.walk_regions(0) == []
    assert exercise.walk_regions(300 * 512) == [65536, 300 * 512 - 65536]  # 150 KiB: 64 KiB from the middle on
    assert exercise.use_region(8 * MIB, 1) == [8 * MIB - 65536]
    later = {exercise.use_region(8 * MIB, n)[0] for n in range(2, 200)}
    assert len(later) == 128 and all(offset % 65536 == 0 and offset < 8 * MIB for offset in later)


def test_a_users_block_device_says_its_reads_and_regions_summed_over_users(root: Path) -> None:
    exercise = _script()
    _disk(root)
    used = exercise.use([["blockdev", "/dev/vmtestblk0"]], [], 0.0)
    entry = used["paths"]["/dev/vmtestblk0"]
    assert used["rounds"] == 1 and used["wrong"] == [] and entry["size"] == 8 * MIB
    assert entry["outcomes"]["verify region:ok"] == 1 and entry["counts"]["open"] == 5
    line = f"exercised {json.dumps(used)}"
    use = exercised.use_of(f"{line}\n{line}\n")
    assert use.users == 2 and use.wrong == ()
    assert use.said() == "/dev/vmtestblk0: 10 opens, 2 reads of all 8 MiB, 2 regions of 64 KiB written and verified"


def test_an_ifreq_is_the_kernels_struct_with_the_flags_after_the_name() -> None:
    exercise = _script()
    request = exercise.ifreq("vmtestnet0", 0x1003)
    assert len(request) == 40  # sizeof(struct ifreq) on x86_64
    assert request[:16] == b"vmtestnet0" + bytes(6) and request[16:18] == (0x1003).to_bytes(2, "little")
    assert exercise.IFREQ.unpack(request) == (b"vmtestnet0" + bytes(6), 0x1003)
    assert exercise.ifreq("a-very-long-interface-name")[:16] == b"a-very-long-int\0"  # IFNAMSIZ, NUL-terminated


def test_a_frame_is_ethernet_to_a_local_address_of_the_local_experimental_type() -> None:
    exercise = _script()
    frame = exercise.frame(bytes.fromhex("020000000001"), 60, 7)
    assert (
        len(frame) == 60 and frame[:6] == bytes.fromhex("027665786673") and frame[6:12] == bytes.fromhex("020000000001")
    )
    assert frame[12:14] == b"\x88\xb5" and frame[14:18] == (7).to_bytes(4, "big")
    assert len(exercise.frame(b"", 1514, 0)) == 1514


def test_an_interface_that_is_gone_is_an_outcome_not_a_wrong(root: Path) -> None:
    exercise = _script()
    tally = exercise.Tally()
    exercise.signal.signal(exercise.signal.SIGALRM, exercise._alarm)
    exercise.use_netdev("/sys/class/net/vexfsgone0", tally, cycles=2, frames=6)
    assert tally.outcomes == {"link flags:ENODEV": 1} and tally.wrong == []


def test_an_interface_says_its_links_frames_and_attributes_by_its_name() -> None:
    counts = {"link up": 2, "link down": 2, "send": 12, "open": 54, "read": 54}
    outcomes = {"link up:ok": 2, "link down:ok": 2, "send:ok": 10, "send:EMSGSIZE": 2, "read:ok": 50, "read:EIO": 4}
    report = exercised.PathReport("/sys/class/net/vmtestnet0", "netdev", counts, outcomes)
    assert (
        report.summary()
        == "net vmtestnet0: link up/down 2 times, 10 of 12 packets sent, 54 attribute reads (6 refused)"
    )
    refused = exercised.PathReport("/sys/class/net/n0", "netdev", {"link up": 2, "link down": 2},
                                   {"link up:EPERM": 2, "link down:ok": 2})  # fmt: skip
    assert refused.summary() == "net n0: link up/down 2 times (2 refused)"
    once = exercised.PathReport(
        "/sys/class/net/n0", "netdev", {"link up": 3, "link down": 2, "send": 1}, {"send:ok": 1}
    )
    assert once.summary() == "net n0: link up 3 times, down 2 times, 1 packet sent"


def test_a_large_block_device_says_how_much_of_it_was_read() -> None:
    report = exercised.PathReport(
        "/dev/big", "blockdev", {"open": 1, "read whole": 2}, {"read whole:ok": 2}, {"read whole": 128 * MIB}, 1 << 30
    )
    assert report.summary() == "/dev/big: 1 open, 2 reads of the first 64 MiB of 1 GiB"


def test_a_region_read_back_different_turns_interfaces_red() -> None:
    wrong = "/dev/vmtestblk0: 65536 bytes written at offset 8323072 read back different (first at byte 0)"
    red = interfaces.verdict(_walked(wrong=[wrong]), 20.0)
    assert red.status is Status.FAILED and red.message == wrong


def test_several_users_are_forked_from_one_start_and_each_reports(root: Path) -> None:
    exercise = _script()
    before = exercise.snapshot()
    _load_module(root)
    (root / "dev/buggydev").unlink()
    surface = exercise.added(before, exercise.snapshot(), "buggydev")
    reports = [json.loads(report) for report in exercise.users_at_once(surface, [], 0.0, 3)]
    assert len(reports) == 3 and all(report["rounds"] == 1 for report in reports)
    assert {report["paths"]["/proc/buggydev"]["counts"]["read"] for report in reports} == {1}


def test_a_user_that_fails_says_why_and_the_others_still_report(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    exercise = _script()

    def use(surface: object, ioctls: object, seconds: float) -> dict[str, object]:
        try:
            os.close(os.open(tmp_path / "first", os.O_CREAT | os.O_EXCL))  # one forked user gets here first
        except FileExistsError:
            return {"rounds": 1, "paths": {}, "wrong": []}
        raise OSError(5, "Input/output error")

    exercise.use = use
    reports = exercise.users_at_once([], [], 0.0, 3)
    said = capfd.readouterr().err
    assert len(reports) == 2
    assert "OSError: [Errno 5] Input/output error" in said and said.count("ended with exit status 1") == 1


def test_reports_larger_than_a_pipe_holds_come_back_whole_from_every_user() -> None:
    exercise = _script()
    paths = {f"/sys/kernel/debug/big/{number}": {"counts": {"read": number}} for number in range(5000)}
    exercise.use = lambda surface, ioctls, seconds: {"rounds": 1, "paths": paths, "wrong": []}
    reports = exercise.users_at_once([], [], 0.0, 3)
    assert len(reports[0]) > 1 << 16 and [json.loads(report)["paths"] for report in reports] == [paths] * 3
