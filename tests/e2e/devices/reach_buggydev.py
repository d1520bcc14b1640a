#!/usr/bin/env python3
"""Reach buggydev's paths by hand in a guest (python3 only, as root, the module loaded).

    python3 reach_buggydev.py check       every path of the correct driver, with good and bad input
    python3 reach_buggydev.py BUG         the path that reaches BUG (open_uaf, read_oob, ...)

`check` exits 1 when the driver does something it should not; BUG prints what the path
returned, and the kernel's report, if any, is in dmesg.
"""

from __future__ import annotations

import errno
import mmap
import os
import select
import struct
import sys
import time
from fcntl import ioctl

NODE = "/dev/buggydev"
PROC = "/proc/buggydev"
SYSFS_FILL = "/sys/class/misc/buggydev/fill"
DEBUGFS_STATS = "/sys/kernel/debug/buggydev/stats"
SIZE = 4096
FILL = struct.Struct("<QII16s")  # struct buggydev_fill
XCHG = struct.Struct("<QII")  # struct buggydev_xchg


def _ioc(direction: int, number: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (ord("b") << 8) | number


IOC_RESET = _ioc(0, 0, 0)
IOC_GET_SIZE = _ioc(2, 1, 4)
IOC_SET_FILL = _ioc(1, 2, FILL.size)
IOC_XCHG = _ioc(3, 3, XCHG.size)


def fill(fd: int, pattern: bytes, offset: int = 0, length: int = 0, flags: int = 0) -> None:
    ioctl(fd, IOC_SET_FILL, FILL.pack(offset, length, flags, pattern))


def xchg(fd: int, slot: int, value: int, flags: int = 0) -> int:
    return XCHG.unpack(ioctl(fd, IOC_XCHG, XCHG.pack(value, slot, flags)))[0]


def store(text: str) -> None:
    """One write(2) of text to the fill attribute (a buffered file would write again on close)."""
    fd = os.open(SYSFS_FILL, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def errno_of(call) -> int:
    try:
        call()
    except OSError as error:
        return error.errno
    return 0


# The bugs: each reaches its path only, a few times over.


def open_uaf() -> None:
    for _ in range(5):
        os.close(os.open(NODE, os.O_RDWR))


open_leak = open_uaf


def read_oob() -> None:
    fd = os.open(NODE, os.O_RDWR)
    print("read of 4096 at 3072:", len(os.pread(fd, SIZE, 3072)), "bytes")


def write_overflow() -> None:
    fd = os.open(NODE, os.O_RDWR)
    print("write of 5000 at 0:", os.pwrite(fd, b"w" * 5000, 0))


def ioctl_uaf() -> None:
    fd = os.open(NODE, os.O_RDWR)
    for value in range(1, 6):
        answer = XCHG.unpack(ioctl(fd, IOC_XCHG, XCHG.pack(value, 0, 0)))
        print("answer (value, slot, flags):", [hex(field) for field in answer])


def ioctl_race(processes: int = 4, seconds: float = 5.0) -> None:
    children = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:
            fd = os.open(NODE, os.O_RDWR)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                fill(fd, b"race")
            os._exit(0)
        children.append(pid)
    print("exit statuses:", [os.waitpid(pid, 0)[1] for pid in children])


def proc_read() -> None:
    for _ in range(5):
        with open(PROC) as proc:
            text = proc.read()
    print(text, end="")


def sysfs_store() -> None:
    print("80 bytes to", SYSFS_FILL, "refused with", errno.errorcode.get(errno_of(lambda: store("s" * 80)), "nothing"))


# The correct driver, every path.


def check() -> list[str]:
    wrong: list[str] = []

    def expect(what: str, got, wanted) -> None:
        if got != wanted:
            wrong.append(f"{what}: {got!r}, expected {wanted!r}")

    fd = os.open(NODE, os.O_RDWR)
    ioctl(fd, IOC_RESET)
    expect("GET_SIZE", struct.unpack("<I", ioctl(fd, IOC_GET_SIZE, b"\0" * 4))[0], SIZE)
    expect("GET_SIZE to a bad pointer", errno_of(lambda: ioctl(fd, IOC_GET_SIZE, 1)), errno.EFAULT)
    expect("unknown ioctl", errno_of(lambda: ioctl(fd, _ioc(0, 9, 0))), errno.ENOTTY)
    expect("write", os.write(fd, b"hello"), 5)
    expect("position after write", os.lseek(fd, 0, os.SEEK_CUR), 5)
    expect("read back", os.pread(fd, 5, 0), b"hello")
    expect("write across the end", os.pwrite(fd, b"t" * 100, SIZE - 46), 46)
    expect("write at the end", errno_of(lambda: os.pwrite(fd, b"x", SIZE)), errno.ENOSPC)
    expect("write past the end", errno_of(lambda: os.pwrite(fd, b"x", SIZE + 100)), errno.ENOSPC)
    expect("read at the end", os.pread(fd, 10, SIZE), b"")
    expect("read across the end", os.pread(fd, 100, SIZE - 10), b"t" * 10)
    expect("whole read", len(os.pread(fd, 65536, 0)), SIZE)
    expect("SEEK_END", os.lseek(fd, 0, os.SEEK_END), SIZE)
    expect("seek past the end", errno_of(lambda: os.lseek(fd, SIZE + 1, os.SEEK_SET)), errno.EINVAL)
    expect("seek before 0", errno_of(lambda: os.lseek(fd, -1, os.SEEK_SET)), errno.EINVAL)
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLOUT)
    expect("poll", poller.poll(0), [(fd, select.POLLIN | select.POLLOUT)])

    mapped = mmap.mmap(fd, SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    expect("mapped contents", mapped[:5], b"hello")
    mapped[0:5] = b"HELLO"
    expect("read of what the mapping wrote", os.pread(fd, 5, 0), b"HELLO")
    mapped.close()
    expect("private mapping", errno_of(lambda: mmap.mmap(fd, SIZE, mmap.MAP_PRIVATE)), errno.EINVAL)
    expect("two-page mapping", errno_of(lambda: mmap.mmap(fd, 2 * SIZE, mmap.MAP_SHARED)), errno.EINVAL)
    expect("mapping at offset 4096", errno_of(lambda: mmap.mmap(fd, SIZE, offset=SIZE)), errno.EINVAL)

    fill(fd, b"ab")
    expect("filled", os.pread(fd, 6, 0), b"ababab")
    fill(fd, b"z", offset=10, length=3, flags=1)
    expect("filled range, rest cleared", os.pread(fd, 14, 0), b"\0" * 10 + b"zzz\0")
    for what, args in (
        ("unknown fill flag", dict(flags=2)),
        ("fill offset past the end", dict(offset=SIZE + 1)),
        ("fill length past the end", dict(offset=SIZE - 1, length=2)),
    ):
        expect(what, errno_of(lambda args=args: fill(fd, b"p", **args)), errno.EINVAL)
    expect("empty pattern", errno_of(lambda: fill(fd, b"")), errno.EINVAL)
    expect("unterminated pattern", errno_of(lambda: fill(fd, b"p" * 16)), errno.EINVAL)
    expect("SET_FILL from a bad pointer", errno_of(lambda: ioctl(fd, IOC_SET_FILL, 1)), errno.EFAULT)
    for _ in range(40):  # more than the history keeps
        fill(fd, b"h")

    expect("first exchange", xchg(fd, 3, 5), 0)
    expect("second exchange", xchg(fd, 3, 7), 5)
    expect("slot out of range", errno_of(lambda: xchg(fd, 8, 1)), errno.EINVAL)
    expect("exchange flags", errno_of(lambda: xchg(fd, 0, 1, flags=1)), errno.EINVAL)
    expect("XCHG from a bad pointer", errno_of(lambda: ioctl(fd, IOC_XCHG, 1)), errno.EFAULT)

    store("xyz\n")
    with open(SYSFS_FILL) as attribute:
        expect("sysfs fill", attribute.read(), "xyz\n")
    expect("buffer after the sysfs fill", os.pread(fd, 6, 0), b"xyzxyz")
    for what, text in (("long sysfs fill", "q" * 80), ("sysfs fill over 15 bytes", "q" * 20), ("empty", "\n")):
        expect(what, errno_of(lambda text=text: store(text)), errno.EINVAL)

    ioctl(fd, IOC_RESET)
    expect("after reset", os.pread(fd, SIZE, 0), b"\0" * SIZE)
    os.close(fd)

    ioctl_race(seconds=2.0)  # harmless with the lock
    with open(PROC) as proc:
        counters = dict(line.split() for line in proc)
    expect("proc counters", int(counters["opens"]) >= 1 and int(counters["fills"]) >= 40, True)
    if os.path.exists(DEBUGFS_STATS):
        with open(DEBUGFS_STATS) as stats:
            expect("debugfs stats", stats.readline(), "bug none\n")
    return wrong


def main(argv: list[str]) -> int:
    paths = {name: function for name, function in globals().items()
             if name in ("open_uaf", "open_leak", "read_oob", "write_overflow", "ioctl_uaf", "ioctl_race",
                         "proc_read", "sysfs_store")}  # fmt: skip
    if len(argv) != 2 or argv[1] not in (*paths, "check"):
        print(f"usage: {argv[0]} check|{'|'.join(paths)}", file=sys.stderr)
        return 2
    if argv[1] == "check":
        wrong = check()
        print("\n".join(wrong) or "all paths behaved")
        return 1 if wrong else 0
    paths[argv[1]]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
