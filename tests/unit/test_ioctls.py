"""The ioctl scan: every command a module's sources define, with the number its driver's switch sees.

Every expected number below is what gcc gives. Those of the Linux headers (fixtures/ioctls/linux-6.1/, copied from
/usr/src/linux-source-6.1.tar.xz) were printed by a program including the host's <linux/random.h>, <linux/fs.h>
and <linux/fiemap.h> (gcc 12, linux-libc-dev 6.1); those of the other fixtures by a program including the
fixture's header, with the kernel-only structs copied in (u32/u64 as __u32/__u64, __aligned(32) spelled out).
The tests marked `compiled` run the same programs with a box's gcc, in a chroot of its root filesystem.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from toolkit.boxes import store
from toolkit.domains.module import ioctls
from toolkit.domains.module.ioctls import IoctlCommand, encoding, probe
from toolkit.errors import UserError

FIXTURES = Path(__file__).parent / "fixtures" / "ioctls"
LINUX = FIXTURES / "linux-6.1"
BUGGYDEV = FIXTURES / "buggydev"
LAYOUTS = FIXTURES / "layouts"
VEXFS = Path(__file__).resolve().parents[2] / "kernel" / "vexfs"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vexfs-vmtest"


def _numbers(scan: ioctls.IoctlScan) -> dict[str, int]:
    return {command.name: command.number for command in scan.commands}


def _command(scan: ioctls.IoctlScan, name: str) -> IoctlCommand:
    return next(command for command in scan.commands if command.name == name)


def _module(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


# The encoding


def test_encoding_follows_asm_generic_ioctl_h() -> None:
    header = (FIXTURES / "asm-generic-ioctl.h").read_text()
    value = {name: int(number) for name, number in re.findall(r"#\s*define (_IOC_\w+)\s+(\d+)U?\b", header)}
    assert (value["_IOC_NRBITS"], value["_IOC_TYPEBITS"], value["_IOC_SIZEBITS"], value["_IOC_DIRBITS"]) == (
        8,
        8,
        14,
        2,
    )
    assert encoding.TYPE_SHIFT == value["_IOC_NRBITS"]
    assert encoding.SIZE_SHIFT == value["_IOC_NRBITS"] + value["_IOC_TYPEBITS"]
    assert encoding.DIR_SHIFT == encoding.SIZE_SHIFT + value["_IOC_SIZEBITS"]
    assert (encoding.IOC_NONE, encoding.IOC_WRITE, encoding.IOC_READ) == (
        value["_IOC_NONE"],
        value["_IOC_WRITE"],
        value["_IOC_READ"],
    )
    assert encoding.encode(encoding.IOC_READ, ord("R"), 0, 4) == 0x80045200


def test_a_command_says_its_direction_as_the_user_sees_it_and_its_size() -> None:
    assert IoctlCommand.decoded("X", 0xC020E801, "x.h:1") == IoctlCommand("X", 0xC020E801, "readwrite", 32, "x.h:1")
    assert IoctlCommand.decoded("X", 0x80045200, "x.h:1").direction == "read"
    assert IoctlCommand.decoded("X", 0x40085203, "x.h:1").direction == "write"
    assert IoctlCommand.decoded("X", 0x00005204, "x.h:1") == IoctlCommand("X", 0x5204, "none", 0, "x.h:1")


# Real Linux uapi headers


def test_linux_random_h_commands_have_gcc_s_numbers() -> None:
    scan = ioctls.scan(LINUX)
    assert _command(scan, "RNDGETENTCNT") == IoctlCommand("RNDGETENTCNT", 0x80045200, "read", 4, "random.h:18")
    assert _command(scan, "RNDADDENTROPY") == IoctlCommand("RNDADDENTROPY", 0x40085203, "write", 8, "random.h:30")
    assert _numbers(scan)["RNDGETPOOL"] == 0x80085202  # int [2]
    assert _command(scan, "RNDZAPENTCNT") == IoctlCommand("RNDZAPENTCNT", 0x00005204, "none", 0, "random.h:33")


def test_linux_fs_h_commands_have_gcc_s_numbers() -> None:
    numbers = _numbers(ioctls.scan(LINUX))
    assert numbers["FS_IOC_GETFLAGS"] == 0x80086601  # long
    assert numbers["FS_IOC32_GETFLAGS"] == 0x80046601  # int
    assert numbers["BLKGETSIZE64"] == 0x80081272  # size_t, magic 0x12
    assert numbers["BLKROSET"] == 0x0000125D
    assert numbers["FIBMAP"] == 0x00000001  # magic 0x00
    assert numbers["FS_IOC_FSGETXATTR"] == 0x801C581F  # struct fsxattr: 5 __u32 and 8 chars, 28 bytes
    assert numbers["FS_IOC_GETFSLABEL"] == 0x81009431  # char[FSLABEL_MAX], a macro of the same header
    assert numbers["FIDEDUPERANGE"] == 0xC0189436  # struct file_dedupe_range: 24 bytes, then a flexible array
    assert numbers["FICLONERANGE"] == 0x4020940D
    assert numbers["FITRIM"] == 0xC0185879
    assert numbers["FS_IOC_FIEMAP"] == 0xC020660B  # struct fiemap, from fiemap.h


def test_every_define_of_the_linux_headers_is_found_but_those_under_if_0() -> None:
    scan = ioctls.scan(LINUX)
    assert len(scan.commands) == 56
    assert not {"BLKPG", "BLKELVGET", "BLKELVSET"} & set(_numbers(scan))  # fs.h keeps them under #if 0


def test_a_struct_the_sources_do_not_define_is_unresolved_with_its_reason() -> None:
    assert ioctls.scan(LINUX).unresolved == (
        "BLKTRACESETUP (fs.h:174): the size of struct blk_user_trace_setup is unknown: "
        "the module's sources do not define it",
    )


# This repository's module


def test_vexfs_query_is_the_only_command_of_vexfs() -> None:
    # struct vexfs_query: dim, k, metric, count (__u32: 16 bytes), query and results (__u64 at 16 and 24): 32 bytes,
    # no padding (gcc agrees: sizeof 32, offsetof(results) 24). _IOWR(0xE8, 1, 32 bytes):
    # 3 << 30 | 32 << 16 | 0xE8 << 8 | 1.
    expected = (3 << 30) | (32 << 16) | (0xE8 << 8) | 1
    assert expected == 0xC020E801
    scan = ioctls.scan(VEXFS)
    assert scan.commands == (IoctlCommand("VEXFS_IOC_QUERY", expected, "readwrite", 32, "include/uapi/vexfs.h:40"),)
    assert scan.unresolved == ()


# A driver's sources


BUGGYDEV_COMMANDS = (
    IoctlCommand("BUGGYDEV_IOC_STATS", 0x8010B702, "read", 16, "buggydev.c:20"),
    IoctlCommand("BUGGYDEV_IOC_WINDOW", 0xC020B701, "readwrite", 32, "buggydev_internal.h:23"),
    IoctlCommand("BUGGYDEV_IOC_RESET", 0x00006200, "none", 0, "include/uapi/buggydev.h:47"),
    IoctlCommand("BUGGYDEV_IOC_XCHG", 0xC0186210, "readwrite", 24, "include/uapi/buggydev.h:48"),
    IoctlCommand("BUGGYDEV_IOC_SWAP", 0xC0186210, "readwrite", 24, "include/uapi/buggydev.h:53"),
    IoctlCommand("BUGGYDEV_IOC_PEEK", 0xC0306211, "readwrite", 48, "include/uapi/buggydev.h:54"),
    IoctlCommand("BUGGYDEV_IOC_SET_PACKED", 0x40076220, "write", 7, "include/uapi/buggydev.h:55"),
    IoctlCommand("BUGGYDEV_IOC_GET_NAME", 0x80106221, "read", 16, "include/uapi/buggydev.h:56"),
    IoctlCommand("BUGGYDEV_IOC_SET_BUFFER", 0x40086222, "write", 8, "include/uapi/buggydev.h:57"),
    IoctlCommand("BUGGYDEV_IOC_GET_COUNT", 0x80086223, "read", 8, "include/uapi/buggydev.h:58"),
    IoctlCommand("BUGGYDEV_IOC_LEGACY", 0x0000127E, "none", 0, "include/uapi/buggydev.h:59"),
)
BUGGYDEV_SECRET = (
    "BUGGYDEV_IOC_SECRET (include/uapi/buggydev.h:61): the size of struct buggydev_secret is unknown: "
    "the module's sources do not define it"
)


def test_a_driver_s_commands_in_every_form_it_writes_them() -> None:
    """A define over continuation lines (XCHG), an alias (SWAP), a magic from a macro ('b', 0xB7), a plain
    number (LEGACY), a packed struct (7 bytes), padding (XCHG: 24), an anonymous union and a flexible array
    (PEEK: 48), an array sized by a macro, a pointer, _IOR_BAD, an enum constant as number, a kernel-only
    header's aligned struct (WINDOW: 32), a .c file's command through a wrapper macro (STATS)."""
    scan = ioctls.scan(BUGGYDEV)
    assert scan.commands == BUGGYDEV_COMMANDS
    assert scan.unresolved == (BUGGYDEV_SECRET,)


def test_build_artefacts_and_git_are_not_read(tmp_path: Path) -> None:
    module = tmp_path / "buggydev"
    shutil.copytree(BUGGYDEV, module)
    _module(module, {
        "buggydev.mod.c": "#define BUGGYDEV_IOC_ARTEFACT _IO('b', 0x70)\n",
        ".git/hooks.h": "#define BUGGYDEV_IOC_GIT _IO('b', 0x71)\n",
        ".tmp_versions/old.h": "#define BUGGYDEV_IOC_OLD _IO('b', 0x72)\n",
    })  # fmt: skip
    assert ioctls.scan(module).commands == BUGGYDEV_COMMANDS


def test_layouts_and_expressions_are_worked_out_as_gcc_does() -> None:
    assert _numbers(ioctls.scan(LAYOUTS)) == {
        "LAYOUTS_IOC_MIX": 0xC0506C01,  # pointers, nested struct, enum, __aligned_u64, long double: 80 bytes
        "LAYOUTS_IOC_PAIRS": 0x40186C02,  # a typedef'd array of a typedef'd struct: 24
        "LAYOUTS_IOC_BITS": 0x40186C03,  # bit-fields: 24
        "LAYOUTS_IOC_UNNAMED": 0x40036C04,  # an unnamed bit-field: 3, aligned 1
        "LAYOUTS_IOC_PACKED": 0x800C6C05,  # packed and aligned(4): 9 rounded to 12
        "LAYOUTS_IOC_EITHER": 0xC0086C06,  # a union: 8
        "LAYOUTS_IOC_VARIADIC": 0x40046C07,
        "LAYOUTS_IOC_COMMENTED": 0x40046C08,
        "LAYOUTS_IOC_ENUM_NR": 0x00006C09,
        "LAYOUTS_IOC_SHORT": 0x80026C0A,
        "LAYOUTS_IOC_LONG_LONG": 0x80086C0B,
        "LAYOUTS_IOC_SIZEOF": 0x80086C0C,
        "LAYOUTS_IOC_HIGH": 0xFFFFE80D,
        "LAYOUTS_IOC_CAST": 0x0000E80E,
    }


def test_what_the_evaluator_cannot_tell_is_unresolved_with_its_reason(tmp_path: Path) -> None:
    module = _module(tmp_path, {"odd.h": """#include <linux/ioctl.h>
