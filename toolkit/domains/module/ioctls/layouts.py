"""Sizes and alignments as the x86_64 ABI (LP64) lays things out: the scalar types a module's ioctl argument may
name, and structs and unions from their members (natural alignment, padding, bit-fields, packed, aligned)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from toolkit.domains.module.ioctls.unresolvable import Unresolvable

POINTER = 8
SCALARS: dict[str, int] = {
    **dict.fromkeys(("__u8", "__s8", "u8", "s8", "uint8_t", "int8_t", "bool"), 1),
    **dict.fromkeys(("__u16", "__s16", "u16", "s16", "uint16_t", "int16_t", "__le16", "__be16", "umode_t"), 2),
    **dict.fromkeys(("__u32", "__s32", "u32", "s32", "uint32_t", "int32_t", "__le32", "__be32", "pid_t", "uid_t",
                     "gid_t", "__kernel_pid_t", "__kernel_uid32_t", "__kernel_gid32_t", "__kernel_mode_t"), 4),
    **dict.fromkeys(("__u64", "__s64", "u64", "s64", "uint64_t", "int64_t", "__le64", "__be64", "__aligned_u64",
                     "__aligned_le64", "__aligned_be64", "size_t", "ssize_t", "ptrdiff_t", "intptr_t", "uintptr_t",
                     "off_t", "loff_t", "__kernel_size_t", "__kernel_ssize_t", "__kernel_off_t", "__kernel_loff_t",
                     "__kernel_long_t", "__kernel_ulong_t", "__kernel_time64_t", "__kernel_time_t", "time64_t",
                     "ktime_t", "sector_t", "dma_addr_t", "phys_addr_t", "resource_size_t", "__kernel_old_time_t",
                     "__kernel_suseconds_t", "__kernel_clock_t", "__kernel_ptrdiff_t", "__kernel_ino_t"), 8),
    **dict.fromkeys(("compat_int_t", "compat_uint_t", "compat_long_t", "compat_ulong_t", "compat_uptr_t",
                     "compat_size_t", "compat_caddr_t"), 4),
    "compat_s64": 8,
    "compat_u64": 8,
}  # fmt: skip
ALIGNMENTS = {"compat_s64": 4, "compat_u64": 4}  # where a scalar's alignment is not its size (32-bit compat)


@dataclass(frozen=True)
class Layout:
    size: int
    align: int


@dataclass(frozen=True)
class Member:
    """A member of a struct or union: its name ("" if it has none), layout, width (a bit-field), attributes."""

    name: str
    layout: Layout
    width: int | None
    packed: bool
    aligned: int | None


def named_scalar(name: str) -> Layout:
    """The layout of a scalar typedef the kernel or the C library defines (name in SCALARS)."""
    return Layout(SCALARS[name], ALIGNMENTS.get(name, SCALARS[name]))


def scalar(words: Sequence[str]) -> Layout:
    """The layout of a scalar named by C's words (`unsigned long`, `char`)."""
    longs = words.count("long")
    if "void" in words:
        raise Unresolvable("void has no size")
    if "char" in words or "_Bool" in words:
        size = 1
    elif "short" in words:
        size = 2
    elif "__int128" in words:
        size = 16
    elif "double" in words:
        size = 16 if longs else 8
    elif "float" in words:
        size = 4
    else:
        size = 8 if longs else 4
    return Layout(size, size)


def aggregate(kind: str, members: Iterable[Member], packed: bool, aligned: int | None) -> Layout:
    """A struct's or union's layout as the x86_64 ABI makes it: each member at the next multiple of its
    alignment (1 when packed), a bit-field in the next bits unless it would cross a unit of its type."""
    bits = end = 0  # the next free bit (struct), the end of the largest member (union)
    align = 1
    for member in members:
        member_align = max(1 if packed or member.packed else member.layout.align, member.aligned or 1)
        if kind == "union":
            start = 0
        elif member.width is None:
            start = _round_up(bits, member_align * 8)
        else:
            start = _bitfield_start(bits, member.width, member.layout, packed or member.packed)
        if member.width is not None and not (member.name and member.width):
            member_align = 1  # an unnamed or zero-width bit-field does not align the struct
        bits = start + (member.layout.size * 8 if member.width is None else member.width)
        end = max(end, bits)
        align = max(align, member_align)
    align = max(align, aligned or 1)
    return Layout(_round_up(-(-end // 8), align), align)


def _round_up(value: int, align: int) -> int:
    return -(-value // align) * align


def _bitfield_start(bits: int, width: int, layout: Layout, packed: bool) -> int:
    """Where a bit-field starts after `bits` bits: there, unless it would cross a unit of its type (not when
    packed); a zero-width one starts the next unit."""
    unit = layout.align * 8
    crosses = width and bits // unit != (bits + width - 1) // unit
    return _round_up(bits, unit) if width == 0 or (crosses and not packed) else bits
