#!/usr/bin/env python3
"""System calls the filesystem tests make in the guest; each command prints one JSON object.

Runs under the guest's own python3 (3.9 on bullseye): standard library only. The guest only
observes and reports; the host decides what is right.

  fsops.py mount SOURCE DIR TYPE OPTIONS     mount(2) then umount: "ok" or the errno's name
  fsops.py posix DIR                         namespace and file operations, what was observed
  fsops.py xattrs DIR                        user.* set, get, list, remove
  fsops.py vectors DIR SPEC.json             vectors on files, k-nearest queries, bad requests
  fsops.py fill DIR FILES BYTES              create and write until ENOSPC, then use it again
  fsops.py busy DIR                          umount with a file open in the mount
  fsops.py churn DIR ROUNDS                  files made, linked, renamed and removed (a workload)
"""

# mypy: disable-error-code="func-returns-value, misc"
# (steps are lambdas chaining `call() or observation`: the calls return None on purpose)

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import json
import os
import stat
import struct
import sys
import time
from typing import Any, Callable

LIBC = ctypes.CDLL(None, use_errno=True)
PATTERN = bytes(range(256)) * 40  # 10240 bytes: two page boundaries and a partial page
TICK = 0.05  # longer than the kernel's coarse clock, so a changed time shows
GETDENTS64 = 217  # x86_64
SMALL_READ = 96  # bytes per getdents64: four short names, so a directory of a few dozen takes many reads
MANY = 24  # the files of the directory listed in small reads (few: a small filesystem may hold few)
BY_DESIGN = (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS)  # a filesystem without links, symlinks or folders
LISTING_LIMIT = 1000  # names: more from one of the few folders posix_ops makes is a listing that does not end


def name_of(number: int) -> str:
    """The errno's name; 95 is EOPNOTSUPP, as the filesystems return it (Python calls it ENOTSUP)."""
    return "EOPNOTSUPP" if number == errno.EOPNOTSUPP else errno.errorcode.get(number, str(number))


def attempt(action: Callable[[], Any]) -> Any:
    """What action returned, or "errno:NAME" when the system call failed."""
    try:
        return action()
    except OSError as error:
        return f"errno:{name_of(error.errno or 0)}"


def emit(found: dict[str, Any]) -> None:
    print(json.dumps(found, sort_keys=True), flush=True)


def names(path: str) -> list[str]:
    """A directory's names as listed, at most LISTING_LIMIT + 1: a listing that starts again at every read of a
    directory of a few entries would otherwise go on until memory runs out."""
    found: list[str] = []
    with os.scandir(path) as entries:
        for entry in entries:
            found.append(entry.name)
            if len(found) > LISTING_LIMIT:
                break
    return found


def listing(path: str) -> Any:
    """A directory's names, sorted; what went wrong when its listing did not end."""
    found = names(path)
    return sorted(found) if len(found) <= LISTING_LIMIT else f"more than {LISTING_LIMIT} names: the listing did not end"


def sha(path: str) -> str:
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()


def pread(path: str, offset: int, size: int) -> str:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, size, offset).hex()
    finally:
        os.close(fd)


def nonzero(path: str, start: int = 0) -> int:
    with open(path, "rb") as file:
        file.seek(start)
        return sum(1 for byte in file.read() if byte)


def cmd_mount(source: str, target: str, fstype: str, options: str) -> None:
    done = LIBC.mount(source.encode(), target.encode(), fstype.encode(), 0, options.encode())
    if done != 0:
        print(f"errno:{name_of(ctypes.get_errno())}")
        return
    LIBC.umount2(target.encode(), 0)
    print("ok")


