"""What a loaded module exposes, found and exercised in the guest; the host decides what is wrong.

    exercise.py snapshot FILE                       what the system exposes now (before insmod), JSON in FILE
    exercise.py walk BEFORE MODULE IOCTLS SECONDS   what appeared since BEFORE (the module's surface), each path
                                                    exercised once with good and bad input; JSON out
    exercise.py surface BEFORE MODULE FILE          what appeared since BEFORE, JSON in FILE (for `use`)
    exercise.py use SURFACE IOCTLS SECONDS          every path of SURFACE used with good input, round after round
                                                    for SECONDS (at least one round; with nothing to use, the
                                                    module just stays loaded that long); JSON out

IOCTLS is a JSON file of the ioctl commands the module's sources define (number, size, direction, name).

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
import json
import mmap
import os
import select
import signal
import stat
import sys
import time
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
USE_OPENS = 4  # open/close pairs of a device in each round of a user
UNKNOWN_IOCTLS = (0x0000DEAD, 0xC0DE0000 | (0x7F << 8) | 0xFE)  # no type a driver would use, no size


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
        surface += [(kind, name) for name in outermost if (kind, name) not in surface]
    surface += [("filesystem", name) for name in sorted(set(after["filesystems"]) - set(before["filesystems"]))]
    parameters = f"/sys/module/{module}/parameters"
    if os.path.isdir(path(parameters)):
        surface.append(("parameters", parameters))
    return surface


def files_of(kind: str, name: str) -> list[str]:
    """The files to exercise for one surface entry: a device itself, or the regular files below an entry (a
    /sys/class entry is a link to its device's folder: that one link is followed, none below it)."""
    if kind in ("chardev", "blockdev"):
        return [name]
    if kind in ("filesystem", "netdev"):
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
    """call(*args) abandoned after OP_TIMEOUT_S: ('ok', value), ('error', errno name) or ('blocked', None)."""
    signal.setitimer(signal.ITIMER_REAL, OP_TIMEOUT_S)
    try:
        return "ok", call(*args)
    except Blocked:
        return "blocked", None
    except OSError as error:
        return "error", errno.errorcode.get(error.errno or 0, str(error.errno))
    except (ValueError, OverflowError) as error:
        return "error", type(error).__name__
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


class Tally:
    """How many operations of each kind a path took, and how they ended."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.outcomes: dict[str, int] = {}
        self.wrong: list[str] = []

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


def use_device(name: str, ioctls: list[dict[str, Any]], tally: Tally, opens: int) -> None:
    """open/close `opens` times; reads short, long and at offsets; writes of 16 B, 4 KiB and 64 KiB; poll, lseek,
    mmap; every ioctl from the module's sources with a buffer of its size (zeros, then a pattern)."""
    for _ in range(opens):
        fd, _how = open_any(name, tally)
        if fd is not None:
            tally.add("close", bounded(os.close, fd))
    fd, how = open_any(name, tally)
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
        for command in ioctls:
            call_ioctl(fd, command, tally)
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


def call_ioctl(fd: int, command: dict[str, Any], tally: Tally) -> None:
    """The ioctl once with each shape of buffer of its encoded size (with no size: 0 as the argument, each time):
    again and again, as a use after free shows when the object is allocated again."""
    number, size, direction = command["number"], command["size"], command["direction"]
    for buffer in buffers(size):
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
            if kind in ("chardev", "blockdev"):
                device_ioctls = ioctls if kind == "chardev" else []
                use_device(file, device_ioctls, tally, opens=WALK_OPENS)
                misuse_device(file, device_ioctls, tally)
            else:
                use_file(file, tally, reads=WALK_READS)
                misuse_file(file, tally)
            report["paths"][file] = {"kind": kind, "counts": tally.counts, "outcomes": tally.outcomes}
            report["wrong"] += [f"{file}: {what}" for what in tally.wrong]
    return report


def use(surface: list[list[str]], ioctls: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Every path of the surface used with good input, round after round until `seconds` have passed (at least
    one round). With nothing to use, the module just stays loaded that long."""
    signal.signal(signal.SIGALRM, _alarm)
    ends = time.monotonic() + seconds
    files = [(kind, file) for kind, name in surface for file in files_of(kind, name)]
    tallies = {file: Tally() for _, file in files}
    rounds = 0
    while rounds == 0 or time.monotonic() < ends:
        if not files:
            time.sleep(max(0.0, ends - time.monotonic()))
            break
        rounds += 1
        for kind, file in files:
            if kind in ("chardev", "blockdev"):
                use_device(file, ioctls if kind == "chardev" else [], tallies[file], opens=USE_OPENS)
            else:
                use_file(file, tallies[file], reads=1)
    paths = {file: {"kind": kind, "counts": tallies[file].counts} for kind, file in files}
    return {"rounds": rounds, "paths": paths}


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
        print(json.dumps(use(read_json(arguments[0]), read_json(arguments[1]), float(arguments[2]))))
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
