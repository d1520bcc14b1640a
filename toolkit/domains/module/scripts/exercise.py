"""What a loaded module exposes, found and exercised in the guest; the host decides what is wrong.

    exercise.py snapshot FILE                       what the system exposes now (before insmod), JSON in FILE
    exercise.py walk BEFORE MODULE IOCTLS SECONDS   what appeared since BEFORE (the module's surface), each path
                                                    exercised once with good and bad input; JSON out
    exercise.py surface BEFORE MODULE FILE          what appeared since BEFORE, JSON in FILE (for `use`)
    exercise.py use SURFACE IOCTLS SECONDS [USERS]  every path of SURFACE used with good input, round after round
                                                    for SECONDS (at least one round; with nothing to use, the
                                                    module just stays loaded that long) by USERS processes at
                                                    once (1); a line `exercised JSON` out for each

IOCTLS is a JSON file of the ioctl commands the module's sources define (number, size, direction, name).

A character device is opened, read, written, polled, mapped and sent ioctls. A block device is read whole (its first
64 MiB at most), and regions of it are written and verified: read, overwritten with a pattern, read back from the
driver (fsync, then the page cache dropped), compared, and given their bytes back; never while it, a partition of it
or the disk it is part of is mounted, swapped on or held by another device. A network interface is brought up and
down and back to the state it was in, sent small Ethernet frames while up (a raw socket bound to it), and its
attributes and statistics read.

The surface: device nodes whose device number belongs to a new misc minor, a new major or a new
/sys/class device; new entries in /proc, /proc/driver, /proc/fs, /proc/sys, /sys/class, /sys/bus/*/drivers,
/sys/kernel, debugfs, network interfaces, block devices and filesystem types; the module's own
/sys/module/NAME/parameters. Nothing outside it is opened. Every operation is bounded: a read or write
that blocks is abandoned after a second (SIGALRM), the whole walk stops at its time budget. GUEST_ROOT
moves every path under another root (the unit tests' fake trees).
"""

from __future__ import annotations

import errno
import fcntl
import functools
import json
import mmap
import os
import select
import signal
import stat
import struct
import sys
import time

# Every run pays its imports, under TCG a hundred milliseconds and more for each of socket, tempfile, traceback and
# typing: those are imported where they are needed (typing only by the type checker).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from types import FrameType
    from typing import Any, Callable

ROOT = os.environ.get("GUEST_ROOT", "")
# Listed directories and the kind of what appears in them (depth: how far below the directory to look).
PLACES = (
    ("/proc", "proc", 1), ("/proc/driver", "proc", 1), ("/proc/fs", "proc", 1), ("/proc/sys", "proc", 1),
    ("/sys/class", "sysfs", 2), ("/sys/kernel", "sysfs", 1), ("/sys/kernel/debug", "debugfs", 1),
    ("/sys/class/net", "netdev", 1), ("/sys/block", "blockdev", 1), ("/sys/bus", "sysfs", 3),
)  # fmt: skip
MAX_FILES = 200  # files of one new directory exercised at most
OP_TIMEOUT_S = 1.0
PATTERN = bytes(range(256))
MALFORMED = (b"", b"\n", b"-1", b"99999999999999999999", b"\xff\xfe\x00", b"A" * 4096)
WALK_OPENS = 20  # open/close pairs of a device in the walk (then one more open for the rest)
WALK_READS = 5  # reads of a file in the walk
USED = "exercised "  # how each user's report starts (the host reads it: toolkit/domains/module/exercised.py)
USE_OPENS = 4  # open/close pairs of a device in each round of a user
UNKNOWN_IOCTLS = (0x0000DEAD, 0xC0DE0000 | (0x7F << 8) | 0xFE)  # no type a driver would use, no size
WHOLE_READ_MAX = 64 << 20  # bytes of a block device read from its start each time, at most
CHUNK = 1 << 20  # bytes of one read of it (each bounded by OP_TIMEOUT_S)
REGION = 64 << 10  # bytes of a region written and verified
PAGE = 4096  # the page cache's unit: a region's cache is dropped in whole pages around it
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
IFREQ = struct.Struct("16sH22x")  # struct ifreq: the name, then ifr_flags in a 24-byte union (x86_64: 40 bytes)
ETH_P_LOCAL = 0x88B5  # IEEE 802 local experimental EtherType: no protocol of the guest's takes these frames
FRAME_DESTINATION = b"\x02vexfs"  # a locally administered unicast address: 02:76:65:78:66:73
FRAME_SIZES = (60, 64, 128, 512, 1000, 1514)  # the smallest Ethernet frame (without FCS) to a full 1500-byte MTU
WALK_LINK_CYCLES = 2  # up, down, up, down in the walk (then up again if it was up)
USE_LINK_CYCLES = 1  # up, down in each round of a user