def cmd_posix(top: str) -> None:
    """Each step's observation under its name, in order, one line each as it comes (what a step that never returns
    follows stays known); the first failed call ends the run, unless a link or a symlink was refused by design
    before it (a filesystem without them: what uses them fails too, and the host expects none of it)."""
    os.umask(0)

    def step(name: str, action: Callable[[], Any]) -> Any:
        seen = attempt(action)
        emit({name: seen})
        return seen

    def mtime(path: str) -> int:
        return os.stat(path).st_mtime_ns

    def write_all(path: str, data: bytes, flags: int = os.O_WRONLY) -> int:
        fd = os.open(path, flags)
        try:
            return os.write(fd, data)
        finally:
            os.close(fd)

    d, f = os.path.join(top, "d"), os.path.join(top, "d", "file")
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("mkdir", lambda: os.mkdir(d, 0o755) or oct(stat.S_IMODE(os.stat(d).st_mode))),
        ("dir_nlink", lambda: os.stat(d).st_nlink),
        ("dir_mtime_before", lambda: mtime(d)),
        (
            "create",
            lambda: time.sleep(TICK) or os.close(os.open(f, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o640)) or "ok",
        ),
        ("create_again", lambda: os.close(os.open(f, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o640)) or "ok"),
        ("created_mode", lambda: oct(stat.S_IMODE(os.stat(f).st_mode))),
        ("created_size", lambda: os.stat(f).st_size),
        ("created_nlink", lambda: os.stat(f).st_nlink),
        ("dir_mtime_after_create", lambda: time.sleep(TICK) or mtime(d)),
        ("mtime_before_write", lambda: time.sleep(TICK) or mtime(f)),
        ("write", lambda: write_all(f, PATTERN)),
        ("mtime_after_write", lambda: mtime(f)),
        ("size_after_write", lambda: os.stat(f).st_size),
        ("sha_after_write", lambda: sha(f)),
        ("pwrite_at_5000", lambda: _pwrite(f, b"XYZ", 5000)),
        ("read_at_5000", lambda: pread(f, 4999, 5)),
        ("read_at_4096", lambda: pread(f, 4096, 4)),
        ("seek_end", lambda: _seek_end(f)),
        ("append", lambda: write_all(f, b"END", os.O_WRONLY | os.O_APPEND)),
        ("size_after_append", lambda: os.stat(f).st_size),
        ("read_appended", lambda: pread(f, len(PATTERN), 3)),
        ("sparse_write", lambda: _sparse(os.path.join(d, "sparse"), 20000)),
        ("sparse_size", lambda: os.stat(os.path.join(d, "sparse")).st_size),
        ("sparse_nonzero", lambda: nonzero(os.path.join(d, "sparse"))),
        ("truncate_down", lambda: os.truncate(f, 3000) or os.stat(f).st_size),
        ("sha_after_truncate_down", lambda: sha(f)),
        ("truncate_up", lambda: os.truncate(f, 8000) or os.stat(f).st_size),
        ("nonzero_past_3000", lambda: nonzero(f, 3000)),
        ("ctime_before_chmod", lambda: time.sleep(TICK) or os.stat(f).st_ctime_ns),
        ("chmod", lambda: time.sleep(TICK) or os.chmod(f, 0o600) or oct(stat.S_IMODE(os.stat(f).st_mode))),
        ("ctime_after_chmod", lambda: os.stat(f).st_ctime_ns),
        ("link", lambda: os.link(f, os.path.join(d, "hard")) or os.stat(f).st_nlink),
        ("link_same_inode", lambda: os.stat(os.path.join(d, "hard")).st_ino == os.stat(f).st_ino),
        ("symlink", lambda: os.symlink("file", os.path.join(d, "sym")) or os.readlink(os.path.join(d, "sym"))),
        ("symlink_size", lambda: os.lstat(os.path.join(d, "sym")).st_size),
        ("symlink_is_link", lambda: stat.S_ISLNK(os.lstat(os.path.join(d, "sym")).st_mode)),
        ("through_symlink", lambda: os.stat(os.path.join(d, "sym")).st_ino == os.stat(f).st_ino),
        ("subdir", lambda: os.mkdir(os.path.join(d, "sub")) or os.stat(d).st_nlink),
        ("rmdir_not_empty", lambda: os.rmdir(d) or "ok"),
        ("mtime_before_rename", lambda: mtime(f)),
        ("rename", lambda: os.rename(f, os.path.join(d, "sub", "moved")) or os.path.exists(f)),
        ("renamed_sha", lambda: sha(os.path.join(d, "sub", "moved"))),
        ("renamed_mtime", lambda: mtime(os.path.join(d, "sub", "moved"))),
        ("renamed_nlink", lambda: os.stat(os.path.join(d, "hard")).st_nlink),
        ("rename_over", lambda: _rename_over(d)),
        ("replaced_nlink", lambda: os.stat(os.path.join(d, "hard")).st_nlink),
        ("unlink", lambda: os.unlink(os.path.join(d, "hard")) or os.path.exists(os.path.join(d, "hard"))),
        ("unlink_missing", lambda: os.unlink(os.path.join(d, "hard")) or "ok"),
        ("dangling_symlink", lambda: os.path.exists(os.path.join(d, "sym"))),
        ("listing", lambda: listing(d)),
        ("sub_listing", lambda: listing(os.path.join(d, "sub"))),
        ("rmdir_sub", lambda: _rmtree(os.path.join(d, "sub")) or os.stat(d).st_nlink),
        ("rmdir", lambda: _rmtree(d) or os.path.exists(d)),
        ("listing_in_small_reads", lambda: _listed_in_small_reads(os.path.join(top, "many"))),
    ]
    without = False  # a link or symlink refused by design: the run goes on past what fails for it
    for name, action in steps:
        seen = step(name, action)
        failed = isinstance(seen, str) and seen.startswith("errno:")
        without = without or (name in ("link", "symlink") and seen in [f"errno:{name_of(n)}" for n in BY_DESIGN])
        if failed and not without and name not in ("create_again", "rmdir_not_empty", "unlink_missing"):
            break