#ifdef __KERNEL__
#define ODD_MAGIC 'k'
#else
#define ODD_MAGIC 'u'
#endif
struct odd_config {
	int a;
#ifdef CONFIG_ODD_DEBUG
	long debug;
#endif
};
#define ODD_PASTE(x) ODD_ ## x
#define ODD_IOC_MAGIC _IO(ODD_MAGIC, 1)
#define ODD_IOC_CONFIG _IOR('o', 2, struct odd_config)
#define ODD_IOC_SYSTEM _IO(BTRFS_IOCTL_MAGIC, 3)
#define ODD_IOC_TYPE _IOR('o', 4, odd_handle_t)
#define ODD_IOC_PASTED _IOR('o', ODD_PASTE(NR), int)
"""})  # fmt: skip
    assert ioctls.scan(module).unresolved == (
        "ODD_IOC_MAGIC (odd.h:14): ODD_MAGIC is defined differently at odd.h:3 and odd.h:5",
        "ODD_IOC_CONFIG (odd.h:15): the size of struct odd_config is unknown: "
        "struct odd_config (odd.h:7) differs between #if branches the scan does not evaluate",
        "ODD_IOC_SYSTEM (odd.h:16): BTRFS_IOCTL_MAGIC is not defined in the module's sources",
        "ODD_IOC_TYPE (odd.h:17): `odd_handle_t` is neither a type of the module's sources nor a scalar the scan knows",
        "ODD_IOC_PASTED (odd.h:18): the macro ODD_PASTE (odd.h:13) pastes or stringifies tokens",
    )


def test_a_missing_source_directory_is_the_user_s_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        ioctls.scan(tmp_path / "nowhere")


# The compiled probe: a box's gcc in a chroot of its root filesystem


@pytest.fixture(scope="module")
def sysroot() -> Path:
    """The root filesystem of the first box with gcc (entered in the user namespace, as every chroot is)."""
    boxes = [box for box in store.list_boxes(CACHE) if (box.rootfs / "usr" / "bin" / "gcc").exists()]
    if not boxes:
        pytest.skip(f"no box with gcc in {store.boxes_dir(CACHE)}: `invoke box.build` makes one")
    return boxes[0].rootfs


@pytest.mark.parametrize("module", [LINUX, BUGGYDEV, LAYOUTS, VEXFS], ids=lambda path: path.name)
def test_compiled_and_evaluated_numbers_agree(module: Path, sysroot: Path) -> None:
    sources = ioctls.read_sources(module)
    sites = ioctls.commands_in(sources)
    compiled = ioctls.compiled(sources, sites, sysroot)
    evaluated = ioctls.evaluated(sources, sites)
    numbers = {site.name: value for site, value in compiled.items() if isinstance(value, int)}
    assert numbers == {site.name: value for site, value in evaluated.items() if isinstance(value, int)}


def test_a_scan_with_a_box_adds_the_compiler_s_reason(sysroot: Path) -> None:
    scan = ioctls.scan(BUGGYDEV, sysroot)
    assert scan.commands == BUGGYDEV_COMMANDS
    [secret] = scan.unresolved
    assert secret.startswith(f"{BUGGYDEV_SECRET} (compiled: gcc: ")
    assert "incomplete type 'struct buggydev_secret'" in secret


def test_the_compiler_resolves_what_only_system_headers_define(sysroot: Path) -> None:
    """BTRFS_IOCTL_MAGIC is in the box's <linux/btrfs.h>: the header is included, and the .c file's
    command is compiled from its copied-out struct after the system headers that file includes."""
    module = FIXTURES / "system_magic"
    assert ioctls.scan(module).commands == ()
    scan = ioctls.scan(module, sysroot)
    assert scan.commands == (
        IoctlCommand("MYFS_IOC_TRIM", 0x401094F1, "write", 16, "myfs.c:11"),
        IoctlCommand("MYFS_IOC_SYNC", 0x000094F0, "none", 0, "myfs.h:9"),
    )
    assert scan.unresolved == ()


def test_globals_a_header_defines_do_not_cost_its_commands(sysroot: Path) -> None:
    sources = ioctls.read_sources(FIXTURES / "header_globals")
    compiled = ioctls.compiled(sources, ioctls.commands_in(sources), sysroot)
    assert {site.name: value for site, value in compiled.items()} == {
        "GLOBALS_IOC_ONE": 0x00006701,
        "GLOBALS_IOC_TWO": 0x80046702,
    }


def test_the_probe_leaves_nothing_in_the_box(sysroot: Path) -> None:
    before = set((sysroot / "tmp").glob("vexfs-vmtest-ioctls-*"))
    ioctls.scan(VEXFS, sysroot)
    assert set((sysroot / "tmp").glob("vexfs-vmtest-ioctls-*")) == before


def test_a_probe_past_its_time_is_killed_with_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "child"
    started = time.monotonic()
    returncode, output = probe._bounded(["sh", "-c", f"sleep 30 & echo $! > {pid_file}; wait"], timeout=0.5)
    assert (returncode, output) == (probe.TIMED_OUT, "timed out after 0.5 s")
    assert time.monotonic() - started < 5
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child)


def _running(pid: int) -> bool:
    """pid exists and is not a zombie (a killed orphan may wait for a reaper)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