class Blocked(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Blocked()


def path(name: str) -> str:
    return ROOT + name


def unrooted(name: str) -> str:
    return name[len(ROOT) :] if ROOT and name.startswith(ROOT) else name


def entries(directory: str, depth: int) -> list[str]:
    """Names below directory, depth levels down (a listing of the system's surface at that place)."""
    found: list[str] = []
    try:
        names = sorted(os.listdir(path(directory)))
    except OSError:
        return found
    for name in names:
        if name in ("self", "thread-self") or (directory == "/proc" and name.isdigit()):  # processes: not a module's
            continue
        below = f"{directory}/{name}"
        found.append(below)
        if depth > 1 and os.path.isdir(path(below)) and not os.path.islink(path(below)):
            found += entries(below, depth - 1)
    return found


def read_text(name: str) -> str:
    try:
        with open(path(name)) as handle:
            return handle.read()
    except OSError:
        return ""


def snapshot() -> dict[str, Any]:
    """The system's surface now: paths per place, device numbers, misc minors, majors, filesystem types."""
    devices = {}
    for directory in ("/dev", "/dev/misc"):
        for name in entries(directory, 1):
            try:
                info = os.lstat(path(name))
            except OSError:
                continue
            if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
                devices[name] = [os.major(info.st_rdev), os.minor(info.st_rdev), stat.filemode(info.st_mode)]
    class_devices = {}
    for name in entries("/sys/class", 2):
        number = read_text(f"{name}/dev").strip()
        if number:
            class_devices[name] = number
    return {
        "places": {directory: entries(directory, depth) for directory, _, depth in PLACES},
        "devices": devices,
        "class_devices": class_devices,
        "misc": sorted(line.split()[0] for line in read_text("/proc/misc").splitlines() if line.strip()),
        "majors": sorted(line.strip() for line in read_text("/proc/devices").splitlines() if line[:1] == " "),
        "filesystems": sorted(line.split()[-1] for line in read_text("/proc/filesystems").splitlines() if line),
    }


def added(before: dict[str, Any], after: dict[str, Any], module: str) -> list[tuple[str, str]]:
    """What appeared between the two snapshots: the module's surface, as (kind, path) pairs."""
    surface = []
    new_numbers = {number for name, number in after["class_devices"].items() if name not in before["class_devices"]}
    new_minors = set(after["misc"]) - set(before["misc"])
    new_majors = {line.split()[0] for line in set(after["majors"]) - set(before["majors"])}
    for name, (major, minor, mode) in sorted(after["devices"].items()):
        ours = f"{major}:{minor}" in new_numbers or (major == 10 and str(minor) in new_minors)
        if ours or str(major) in new_majors or name not in before["devices"]:
            surface.append(("blockdev" if mode.startswith("b") else "chardev", name))
    for directory, kind, _ in PLACES:
        old = set(before["places"].get(directory, []))
        fresh = [name for name in after["places"].get(directory, []) if name not in old]
        outermost = [name for name in fresh if not any(name.startswith(f"{other}/") for other in fresh)]
        if kind == "blockdev":  # a disk in /sys/block is used through its node in /dev
            outermost = [node_of(name, after["devices"]) or name for name in outermost]
        surface += [(kind, name) for name in outermost if (kind, name) not in surface]
    surface += [("filesystem", name) for name in sorted(set(after["filesystems"]) - set(before["filesystems"]))]
    parameters = f"/sys/module/{module}/parameters"
    if os.path.isdir(path(parameters)):
        surface.append(("parameters", parameters))
    return surface


def node_of(disk: str, devices: dict[str, list[Any]]) -> str:
    """The block device node in /dev of a /sys/block entry, found by its device number ("" when it has none)."""
    number = read_text(f"{disk}/dev").strip()
    nodes = [name for name, (major, minor, mode) in sorted(devices.items())
             if mode.startswith("b") and f"{major}:{minor}" == number]  # fmt: skip
    return nodes[0] if nodes else ""


def files_of(kind: str, name: str) -> list[str]:
    """The files to exercise for one surface entry: a device itself (a disk without a node in /dev: nothing), a
    network interface itself, or the regular files below an entry (a /sys/class entry is a link to its device's
    folder: that one link is followed, none below it)."""
    if kind == "chardev" or kind == "netdev":
        return [name]
    if kind == "blockdev":
        return [name] if name.startswith("/dev/") else []
    if kind == "filesystem":
        return []
    base = os.path.realpath(path(name))
    if not os.path.isdir(base):
        return [name] if os.path.isfile(base) else []
    found: list[str] = []
    for directory, folders, files in os.walk(base):
        folders[:] = sorted(f for f in folders if not os.path.islink(os.path.join(directory, f)) and f != "power")
        for file in sorted(files):
            full = os.path.join(directory, file)
            if file != "uevent" and not os.path.islink(full) and len(found) < MAX_FILES:
                found.append(name + full[len(base) :])
    return found


def bounded(call: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    """call(*args) abandoned after OP_TIMEOUT_S: ('ok', value), ('error', errno name) or ('blocked', None).

    The alarm is caught outside the block that disarms it: one that goes off as the call returns, while the
    timer is being disarmed, is then an outcome too, never an exception out of here."""
    try:
        signal.setitimer(signal.ITIMER_REAL, OP_TIMEOUT_S)
        try:
            return "ok", call(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except Blocked:
        return "blocked", None
    except OSError as error:
        return "error", errno.errorcode.get(error.errno or 0, str(error.errno))
    except (ValueError, OverflowError) as error:
        return "error", type(error).__name__


class Tally:
    """How many operations of each kind a path took, and how they ended."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.outcomes: dict[str, int] = {}
        self.wrong: list[str] = []
        self.bytes: dict[str, int] = {}  # bytes moved by the operations that completed, for those that move many
        self.size = 0  # a block device's size in bytes

    def moved(self, operation: str, count: int) -> None:
        self.bytes[operation] = self.bytes.get(operation, 0) + count

    def entry(self, kind: str) -> dict[str, Any]:
        """What the path's report says: its kind, operations, how they ended, and bytes and size when any."""
        said: dict[str, Any] = {"kind": kind, "counts": self.counts, "outcomes": self.outcomes}
        if self.bytes:
            said["bytes"] = self.bytes
        if self.size:
            said["size"] = self.size
        return said

    def add(self, operation: str, outcome: tuple[str, Any]) -> tuple[str, Any]:
        self.counts[operation] = self.counts.get(operation, 0) + 1
        key = f"{operation}:{outcome[0] if outcome[0] != 'error' else outcome[1]}"
        self.outcomes[key] = self.outcomes.get(key, 0) + 1
        return outcome


def open_any(name: str, tally: Tally) -> tuple[int | None, str]:
    """The file opened read-write, else read-only, else write-only: (fd, mode) or (None, None)."""
    for flags, how in ((os.O_RDWR, "rw"), (os.O_RDONLY, "r"), (os.O_WRONLY, "w")):
        outcome = tally.add("open", bounded(os.open, path(name), flags | os.O_NONBLOCK | os.O_CLOEXEC))
        if outcome[0] == "ok":
            return outcome[1], how
    return None, ""


def opened_again(name: str, tally: Tally, opens: int) -> tuple[int | None, str]:
    """Opened and closed `opens` times, then opened once more to be used: (fd, mode), (None, "") when it cannot."""
    for _ in range(opens):
        fd, _how = open_any(name, tally)
        if fd is not None:
            tally.add("close", bounded(os.close, fd))
    return open_any(name, tally)


def use_device(name: str, ioctls: list[dict[str, Any]], tally: Tally, opens: int) -> None:
    """open/close `opens` times; reads short, long and at offsets; writes of 16 B, 4 KiB and 64 KiB; poll, lseek,
    mmap; every ioctl from the module's sources with a buffer of its size (zeros, then ones, then a pattern), one
    after the other, the list over again with each buffer."""
    fd, how = opened_again(name, tally, opens)
    if fd is None:
        return
    try:
        if "r" in how:
            for size in (16, 65536):
                tally.add("read", bounded(os.read, fd, size))
            for offset in (0, 1, 4095, 4096, 65536, 1 << 20):
                tally.add("read", bounded(os.pread, fd, 4096, offset))
        if "w" in how:
            for size in (16, 4096, 65536):
                tally.add("write", bounded(os.pwrite, fd, (PATTERN * (size // 256 + 1))[:size], 0))
            tally.add("write", bounded(os.pwrite, fd, PATTERN, 4096))
        for whence in (os.SEEK_SET, os.SEEK_CUR, os.SEEK_END):
            tally.add("lseek", bounded(os.lseek, fd, 0, whence))
        tally.add("poll", bounded(select.select, [fd], [fd] if "w" in how else [], [], 0.01))
        protection = mmap.PROT_READ | (mmap.PROT_WRITE if how == "rw" else 0)
        mapped = tally.add("mmap", bounded(mmap.mmap, fd, mmap.PAGESIZE, mmap.MAP_SHARED, protection))
        if mapped[0] == "ok":
            tally.add("mmap_read", bounded(lambda area: area[:16], mapped[1]))
            mapped[1].close()
        call_ioctls(fd, ioctls, tally)
    finally:
        os.close(fd)


def misuse_device(name: str, ioctls: list[dict[str, Any]], tally: Tally) -> None:
    """The ioctls from the sources with NULL and bad pointers, and unknown ioctls: each must be refused."""
    fd, _how = open_any(name, tally)
    if fd is None:
        return
    try:
        misuse_ioctls(fd, ioctls, tally)
    finally:
        os.close(fd)


def buffers(size: int) -> tuple[bytes, ...]:
    """Arguments of an ioctl taking `size` bytes, one per shape: zeros; every 64-bit word 1 and every 32-bit word
    1 (small counts, offsets, lengths and indexes, short strings: what a driver's checks let through); a pattern."""

    def words(width: int) -> bytes:
        return ((1).to_bytes(width, "little") * (size // width + 1))[:size]

    return bytes(size), words(8), words(4), (PATTERN * (size // 256 + 1))[:size]


def call_ioctls(fd: int, ioctls: list[dict[str, Any]], tally: Tally) -> None:
    """Each ioctl once with each shape of buffer of its encoded size (with no size: 0 as the argument, each time),
    the whole list once per shape: each ioctl runs again after every other one did, as a use after free shows when
    one ioctl frees what another uses, or when the object is allocated again."""
    shaped = [(command, buffers(command["size"])) for command in ioctls]
    for shape in range(len(buffers(0))):
        for command, each in shaped:
            number, size, direction, buffer = command["number"], command["size"], command["direction"], each[shape]
            argument: bytes | bytearray | int = (buffer if direction == "write" else bytearray(buffer)) if size else 0
            tally.add(f"ioctl {command['name']}", bounded(fcntl.ioctl, fd, number, argument))


def misuse_ioctls(fd: int, ioctls: list[dict[str, Any]], tally: Tally) -> None:
    for command in ioctls:
        if not command["size"]:
            continue
        for pointer in (0, 1, 0xFFFF888000000000):
            outcome = tally.add("ioctl bad pointer", bounded(fcntl.ioctl, fd, command["number"], pointer))
            if outcome[0] == "ok" and pointer == 0 and command["direction"] != "none":
                tally.wrong.append(f"{command['name']} with a NULL pointer succeeded")
    for number in UNKNOWN_IOCTLS:
        outcome = tally.add("ioctl unknown", bounded(fcntl.ioctl, fd, number, 0))
        if outcome[0] == "ok":
            tally.wrong.append(f"unknown ioctl {number:#x} succeeded")
        elif outcome[0] == "error" and outcome[1] not in ("ENOTTY", "EINVAL", "EFAULT", "ENOIOCTLCMD", "EOPNOTSUPP"):
            tally.wrong.append(f"unknown ioctl {number:#x} failed with {outcome[1]}, not ENOTTY or EINVAL")


def use_block(
    name: str, tally: Tally, opens: int, regions: Callable[[int], list[int]], ends: float | None, again: bool = True
) -> None:
    """open/close `opens` times; read the device whole (its first WHOLE_READ_MAX bytes), write and verify the
    regions starting at `regions(size)`, and when `again`, read it whole again. A read back that differs from what
    was written is wrong; stops reading at `ends` (monotonic) when given."""
    fd, how = opened_again(name, tally, opens)
    if fd is None:
        return
    try:
        number = number_of(name)
        tally.size = size = block_size(number, fd)
        read_whole(fd, min(size, WHOLE_READ_MAX), tally, ends)
        if "w" in how:
            for offset in regions(size):
                check_region(fd, number, offset, min(REGION, size - offset), tally)
        if again:
            read_whole(fd, min(size, WHOLE_READ_MAX), tally, ends)
    finally:
        os.close(fd)


def number_of(name: str) -> str:
    """The device number of a node, major:minor ("" when it cannot be seen)."""
    try:
        device = os.stat(path(name)).st_rdev
    except OSError:
        return ""
    return f"{os.major(device)}:{os.minor(device)}"


def block_size(number: str, fd: int) -> int:
    """A block device's size in bytes: /sys/dev/block/NUMBER/size (512-byte sectors), else where its end is."""
    sectors = read_text(f"/sys/dev/block/{number}/size").strip()
    if sectors.isdigit():
        return int(sectors) * 512
    outcome = bounded(os.lseek, fd, 0, os.SEEK_END)
    return outcome[1] if outcome[0] == "ok" else 0


def walk_regions(size: int) -> list[int]:
    """The walk's regions: one in the middle of the device and the last one (the end is where a driver's
    arithmetic goes wrong); where they start, in bytes (whole sectors of 512)."""
    if size < 512:
        return []
    last = max(0, size - REGION) // 512 * 512
    middle = min(last, size // 2 // REGION * REGION)
    return sorted({middle, last})


def use_region(size: int, round_number: int) -> list[int]:
    """A user's region in round `round_number` (from 1): the last one first, then one that moves with the round
    and the process, so that users write different regions as often as not (a lock keeps them apart when not)."""
    if size < 512:
        return []
    last = max(0, size - REGION) // 512 * 512
    if round_number == 1:
        return [last]
    return [min(last, (os.getpid() + round_number) % max(1, size // REGION) * REGION)]


def read_whole(fd: int, span: int, tally: Tally, ends: float | None) -> None:
    """Read the first `span` bytes, a chunk at a time, from the driver (the page cache is dropped first): one
    `read whole`, ok when every byte came, else how the first chunk that failed ended (`late` past `ends`)."""
    if span <= 0:
        return
    drop_cache(fd, 0, 0)
    done = 0
    while done < span:
        if ends is not None and time.monotonic() > ends:
            tally.add("read whole", ("late", None))
            return
        outcome = bounded(os.pread, fd, min(CHUNK, span - done), done)
        if outcome[0] != "ok" or not outcome[1]:
            tally.add("read whole", outcome if outcome[0] != "ok" else ("short", None))
            return
        done += len(outcome[1])
    tally.add("read whole", ("ok", done))
    tally.moved("read whole", done)


def check_region(fd: int, number: str, offset: int, size: int, tally: Tally) -> None:
    """Write a pattern over the region and read it back from the driver; then give it its bytes back. Not when
    the device is in use (mounted, swapped on, held). Users lock the region in the disk's bytes (a lock file per
    disk): a disk and its partitions are nodes of their own, over the same bytes."""
    if size <= 0:
        return
    disk, start = disk_of(number)
    opened = bounded(os.open, lock_file(disk), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    if opened[0] != "ok":
        tally.add("write region", opened)
        return
    try:
        locked = bounded(fcntl.lockf, opened[1], fcntl.LOCK_EX, size, start + offset, os.SEEK_SET)
        if locked[0] != "ok":
            tally.add("write region", locked)
            return
        write_region(fd, number, offset, size, tally)
    finally:
        os.close(opened[1])  # and its lock with it


def lock_file(disk: str) -> str:
    """Where the users of a disk's regions lock them (the disk's number, major:minor)."""
    import tempfile

    return os.path.join(tempfile.gettempdir(), f"vexfs-vmtest-disk-{disk.replace(':', '-')}.lock")


def write_region(fd: int, number: str, offset: int, size: int, tally: Tally) -> None:
    """check_region with the region locked."""
    drop_cache(fd, offset, size)
    original = tally.add("read region", bounded(pread_all, fd, size, offset))
    if original[0] != "ok" or len(original[1]) != size:
        return
    in_use = used_by(number)
    if in_use:
        tally.add("write region", ("busy", in_use))
        return
    pattern = region_pattern(offset, size, original[1])
    written = tally.add("write region", bounded(pwrite_all, fd, pattern, offset))
    try:
        if written[0] == "ok" and tally.add("fsync", bounded(os.fsync, fd))[0] == "ok":
            drop_cache(fd, offset, size)
            back = tally.add("read back", bounded(pread_all, fd, size, offset))
            if back[0] == "ok":
                verify(pattern, back[1], offset, tally)
    finally:
        tally.add("restore", bounded(pwrite_all, fd, original[1], offset))
        tally.add("fsync", bounded(os.fsync, fd))
        drop_cache(fd, offset, size)


def verify(written: bytes, read: bytes, offset: int, tally: Tally) -> None:
    """A region read back: the same bytes as were written (`verify region` ok), else wrong, saying where."""
    first = first_difference(written, read)
    if first is None:
        tally.add("verify region", ("ok", None))
        tally.moved("verify region", len(written))
        return
    tally.add("verify region", ("different", first))
    tally.wrong.append(f"{len(written)} bytes written at offset {offset} read back different (first at byte {first})")


def first_difference(one: bytes, other: bytes) -> int | None:
    """Where two byte strings first differ (a shorter one differs where it ends); None when they are equal."""
    if one == other:
        return None
    shorter = min(len(one), len(other))
    return next((at for at in range(shorter) if one[at] != other[at]), shorter)


def region_pattern(offset: int, size: int, original: bytes) -> bytes:
    """What a region is overwritten with: each 512-byte sector starts with its own offset on the device (a write
    that lands elsewhere reads back different) and goes on with a pattern; never the bytes it holds already."""
    sectors = []
    for start in range(offset, offset + size, 512):
        fill = PATTERN[start // 512 % 256 :] + PATTERN[: start // 512 % 256]
        sectors.append((start.to_bytes(8, "little") + fill + fill)[:512])
    pattern = b"".join(sectors)[:size]
    return pattern if pattern != original else bytes(byte ^ 0xFF for byte in pattern)


def pread_all(fd: int, size: int, offset: int) -> bytes:
    """`size` bytes from `offset`, fewer only at the end of the device."""
    chunks, done = [], 0
    while done < size:
        chunk = os.pread(fd, size - done, offset + done)
        if not chunk:
            break
        chunks.append(chunk)
        done += len(chunk)
    return b"".join(chunks)


def pwrite_all(fd: int, data: bytes, offset: int) -> int:
    done = 0
    while done < len(data):
        done += os.pwrite(fd, data[done:], offset + done)
    return done


def drop_cache(fd: int, offset: int, size: int) -> None:
    """Drop the page cache of the bytes from offset (size 0: to the end), in whole pages, so that the next read
    reaches the driver (a page still dirty, or being read by another user, may stay)."""
    start = offset // PAGE * PAGE
    length = 0 if not size else (offset + size + PAGE - 1) // PAGE * PAGE - start
    bounded(os.posix_fadvise, fd, start, length, os.POSIX_FADV_DONTNEED)


def used_by(number: str) -> str:
    """What uses the block device numbered so, a partition of it or the disk it is a partition of: `mounted at
    X`, `swap`, `held by X`; "" when nothing does (then it may be written)."""
    related = related_numbers(number)
    for line in read_text("/proc/self/mountinfo").splitlines():
        fields, _, after = line.partition(" - ")
        numbers, source = fields.split()[2:3], (after.split()[1:2] or [""])[0]
        if set(numbers) & related or (source.startswith("/dev/") and number_of(source) in related):
            return f"mounted at {fields.split()[4]}"
    for line in read_text("/proc/swaps").splitlines()[1:]:
        if line.split() and number_of(line.split()[0]) in related:
            return "swap"
    for each in sorted(related):
        try:
            holders = sorted(os.listdir(path(f"/sys/dev/block/{each}/holders")))
        except OSError:
            continue
        if holders:
            return f"held by {holders[0]}"
    return ""


def disk_of(number: str) -> tuple[str, int]:
    """The disk a block device is on (its own number when it is a disk) and where on it it starts, in bytes."""
    folder = os.path.realpath(path(f"/sys/dev/block/{number}"))
    if not os.path.exists(os.path.join(folder, "partition")):
        return number, 0
    start = read_text(unrooted(folder) + "/start").strip()
    disk = read_text(unrooted(os.path.dirname(folder)) + "/dev").strip()
    return disk or number, int(start) * 512 if start.isdigit() else 0


def related_numbers(number: str) -> set[str]:
    """The device number itself, its partitions' and, for a partition, its disk's (from /sys/dev/block)."""
    related = {number, disk_of(number)[0]}
    folder = os.path.realpath(path(f"/sys/dev/block/{number}"))
    try:
        below = sorted(os.listdir(folder))
    except OSError:
        below = []
    for name in below:
        if os.path.exists(os.path.join(folder, name, "partition")):
            related.add(read_text(unrooted(os.path.join(folder, name)) + "/dev").strip())
    return related - {""}


def use_netdev(name: str, tally: Tally, cycles: int, frames: int, restore: bool = True) -> None:
    """Bring the interface of /sys/class/net/NAME up and down `cycles` times, sending it `frames` frames each
    time it is up and reading its attributes (statistics too) the first time; then, when `restore`, up again if
    it was up."""
    interface = os.path.basename(name)
    opened = control_socket()
    if opened[0] != "ok":
        tally.add("link flags", opened)
        return
    with opened[1] as control:
        before = bounded(link_flags, control, interface)
        if before[0] != "ok":
            tally.add("link flags", before)
            return
        for cycle in range(cycles):
            if tally.add("link up", bounded(set_link, control, interface, True))[0] == "ok":
                send_frames(interface, tally, frames)
            if cycle == 0:
                for file in files_of("sysfs", name):
                    read_once(file, tally)
            tally.add("link down", bounded(set_link, control, interface, False))
        if restore and before[1] & IFF_UP:
            tally.add("link up", bounded(set_link, control, interface, True))


def link_is_up(name: str) -> bool:
    """Whether the interface of /sys/class/net/NAME is up (False when that cannot be told)."""
    opened = control_socket()
    if opened[0] != "ok":
        return False
    with opened[1] as control:
        outcome = bounded(link_flags, control, os.path.basename(name))
    return outcome[0] == "ok" and bool(outcome[1] & IFF_UP)


def bring_up(name: str, tally: Tally) -> None:
    opened = control_socket()
    if opened[0] != "ok":
        tally.add("link up", opened)
        return
    with opened[1] as control:
        tally.add("link up", bounded(set_link, control, os.path.basename(name), True))


def control_socket() -> tuple[str, Any]:
    """A socket an interface's flags are asked and set through, bounded (the outcome and the socket)."""
    import socket

    return bounded(socket.socket, socket.AF_INET, socket.SOCK_DGRAM)


def ifreq(interface: str, flags: int = 0) -> bytes:
    """A struct ifreq naming the interface, with ifr_flags."""
    return IFREQ.pack(interface.encode()[:15], flags)


def link_flags(control: socket.socket, interface: str) -> int:
    """The interface's flags (SIOCGIFFLAGS)."""
    return int(IFREQ.unpack(fcntl.ioctl(control, SIOCGIFFLAGS, ifreq(interface)))[1])


def set_link(control: socket.socket, interface: str, up: bool) -> int:
    """Set the interface up or down (SIOCSIFFLAGS with IFF_UP set or cleared, the other flags as they are)."""
    flags = link_flags(control, interface)
    flags = flags | IFF_UP if up else flags & ~IFF_UP
    fcntl.ioctl(control, SIOCSIFFLAGS, ifreq(interface, flags))
    return flags


def send_frames(interface: str, tally: Tally, frames: int) -> None:
    """`frames` Ethernet frames of the local experimental EtherType, of growing sizes, out of the interface (a raw
    packet socket bound to it, so they go nowhere else)."""
    try:
        source = bytes.fromhex(read_text(f"/sys/class/net/{interface}/address").strip().replace(":", ""))
    except ValueError:
        source = b""  # zeros, then
    if not frames:
        return
    import socket

    opened = bounded(socket.socket, socket.AF_PACKET, socket.SOCK_RAW, 0)
    if opened[0] != "ok":
        tally.add("send", opened)  # no raw socket: no frame could be sent
        return
    with opened[1] as raw:
        for number in range(frames):
            packet = frame(source, FRAME_SIZES[number % len(FRAME_SIZES)], number)
            tally.add("send", bounded(raw.sendto, packet, socket.MSG_DONTWAIT, (interface, ETH_P_LOCAL)))


def frame(source: bytes, size: int, number: int) -> bytes:
    """An Ethernet frame of `size` bytes to FRAME_DESTINATION from `source`: its number, then a pattern."""
    header = FRAME_DESTINATION + (source + bytes(6))[:6] + ETH_P_LOCAL.to_bytes(2, "big") + number.to_bytes(4, "big")
    return (header + PATTERN * (size // 256 + 1))[:size]


def read_once(name: str, tally: Tally) -> None:
    outcome = tally.add("open", bounded(os.open, path(name), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
    if outcome[0] == "ok":
        tally.add("read", bounded(os.read, outcome[1], 65536))
        os.close(outcome[1])


def use_file(name: str, tally: Tally, reads: int) -> bytes:
    """Read it `reads` times; when it can be written too, write back what was read. What was read last."""
    text = b""
    for _ in range(reads):
        outcome = tally.add("open", bounded(os.open, path(name), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
        if outcome[0] != "ok":
            break
        read = tally.add("read", bounded(os.read, outcome[1], 65536))
        text = read[1] if read[0] == "ok" else text
        os.close(outcome[1])
    if text and writable(name):
        write_file(name, text, tally)
    return text


def misuse_file(name: str, tally: Tally) -> None:
    """When it can be written: empty, huge, negative and binary strings."""
    if writable(name):
        for data in MALFORMED:
            write_file(name, data or b"\n", tally)


def writable(name: str) -> bool:
    try:
        return bool(stat.S_IMODE(os.stat(path(name)).st_mode) & 0o222)
    except OSError:
        return False


def write_file(name: str, data: bytes, tally: Tally) -> None:
    outcome = tally.add("open", bounded(os.open, path(name), os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC))
    if outcome[0] == "ok":
        tally.add("write", bounded(os.write, outcome[1], data))
        os.close(outcome[1])


def mark(name: str) -> None:
    """Say in the kernel log which path is exercised next, so a report that follows names it."""
    try:
        kmsg = os.open(path("/dev/kmsg"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # no seek: kmsg refuses it
    except OSError:
        return
    try:
        os.write(kmsg, f"vexfs-vmtest: exercising {name}\n".encode())
    except OSError:
        pass
    finally:
        os.close(kmsg)


def walk(before: dict[str, Any], module: str, ioctls: list[dict[str, Any]], budget_s: float) -> dict[str, Any]:
    """The module's surface and what exercising each path once, with good and bad input, did."""
    signal.signal(signal.SIGALRM, _alarm)
    ends = time.monotonic() + budget_s
    surface = added(before, snapshot(), module)
    report: dict[str, Any] = {"surface": [], "paths": {}, "wrong": [], "out_of_time": []}
    for kind, name in surface:
        try:
            mode = stat.filemode(os.lstat(path(name)).st_mode)
        except OSError:
            mode = ""
        report["surface"].append({"kind": kind, "path": name, "mode": mode})
        for file in files_of(kind, name):
            if time.monotonic() > ends:
                report["out_of_time"].append(file)
                continue
            mark(file)
            tally = Tally()
            if kind == "chardev":
                use_device(file, ioctls, tally, opens=WALK_OPENS)
                misuse_device(file, ioctls, tally)
            elif kind == "blockdev":
                use_block(file, tally, opens=WALK_OPENS, regions=walk_regions, ends=ends)
                misuse_device(file, [], tally)
            elif kind == "netdev":
                use_netdev(file, tally, cycles=WALK_LINK_CYCLES, frames=len(FRAME_SIZES))
            else:
                use_file(file, tally, reads=WALK_READS)
                misuse_file(file, tally)
            report["paths"][file] = tally.entry(kind)
            report["wrong"] += [f"{file}: {what}" for what in tally.wrong]
    return report


def use(surface: list[list[str]], ioctls: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Every path of the surface used with good input, round after round until `seconds` have passed (at least
    one round). With nothing to use, the module just stays loaded that long. A region of a block device that reads
    back different is in `wrong` (with several users at once a driver's race can be the cause)."""
    signal.signal(signal.SIGALRM, _alarm)
    ends = time.monotonic() + seconds
    files = [(kind, file) for kind, name in surface for file in files_of(kind, name)]
    tallies = {file: Tally() for _, file in files}
    up = [file for kind, file in files if kind == "netdev" and link_is_up(file)]  # up again when the user is done
    rounds = 0
    while rounds == 0 or time.monotonic() < ends:
        if not files:
            time.sleep(max(0.0, ends - time.monotonic()))
            break
        rounds += 1
        for kind, file in files:
            if kind == "chardev":
                use_device(file, ioctls, tallies[file], opens=USE_OPENS)
            elif kind == "blockdev":
                regions = functools.partial(use_region, round_number=rounds)
                use_block(file, tallies[file], opens=USE_OPENS, regions=regions, ends=None, again=False)
            elif kind == "netdev":
                use_netdev(file, tallies[file], cycles=USE_LINK_CYCLES, frames=len(FRAME_SIZES), restore=False)
            else:
                use_file(file, tallies[file], reads=1)
    for file in up:
        bring_up(file, tallies[file])
    paths = {file: tallies[file].entry(kind) for kind, file in files}
    wrong = [f"{file}: {what}" for _, file in files for what in tallies[file].wrong]
    return {"rounds": rounds, "paths": paths, "wrong": wrong}


def users_at_once(surface: list[list[str]], ioctls: list[dict[str, Any]], seconds: float, users: int) -> list[str]:
    """`use` by `users` processes at once, forked after this one started (Python starts once: under emulation
    that is seconds); the report of each one that ended well as JSON, in order. Each writes its report into a
    pipe of its own as it ends; the pipes are read one after the other, a user whose turn has not come waits."""
    children = []
    for _ in range(users):
        readable, writable = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(readable)
            status = 1
            try:
                with os.fdopen(writable, "w") as report:
                    report.write(json.dumps(use(surface, ioctls, seconds)))
                status = 0
            except BaseException:
                import traceback

                traceback.print_exc()  # os._exit would end the user before Python printed it
            finally:
                sys.stderr.flush()
                os._exit(status)
        os.close(writable)
        children.append((pid, readable))
    reports = []
    for user, (pid, readable) in enumerate(children):
        with os.fdopen(readable) as report:
            said = report.read()
        _, status = os.waitpid(pid, 0)
        if status:
            print(f"exercise.py: user {user} ended with {ended(status)}", file=sys.stderr)
        else:
            reports.append(said)
    return reports


def ended(status: int) -> str:
    """A child's wait status in words: `exit status 1`, `signal 9`."""
    return f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit status {os.WEXITSTATUS(status)}"


def main(argv: list[str]) -> int:
    command, arguments = argv[1], argv[2:]
    if command == "snapshot":
        write_json(arguments[0], snapshot())
    elif command == "surface":
        write_json(arguments[2], added(read_json(arguments[0]), snapshot(), arguments[1]))
    elif command == "walk":
        walked = walk(read_json(arguments[0]), arguments[1], read_json(arguments[2]), float(arguments[3]))
        print(json.dumps(walked))
    elif command == "use":
        users = int(arguments[3]) if len(arguments) > 3 else 1
        for report in users_at_once(read_json(arguments[0]), read_json(arguments[1]), float(arguments[2]), users):
            print(f"{USED}{report}")
    else:
        print(f"exercise.py: unknown command {command!r}", file=sys.stderr)
        return 2
    return 0


def read_json(name: str) -> Any:
    with open(name) as source:
        return json.load(source)


def write_json(name: str, value: Any) -> None:
    with open(name, "w") as out:
        json.dump(value, out)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