def _pwrite(path: str, data: bytes, offset: int) -> int:
    fd = os.open(path, os.O_WRONLY)
    try:
        return os.pwrite(fd, data, offset)
    finally:
        os.close(fd)


def _seek_end(path: str) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


def _sparse(path: str, offset: int) -> int:
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        return os.pwrite(fd, b"E", offset)
    finally:
        os.close(fd)


def _listed_in_small_reads(folder: str) -> dict[str, Any]:
    """MANY files made in a new folder, listed by getdents64 SMALL_READ bytes at a time, then removed: how many
    names were read but . and .. (at most 4 x MANY: a listing that starts again at every read never ends), how
    many distinct, and which of the files made were not."""
    os.mkdir(folder)
    made = [f"f{n:02d}" for n in range(MANY)]
    for name in made:
        os.close(os.open(os.path.join(folder, name), os.O_CREAT | os.O_WRONLY, 0o644))
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    buffer = ctypes.create_string_buffer(SMALL_READ)
    listed: list[str] = []
    try:
        while len(listed) < 4 * MANY:
            got = LIBC.syscall(GETDENTS64, fd, buffer, SMALL_READ)
            if got < 0:
                raise OSError(ctypes.get_errno(), "getdents64")
            if got == 0:
                break
            batch, offset = buffer.raw[:got], 0
            while offset < got:  # struct linux_dirent64: ino, off, reclen, type, name
                reclen = struct.unpack_from("H", batch, offset + 16)[0]
                listed.append(batch[offset + 19 : offset + reclen].split(b"\0", 1)[0].decode(errors="replace"))
                offset += reclen
    finally:
        os.close(fd)
    for name in made:
        os.unlink(os.path.join(folder, name))
    os.rmdir(folder)
    read = [name for name in listed if name not in (".", "..")]
    return {"read": len(read), "distinct": len(set(read)), "missing": sorted(set(made) - set(read))}


def _rename_over(d: str) -> str:
    other = os.path.join(d, "other")
    with open(other, "wb") as file:
        file.write(b"two")
    os.rename(other, os.path.join(d, "sub", "moved"))
    with open(os.path.join(d, "sub", "moved"), "rb") as file:
        return file.read().decode()


def _rmtree(path: str) -> None:
    for name in sorted(set(names(path))):
        inner = os.path.join(path, name)
        if os.path.isdir(inner) and not os.path.islink(inner):
            _rmtree(inner)
        else:
            os.unlink(inner)
    os.rmdir(path)


