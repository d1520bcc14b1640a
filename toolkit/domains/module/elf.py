"""Just enough ELF reading for kernel modules: sections, symbols and the .modinfo strings."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import UserError

SHT_SYMTAB = 2
SHT_NOBITS = 8
STT_FUNC = 2


@dataclass(frozen=True)
class Section:
    name: str
    kind: int
    size: int
    contents: bytes
    link: int


@dataclass(frozen=True)
class Symbol:
    """A function symbol: its name, the section it lives in and its offset there."""

    name: str
    section: str
    offset: int
    size: int


def _sections(data: bytes, path: Path) -> list[Section]:
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise UserError(f"{path} is not a 64-bit little-endian ELF file")
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQI", data, shoff + i * shentsize) for i in range(shnum)]
    names_at = headers[shstrndx][4]
    found = []
    for name_index, kind, _flags, _addr, offset, size, link in headers:
        start = names_at + name_index
        name = data[start : data.index(b"\0", start)].decode()
        found.append(Section(name, kind, size, b"" if kind == SHT_NOBITS else data[offset : offset + size], link))
    return found


def sections(path: Path) -> dict[str, Section]:
    """The sections of a 64-bit little-endian ELF file, by name."""
    return {section.name: section for section in _sections(path.read_bytes(), path)}


def function_symbols(path: Path) -> list[Symbol]:
    """The function symbols of a module, with the section each one is in."""
    all_sections = _sections(path.read_bytes(), path)
    symbols = []
    for table in (s for s in all_sections if s.kind == SHT_SYMTAB):
        names = all_sections[table.link].contents
        for at in range(0, len(table.contents), 24):
            name_index, info, _other, section_index, value, size = struct.unpack_from("<IBBHQQ", table.contents, at)
            if info & 0xF == STT_FUNC and 0 < section_index < len(all_sections):
                name = names[name_index : names.index(b"\0", name_index)].decode()
                symbols.append(Symbol(name, all_sections[section_index].name, value, size))
    return symbols


def modinfo(path: Path) -> dict[str, list[str]]:
    """The module's .modinfo key=value strings; keys such as parm or depends may repeat."""
    info: dict[str, list[str]] = {}
    section = sections(path).get(".modinfo")
    for entry in (section.contents if section else b"").split(b"\0"):
        key, sep, value = entry.decode(errors="replace").partition("=")
        if sep:
            info.setdefault(key, []).append(value)
    return info