def cmd_xattrs(top: str) -> None:
    path = os.path.join(top, "xattrs")
    open(path, "wb").close()
    seen: dict[str, Any] = {"set": attempt(lambda: os.setxattr(path, "user.color", b"blue") or "ok")}
    if seen["set"] == "errno:EOPNOTSUPP":
        emit(seen)
        return
    seen["get"] = attempt(lambda: os.getxattr(path, "user.color").decode())
    seen["replace"] = attempt(lambda: os.setxattr(path, "user.color", b"red", os.XATTR_REPLACE) or "ok")
    seen["get_replaced"] = attempt(lambda: os.getxattr(path, "user.color").decode())
    seen["create_existing"] = attempt(lambda: os.setxattr(path, "user.color", b"x", os.XATTR_CREATE) or "ok")
    seen["replace_missing"] = attempt(lambda: os.setxattr(path, "user.none", b"x", os.XATTR_REPLACE) or "ok")
    seen["set_empty"] = attempt(lambda: os.setxattr(path, "user.empty", b"") or "ok")
    seen["set_binary"] = attempt(lambda: os.setxattr(path, "user.binary", bytes(range(200))) or "ok")
    seen["get_binary"] = attempt(lambda: os.getxattr(path, "user.binary").hex())
    seen["list"] = attempt(lambda: sorted(name for name in os.listxattr(path) if name.startswith("user.")))
    seen["remove"] = attempt(lambda: os.removexattr(path, "user.color") or "ok")
    seen["get_removed"] = attempt(lambda: os.getxattr(path, "user.color").decode())
    seen["remove_missing"] = attempt(lambda: os.removexattr(path, "user.color") or "ok")
    seen["list_after"] = attempt(lambda: sorted(name for name in os.listxattr(path) if name.startswith("user.")))
    os.unlink(path)
    emit(seen)


def _query(fd: int, spec: dict[str, Any], k: int, metric: int, vector: bytes, dim: int, bad: str = "") -> Any:
    """VEXFS_IOC_QUERY: [[ino, score], ...], or "errno:NAME"."""
    query = ctypes.create_string_buffer(vector, max(len(vector), 1))
    size = struct.calcsize(spec["result_struct"])
    results = ctypes.create_string_buffer(size * max(k, 1))
    query_at = 8 if bad == "query" else ctypes.addressof(query)
    results_at = 8 if bad == "results" else ctypes.addressof(results)
    argument = bytearray(struct.pack(spec["query_struct"], dim, k, metric, 0, query_at, results_at))
    try:
        if bad == "null":
            fcntl.ioctl(fd, spec["ioctl"], 0)
        else:
            fcntl.ioctl(fd, spec["ioctl"], argument, True)
    except OSError as error:
        return f"errno:{name_of(error.errno or 0)}"
    count = struct.unpack(spec["query_struct"], bytes(argument))[3]
    return [list(struct.unpack_from(spec["result_struct"], results, index * size)) for index in range(count)]


def cmd_vectors(top: str, spec_path: str) -> None:
    with open(spec_path) as file:
        spec = json.load(file)
    name = spec["xattr"]
    seen: dict[str, Any] = {"inodes": {}, "readback_wrong": [], "set_failed": {}}
    for directory in spec["directories"]:
        os.makedirs(os.path.join(top, directory), exist_ok=True)
    for relative, hexed in sorted(spec["files"].items()):
        path = os.path.join(top, relative)
        open(path, "wb").close()
        value = bytes.fromhex(hexed)
        result = attempt(lambda path=path, value=value: os.setxattr(path, name, value) or "ok")
        if result != "ok":
            seen["set_failed"][relative] = result
            continue
        if os.getxattr(path, name).hex() != hexed:
            seen["readback_wrong"].append(relative)
        seen["inodes"][relative] = os.stat(path).st_ino
    for relative in spec["unlink"]:
        os.unlink(os.path.join(top, relative))
    fd = os.open(os.path.join(top, spec["query_dir"]), os.O_RDONLY | os.O_DIRECTORY)
    try:
        seen["queries"] = [
            _query(fd, spec, q["k"], q["metric"], bytes.fromhex(q["vector"]), spec["dim"]) for q in spec["queries"]
        ]
        seen["bad"] = {
            b["name"]: _query(fd, spec, b["k"], b["metric"], bytes.fromhex(b["vector"]), b["dim"], b.get("bad", ""))
            for b in spec["bad_queries"]
        }
    finally:
        os.close(fd)
    probe = os.path.join(top, spec["query_dir"], "bad-length")
    open(probe, "wb").close()
    seen["bad"]["short vector"] = attempt(lambda: os.setxattr(probe, name, bytes.fromhex(spec["short"])) or "ok")
    emit(seen)


def _fill_files(top: str, limit: int) -> dict[str, Any]:
    made = 0
    result: Any = "no ENOSPC"
    while made < limit * 2 + 16:
        try:
            os.close(os.open(os.path.join(top, f"f{made}"), os.O_CREAT | os.O_WRONLY, 0o644))
        except OSError as error:
            result = f"errno:{name_of(error.errno or 0)}"
            break
        made += 1
    for index in range(made):
        os.unlink(os.path.join(top, f"f{index}"))
    return {"created": made, "stopped": result}


def _fill_bytes(top: str, limit: int) -> dict[str, Any]:
    path = os.path.join(top, "big")
    written = 0
    result: Any = "no ENOSPC"
    chunk = b"\xa5" * 65536
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        while written < limit * 2 + len(chunk):
            try:
                written += os.write(fd, chunk)
            except OSError as error:
                result = f"errno:{name_of(error.errno or 0)}"
                break
    finally:
        os.close(fd)
    os.unlink(path)
    return {"written": written, "stopped": result}


def cmd_fill(top: str, files: str, size: str) -> None:
    seen: dict[str, Any] = {}
    if int(files):
        seen["files"] = _fill_files(top, int(files))
    seen["bytes"] = _fill_bytes(top, int(size))
    again = os.path.join(top, "again")

    def use_again() -> str:
        with open(again, "wb") as file:
            file.write(PATTERN[:1000])
        with open(again, "rb") as file:
            same = file.read() == PATTERN[:1000]
        os.unlink(again)
        return "ok" if same else "read back differs"

    seen["usable_after"] = attempt(use_again)
    emit(seen)


def cmd_busy(top: str) -> None:
    path = os.path.join(top, "busy")
    with open(path, "wb") as file:
        file.write(b"busy")
        done = LIBC.umount2(top.encode(), 0)
        result = "ok" if done == 0 else f"errno:{name_of(ctypes.get_errno())}"
    if result == "ok":
        emit({"umount_busy": result})
        return
    os.unlink(path)
    emit({"umount_busy": result})


def cmd_churn(top: str, rounds: str) -> None:
    """Files created, written, linked, renamed, given xattrs and removed: inodes and dentries come and go. A link,
    symlink or folder the filesystem refuses in the first round by design (EPERM, EOPNOTSUPP, ENOSYS: it has none)
    is left out of the rounds; any other failure is one, and fails the command (exit 1, the first on stderr)."""
    failed: list[str] = []
    refused: dict[str, str] = {}
    work = os.path.join(top, "churn")
    os.mkdir(work)
    kinds: list[tuple[str, Callable[[str], None], Callable[[str], None]]] = [
        ("link", lambda base: os.link(base, base + ".l"), lambda base: os.unlink(base + ".l")),
        ("symlink", lambda base: os.symlink(os.path.basename(base), base + ".s"), lambda base: os.unlink(base + ".s")),
        ("mkdir", lambda base: os.mkdir(base + ".d"), lambda base: os.rmdir(base + ".d")),
    ]
    for index in range(int(rounds)):
        base = os.path.join(work, f"n{index}")
        try:
            with open(base, "wb") as file:
                file.write(PATTERN[: 100 + index])
            for kind, make, _ in kinds:
                if kind in refused:
                    continue
                try:
                    make(base)
                except OSError as error:
                    if index or error.errno not in BY_DESIGN:
                        raise
                    refused[kind] = name_of(error.errno or 0)
            os.rename(base, base + ".r")
            attempt(lambda target=base + ".r": os.setxattr(target, "user.n", b"1"))
            os.unlink(base + ".r")
            for kind, _, remove in kinds:
                if kind not in refused:
                    remove(base)
        except OSError as error:
            failed.append(f"{index}: {error.strerror} ({name_of(error.errno or 0)})")
    _rmtree(work)
    emit({"rounds": int(rounds), "failed": failed[:5], "failures": len(failed), "refused": refused})
    if failed:
        print(f"file churn: {len(failed)} of {rounds} rounds failed, the first: {failed[0]}", file=sys.stderr)
        sys.exit(1)


COMMANDS: dict[str, Callable[..., None]] = {
    "mount": cmd_mount,
    "posix": cmd_posix,
    "xattrs": cmd_xattrs,
    "vectors": cmd_vectors,
    "fill": cmd_fill,
    "busy": cmd_busy,
    "churn": cmd_churn,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](*sys.argv[2:])
