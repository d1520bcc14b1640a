"""The ioctl commands a module's own sources define, with the numbers its switch sees.

A command is an object-like `#define NAME` in the module's .c and .h files whose value is one `_IO`, `_IOR`,
`_IOW`, `_IOWR` (or `_IOR_BAD`, `_IOW_BAD`, `_IOWR_BAD`, `_IOC`) call, directly or through the module's own
macros: an alias of another command, a wrapper that supplies the magic.

Its number comes from the compiler when a box's root filesystem is given: a small C program per command,
built by the box's gcc in a chroot of it, includes the header (as a uapi header is written; failing that,
with the kernel's annotations and u8..s64 typedefs), or holds the definitions the command needs copied out
of the sources (failing that, after the system headers their files include); one program prints them all.
Otherwise, and for what the compiler could not build, a small evaluator works it out: the _IOC encoding of
include/uapi/asm-generic/ioctl.h (x86_64 uses it), the sizes of LP64 scalars, arrays, pointers, and of the
structs and unions the sources define, laid out as the x86_64 ABI does (natural alignment, padding,
bit-fields, `packed` and `aligned`). What neither can evaluate is listed with the reason.

`#if 0` blocks are skipped; other conditions are not evaluated: every branch counts, and a type whose
fields differ between branches, or a macro defined differently in them, is unresolved (the compiler, in
user space, takes the branches a user program sees).
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from toolkit import process_group, user_namespace
from toolkit.domains.module.build_tree import ARTEFACTS
from toolkit.errors import UserError

# include/uapi/asm-generic/ioctl.h: nr 8 bits, type 8, size 14, dir 2; _IOC_NONE 0, _IOC_WRITE 1, _IOC_READ 2.
NR_SHIFT, TYPE_SHIFT, SIZE_SHIFT, DIR_SHIFT = 0, 8, 16, 30
SIZE_MASK, DIR_MASK = (1 << 14) - 1, (1 << 2) - 1
IOC_NONE, IOC_WRITE, IOC_READ = 0, 1, 2
DIRECTIONS = {IOC_NONE: "none", IOC_WRITE: "write", IOC_READ: "read", IOC_READ | IOC_WRITE: "readwrite"}
ENCODERS = {"_IO": IOC_NONE, "_IOR": IOC_READ, "_IOW": IOC_WRITE, "_IOWR": IOC_READ | IOC_WRITE,
            "_IOR_BAD": IOC_READ, "_IOW_BAD": IOC_WRITE, "_IOWR_BAD": IOC_READ | IOC_WRITE}  # fmt: skip
IOC = "_IOC"  # _IOC(dir, type, nr, size), the size a number
IOC_CONSTANTS = {"_IOC_NONE": IOC_NONE, "_IOC_WRITE": IOC_WRITE, "_IOC_READ": IOC_READ}
NUMBER_MASK = 0xFFFFFFFF  # the driver's switch sees an unsigned int

# x86_64, LP64: the sizes (and alignments) of the scalar types a module's ioctl argument may name.
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
BASE_WORDS = {"void", "char", "short", "int", "long", "float", "double", "signed", "unsigned", "_Bool", "__int128",
              "__signed__", "__signed"}  # fmt: skip
QUALIFIERS = {"const", "volatile", "restrict", "__restrict", "__extension__", "static", "extern", "register",
              "inline", "_Atomic", "__const", "__volatile__"}  # fmt: skip
ANNOTATIONS = {"__user", "__iomem", "__rcu", "__force", "__bitwise", "__percpu", "__kernel", "__randomize_layout",
               "__no_randomize_layout", "__nonstring", "__packed"}  # fmt: skip
ATTRIBUTE_CALLS = {"__attribute__", "__attribute", "__aligned", "__counted_by", "__counted_by_le", "__counted_by_be"}
AGGREGATES = ("struct", "union")
OPEN, CLOSE = {"(", "[", "{"}, {")", "]", "}"}
BINARY = {"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6, "<": 7, ">": 7, "<=": 7, ">=": 7,
          "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10}  # fmt: skip
ESCAPES = {"n": 10, "t": 9, "r": 13, "a": 7, "b": 8, "f": 12, "v": 11, "e": 27, "\\": 92, "'": 39, '"': 34, "?": 63}
MAX_EXPANSION_DEPTH = 64
_T = TypeVar("_T")

TOKEN = re.compile(
    r"""
    "(?:\\.|[^"\\])*" | '(?:\\.|[^'\\])*'
  | \.?\d(?:[eEpP][+-]|[\w.])*
  | [A-Za-z_]\w*
  | \.\.\.|<<=|>>=|->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||\#\#|[-+*/%&|^~!=<>?:;,.()\[\]{}\#]
    """,
    re.X,
)
COMMENT_OR_LITERAL = re.compile(r"""//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'""", re.S)
SPLICE = re.compile(r"\\[ \t]*\r?\n")  # a backslash ending a line: the next one continues it
HIDDEN_NEWLINE = "\0"  # a line break inside a logical line (spliced, or in a comment): counted, not a break
IDENTIFIER = re.compile(r"[A-Za-z_]\w*\Z")
DIRECTIVE = re.compile(r"\s*#\s*(\w*)(.*)", re.S)
DEFINE = re.compile(r"\s*(\w+)(\([^)]*\))?(.*)", re.S)


@dataclass(frozen=True)
class IoctlCommand:
    """One ioctl command of the module: its macro, the number its switch sees, what that number encodes
    (the direction as the user sees it: none, read, write, readwrite; the argument's size), where it is defined."""

    name: str
    number: int
    direction: str
    size: int
    where: str

    @classmethod
    def decoded(cls, name: str, number: int, where: str) -> IoctlCommand:
        direction = DIRECTIONS[(number >> DIR_SHIFT) & DIR_MASK]
        return cls(name, number, direction, (number >> SIZE_SHIFT) & SIZE_MASK, where)


@dataclass(frozen=True)
class IoctlScan:
    """The commands a module's sources define, and one line per command that could not be evaluated, saying why."""

    commands: tuple[IoctlCommand, ...]
    unresolved: tuple[str, ...]


class Unresolvable(Exception):
    """Why the evaluator cannot work a value out (it completes "NAME (where): ...")."""


@dataclass(frozen=True)
class Macro:
    """A #define of the sources: its name, its parameters (None: object-like), its value's tokens, where."""

    name: str
    params: tuple[str, ...] | None
    body: tuple[str, ...]
    where: str

    @property
    def file(self) -> str:
        return self.where.rsplit(":", 1)[0]

    def text(self) -> str:
        params = "" if self.params is None else f"({', '.join(self.params)})"
        return f"#define {self.name}{params} {' '.join(self.body)}"


@dataclass(frozen=True)
class Code:
    """A file's code outside directives and `#if 0` blocks, as tokens; for each, its line and the branches of
    the unevaluated conditions it is under. And the system headers it includes (`<linux/fs.h>`)."""

    file: str
    tokens: tuple[str, ...]
    lines: tuple[int, ...]
    branches: tuple[tuple[int, ...], ...]
    includes: tuple[str, ...]


@dataclass(frozen=True)
class Definition:
    """A struct, union, enum or typedef of the sources: tokens start:end of its file's code. `conditional`: its
    tokens lie in different branches of a condition the scan does not evaluate (its layout is not known)."""

    kind: str
    name: str
    file: str
    line: int
    start: int
    end: int
    conditional: bool

    @property
    def key(self) -> str:
        return f"{self.kind} {self.name}"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Sources:
    """What a scan reads from a module's sources: every #define in file order, macros, definitions (by key:
    "struct foo", "typedef foo_t"), enum constants (name to their enum), each file's code."""

    root: Path
    defines: tuple[Macro, ...]
    macros: dict[str, tuple[Macro, ...]]
    definitions: dict[str, tuple[Definition, ...]]
    constants: dict[str, tuple[Definition, ...]]
    code: dict[str, Code]


@dataclass(frozen=True)
class Layout:
    size: int
    align: int


def encode(direction: int, type_: int, nr: int, size: int) -> int:
    """_IOC(dir, type, nr, size) as C computes it: an unsigned int, the fields not masked (an overflow spills over)."""
    return ((direction << DIR_SHIFT) | (type_ << TYPE_SHIFT) | (nr << NR_SHIFT) | (size << SIZE_SHIFT)) & NUMBER_MASK


def scan(source_dir: Path, sysroot: Path | None = None) -> IoctlScan:
    """The ioctl commands source_dir's .c and .h files define. With sysroot (a box's root filesystem: gcc, the
    kernel's userspace headers) the numbers come from programs compiled and run in a chroot of it; the evaluator
    fills in what they could not build."""
    if not source_dir.is_dir():
        raise UserError(f"the module's source directory {source_dir} does not exist")
    sources = read_sources(source_dir)
    sites = commands_in(sources)
    values = evaluated(sources, sites)
    if sysroot is not None:
        values = _preferring_compiled(values, compiled(sources, sites, sysroot))
    return _result(sites, values)


def _preferring_compiled(evaluated: dict[Macro, int | str], compiled: dict[Macro, int | str]) -> dict[Macro, int | str]:
    merged: dict[Macro, int | str] = {}
    for site, value in evaluated.items():
        probed = compiled.get(site)
        if isinstance(probed, int) or isinstance(value, int):
            merged[site] = probed if isinstance(probed, int) else value
        else:
            merged[site] = f"{value} (compiled: {probed})" if probed else value
    return merged


def _result(sites: Sequence[Macro], values: dict[Macro, int | str]) -> IoctlScan:
    commands: dict[tuple[str, int], IoctlCommand] = {}
    unresolved = []
    for site in sites:
        value = values[site]
        if isinstance(value, int):
            commands.setdefault((site.name, value), IoctlCommand.decoded(site.name, value, site.where))
        else:
            unresolved.append(f"{site.name} ({site.where}): {value}")
    return IoctlScan(tuple(commands.values()), tuple(unresolved))


# Reading the sources


def read_sources(source_dir: Path) -> Sources:
    """Every .c and .h file under source_dir (build artefacts and .git left out), read."""
    defines: list[Macro] = []
    macros: dict[str, list[Macro]] = {}
    definitions: dict[str, list[Definition]] = {}
    constants: dict[str, list[Definition]] = {}
    code: dict[str, Code] = {}
    for path in _source_files(source_dir):
        relative = path.relative_to(source_dir).as_posix()
        file_macros, code[relative] = _read(path, relative)
        defines += file_macros
        for macro in file_macros:
            macros.setdefault(macro.name, []).append(macro)
        for definition in _definitions(code[relative]):
            definitions.setdefault(definition.key, []).append(definition)
            for name, _ in _enumerators(code[relative], definition) if definition.kind == "enum" else ():
                constants.setdefault(name, []).append(definition)
    return Sources(source_dir, tuple(defines), _frozen(macros), _frozen(definitions), _frozen(constants), code)


def _frozen(found: dict[str, list[_T]]) -> dict[str, tuple[_T, ...]]:
    return {key: tuple(values) for key, values in found.items()}


def _source_files(source_dir: Path) -> list[Path]:
    found = []
    for folder, subdirs, files in os.walk(source_dir):
        subdirs[:] = sorted(name for name in subdirs if not _artefact(name))
        found += [Path(folder) / name for name in sorted(files) if name.endswith((".c", ".h")) and not _artefact(name)]
    return found


def _artefact(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in ARTEFACTS)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """The lines of a C file as the preprocessor reads them: continuations joined, comments (even ones spanning
    lines) made a space; each with the number of its first line."""
    text = COMMENT_OR_LITERAL.sub(_blank_comment, SPLICE.sub(HIDDEN_NEWLINE, text))
    lines = []
    number = 1
    for line in text.split("\n"):
        lines.append((number, line.replace(HIDDEN_NEWLINE, "").rstrip("\r")))
        number += 1 + line.count(HIDDEN_NEWLINE)
    return lines


def _blank_comment(match: re.Match[str]) -> str:
    text = match.group()
    if text[0] in "\"'":
        return text
    return " " + HIDDEN_NEWLINE * (text.count("\n") + text.count(HIDDEN_NEWLINE))


@dataclass
class _Condition:
    """An open #if while a file is read: whether its current branch is skipped, whether its condition is known
    (a literal 0 or 1), whether a known branch was taken, and the id of its current branch."""

    skipping: bool
    known: bool
    taken: bool
    branch: int


def _literal(condition: str) -> bool | None:
    text = condition.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    return {"0": False, "1": True}.get(text)


def _follow(frames: list[_Condition], directive: str, condition: str, branch: int) -> None:
    """frames after one conditional directive (branch: a fresh id for a branch that opens)."""
    if directive in ("if", "ifdef", "ifndef"):
        known = _literal(condition) if directive == "if" else None
        frames.append(_Condition(known is False, known is not None, known is True, branch))
    elif frames and directive == "endif":
        frames.pop()
    elif frames and directive in ("else", "elif"):
        frame = frames[-1]
        frame.branch = branch
        if not frame.known or frame.taken:
            frame.skipping = frame.known
            return
        known = _literal(condition) if directive == "elif" else True
        frame.skipping, frame.known, frame.taken = known is False, known is not None, known is True


def _read(path: Path, relative: str) -> tuple[list[Macro], Code]:
    macros: list[Macro] = []
    tokens: list[str] = []
    lines: list[int] = []
    branches: list[tuple[int, ...]] = []
    includes: list[str] = []
    frames: list[_Condition] = []
    for number, line in _logical_lines(path.read_text(errors="replace")):
        directive = DIRECTIVE.match(line)
        if directive:
            _follow(frames, directive[1], directive[2], number)
            live = not any(frame.skipping for frame in frames)
            if directive[1] == "define" and live:
                macros += _macro(directive[2], f"{relative}:{number}")
            elif directive[1] == "include" and live and directive[2].strip().startswith("<"):
                includes.append(directive[2].strip().split(">", 1)[0] + ">")
        elif not any(frame.skipping for frame in frames):
            found = TOKEN.findall(line)
            under = tuple(frame.branch for frame in frames if not frame.known)
            tokens += found
            lines += [number] * len(found)
            branches += [under] * len(found)
    return macros, Code(relative, tuple(tokens), tuple(lines), tuple(branches), tuple(includes))


def _macro(text: str, where: str) -> list[Macro]:
    match = DEFINE.match(text)
    if match is None:
        return []
    name, params, body = match.groups()
    parameters = None if params is None else tuple(p.strip() for p in params[1:-1].split(",") if p.strip())
    return [Macro(name, parameters, tuple(TOKEN.findall(body)), where)]


# Macros of include/uapi/linux/stddef.h as they lay out (their own definitions paste tokens), used instead of
# any copy in the sources.
KERNEL_MACROS = {
    macro.name: macro
    for text in (
        "__DECLARE_FLEX_ARRAY(TYPE, NAME) struct { TYPE NAME[]; }",
        "__struct_group(TAG, NAME, ATTRS, MEMBERS...) union { struct { MEMBERS } ATTRS; struct { MEMBERS } ATTRS NAME; } ATTRS",
    )
    for macro in _macro(text, "include/uapi/linux/stddef.h")
}


def _definitions(code: Code) -> list[Definition]:
    """The structs, unions and enums defined (with a body) and the typedefs in a file's code."""
    found = []
    tokens = code.tokens
    for i, token in enumerate(tokens):
        with contextlib.suppress(Unresolvable):  # unbalanced brackets: not a definition this scan reads
            if token == "typedef":
                end = _statement_end(tokens, i)
                found += [_definition(code, "typedef", name, i, end) for name in _declared_names(tokens[i + 1 : end])]
            elif token in (*AGGREGATES, "enum"):
                j = _past_attributes(tokens, i + 1)
                tag = tokens[j] if j < len(tokens) and IDENTIFIER.match(tokens[j]) else ""
                brace = j + 1 if tag else j
                if brace < len(tokens) and tokens[brace] == "{" and (tag or token == "enum"):
                    end = _past_attributes(tokens, _closing(tokens, brace) + 1)
                    found.append(_definition(code, token, tag, i, end))
    return found


def _definition(code: Code, kind: str, name: str, start: int, end: int) -> Definition:
    conditional = len(set(code.branches[start:end])) > 1
    return Definition(kind, name, code.file, code.lines[start], start, end, conditional)


def _statement_end(tokens: Sequence[str], start: int) -> int:
    """The index after the `;` that ends the statement starting at start."""
    depth = 0
    for k in range(start, len(tokens)):
        depth += (tokens[k] in OPEN) - (tokens[k] in CLOSE)
        if depth == 0 and tokens[k] == ";":
            return k + 1
    return len(tokens)


def _declared_names(declaration: Sequence[str]) -> list[str]:
    try:
        _, rest = _specifier(declaration)
        names = [_declarator(part).name for part in _split(rest, ",")]
    except Unresolvable:
        return []
    return [name for name in names if name]


def _enumerators(code: Code, enum: Definition) -> list[tuple[str, tuple[str, ...]]]:
    """An enum's constants, each with the tokens of its value (none: the previous one's plus one)."""
    tokens = code.tokens[enum.start : enum.end]
    brace = tokens.index("{")
    found = []
    for part in _split(tokens[brace + 1 : _closing(tokens, brace)], ","):
        if part and IDENTIFIER.match(part[0]):
            found.append((part[0], tuple(part[2:]) if len(part) > 1 and part[1] == "=" else ()))
    return found


# Token helpers


def _closing(tokens: Sequence[str], start: int) -> int:
    """The index of the bracket closing the one at start."""
    depth = 0
    for k in range(start, len(tokens)):
        depth += (tokens[k] in OPEN) - (tokens[k] in CLOSE)
        if depth == 0:
            return k
    raise Unresolvable(f"unbalanced brackets in `{' '.join(tokens)}`")


def _split(tokens: Sequence[str], separator: str) -> list[list[str]]:
    """tokens split at each separator outside brackets (empty parts kept)."""
    parts: list[list[str]] = [[]]
    depth = 0
    for token in tokens:
        depth += (token in OPEN) - (token in CLOSE)
        if token == separator and depth == 0:
            parts.append([])
        else:
            parts[-1].append(token)
    return parts


def _attribute_end(tokens: Sequence[str], i: int) -> int:
    """The index after an attribute starting at i (`__attribute__((...))`, `__aligned(8)`, `__packed`), else i."""
    if i < len(tokens) and tokens[i] in ATTRIBUTE_CALLS and i + 1 < len(tokens) and tokens[i + 1] == "(":
        return _closing(tokens, i + 1) + 1
    return i + 1 if i < len(tokens) and tokens[i] in ANNOTATIONS else i


def _past_attributes(tokens: Sequence[str], i: int) -> int:
    while (end := _attribute_end(tokens, i)) != i:
        i = end
    return i


def _strip_parentheses(tokens: Sequence[str]) -> Sequence[str]:
    while len(tokens) >= 2 and tokens[0] == "(" and _closing(tokens, 0) == len(tokens) - 1:
        tokens = tokens[1:-1]
    return tokens


def _is_encoder_call(tokens: Sequence[str]) -> bool:
    tokens = _strip_parentheses(tokens)
    return (
        len(tokens) >= 3
        and (tokens[0] in ENCODERS or tokens[0] == IOC)
        and tokens[1] == "("
        and _closing(tokens, 1) == len(tokens) - 1
    )


# Declarations


@dataclass(frozen=True)
class _Specifier:
    """The type a declaration starts with: kind "scalar" (name: its words), "struct", "union", "enum" (name: the
    tag; body: the tokens between the braces of an inline definition) or "typedef" (name: the typedef's)."""

    kind: str
    name: str
    body: tuple[str, ...] | None = None
    type_attributes: tuple[str, ...] = ()  # of an inline struct or union
    attributes: tuple[str, ...] = ()  # of the declaration


@dataclass(frozen=True)
class _Declarator:
    """What a declarator makes of its specifier: a name (none in a type name), a pointer, array dimensions
    (None: `[]`), a function, a bit-field's width, and its attributes."""

    name: str | None = None
    pointer: bool = False
    dims: tuple[tuple[str, ...] | None, ...] = ()
    function: bool = False
    width: tuple[str, ...] | None = None
    attributes: tuple[str, ...] = ()


def _specifier(tokens: Sequence[str]) -> tuple[_Specifier, list[str]]:
    """The specifier a declaration starts with, and the tokens after it (its declarators)."""
    words: list[str] = []
    attributes: list[str] = []
    i = 0
    while i < len(tokens):
        token, end = tokens[i], _attribute_end(tokens, i)
        if end != i:
            attributes += tokens[i:end]
        elif token in QUALIFIERS or token in BASE_WORDS:
            words += [token] if token in BASE_WORDS else []
            end = i + 1
        elif words or not IDENTIFIER.match(token):
            break
        elif token in (*AGGREGATES, "enum"):
            return _tagged(tokens, i, tuple(attributes))
        else:
            return _Specifier("typedef", token, attributes=tuple(attributes)), list(tokens[i + 1 :])
        i = end
    if not words:
        raise Unresolvable(f"`{' '.join(tokens)}` names no type")
    return _Specifier("scalar", " ".join(words), attributes=tuple(attributes)), list(tokens[i:])


def _tagged(tokens: Sequence[str], i: int, attributes: tuple[str, ...]) -> tuple[_Specifier, list[str]]:
    """`struct tag`, `struct [tag] { body }` (union, enum alike), with the attributes around it."""
    j = _past_attributes(tokens, i + 1)
    type_attributes = list(tokens[i + 1 : j])
    tag = tokens[j] if j < len(tokens) and IDENTIFIER.match(tokens[j]) else ""
    j += bool(tag)
    body = None
    if j < len(tokens) and tokens[j] == "{":
        close = _closing(tokens, j)
        body = tuple(tokens[j + 1 : close])
        j = _past_attributes(tokens, close + 1)
        type_attributes += tokens[close + 1 : j]
    return _Specifier(tokens[i], tag, body, tuple(type_attributes), attributes), list(tokens[j:])


def _declarator(tokens: Sequence[str]) -> _Declarator:
    """A declarator (or an abstract one, as in a type name): `*name[4]`, `(*fn)(int)`, `bits : 3`."""
    attributes: list[str] = []
    i, pointer = 0, False
    while i < len(tokens):  # pointers, qualifiers, attributes
        end = _attribute_end(tokens, i)
        if end == i and (tokens[i] == "*" or tokens[i] in QUALIFIERS):
            pointer, end = pointer or tokens[i] == "*", i + 1
        elif end == i:
            break
        attributes += tokens[i:end] if tokens[i] != "*" and tokens[i] not in QUALIFIERS else []
        i = end
    name, inner = None, None
    if i < len(tokens) and tokens[i] == "(":
        close = _closing(tokens, i)
        inner, i = _declarator(tokens[i + 1 : close]), close + 1
    elif i < len(tokens) and IDENTIFIER.match(tokens[i]):
        name, i = tokens[i], i + 1
    dims: list[tuple[str, ...] | None] = []
    function, width = False, None
    while i < len(tokens) and width is None:  # [dimensions], (parameters), : width, attributes
        token = tokens[i]
        end = _closing(tokens, i) + 1 if token in ("[", "(") else max(_attribute_end(tokens, i), i + 1)
        if token == "[":
            dims.append(tuple(tokens[i + 1 : end - 1]) or None)
        elif token == ":":
            width = tuple(tokens[i + 1 :])
        elif token != "(":
            attributes += tokens[i:end]
        function, i = function or token == "(", end
    if inner is None:
        return _Declarator(name, pointer, tuple(dims), function and not pointer, width, tuple(attributes))
    attributes = [*inner.attributes, *attributes]
    if inner.pointer:  # a pointer to a function or an array: a pointer (or an array of them)
        return _Declarator(inner.name, True, inner.dims, False, width, tuple(attributes))
    return _Declarator(inner.name, pointer, (*inner.dims, *dims), function, width, tuple(attributes))


@dataclass(frozen=True)
class _Member:
    """A member of a struct or union: its name ("" if it has none), layout, width (a bit-field), attributes."""

    name: str
    layout: Layout
    width: int | None
    packed: bool
    aligned: int | None


def _bitfield_start(bits: int, width: int, layout: Layout, packed: bool) -> int:
    """Where a bit-field starts after `bits` bits: there, unless it would cross a unit of its type (not when
    packed); a zero-width one starts the next unit."""
    unit = layout.align * 8
    crosses = width and bits // unit != (bits + width - 1) // unit
    return _round_up(bits, unit) if width == 0 or (crosses and not packed) else bits


def _round_up(value: int, align: int) -> int:
    return -(-value // align) * align


def _scalar(words: Sequence[str]) -> Layout:
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


# The evaluator


class _Evaluator:
    """Values and sizes as gcc on x86_64 works them out, from the module's own macros and definitions. A name
    with several different definitions is unresolved (strict), or its first definition is used."""

    def __init__(self, sources: Sources, strict: bool = True) -> None:
        self.sources = sources
        self.strict = strict
        self.open: set[str] = set()  # what is being worked out: something that contains itself

    def macro(self, name: str) -> Macro | None:
        if name in ENCODERS or name == IOC or name in IOC_CONSTANTS or name == "sizeof":
            return None
        if name in KERNEL_MACROS:
            return KERNEL_MACROS[name]
        found = self.sources.macros.get(name, ())
        other = next((m for m in found if (m.params, m.body) != (found[0].params, found[0].body)), None)
        if other is not None and self.strict:
            raise Unresolvable(f"{name} is defined differently at {found[0].where} and {other.where}")
        return found[0] if found else None

    def expand(self, tokens: Sequence[str], hidden: frozenset[str] = frozenset(), depth: int = 0) -> list[str]:
        """tokens with the module's macros expanded (no `#`, no `##`)."""
        if depth > MAX_EXPANSION_DEPTH:
            raise Unresolvable(f"macros nest deeper than {MAX_EXPANSION_DEPTH}")
        out: list[str] = []
        i = 0
        while i < len(tokens):
            token = tokens[i]
            macro = self.macro(token) if token not in hidden and IDENTIFIER.match(token) else None
            called = macro is not None and macro.params is not None and i + 1 < len(tokens) and tokens[i + 1] == "("
            if macro is None or (macro.params is not None and not called):
                out.append(token)
                i += 1
                continue
            if "#" in macro.body or "##" in macro.body:
                raise Unresolvable(f"the macro {macro.name} ({macro.where}) pastes or stringifies tokens")
            body, i = (macro.body, i + 1) if not called else self._substituted(macro, tokens, i + 1, hidden, depth)
            out += self.expand(body, hidden | {token}, depth + 1)
        return out

    def _substituted(
        self, macro: Macro, tokens: Sequence[str], open_at: int, hidden: frozenset[str], depth: int
    ) -> tuple[list[str], int]:
        close = _closing(tokens, open_at)
        arguments = _split(tokens[open_at + 1 : close], ",")
        params = macro.params or ()
        if params and params[-1].endswith("..."):  # `...` (__VA_ARGS__) or GNU's `NAME...`
            arguments = [*arguments[: len(params) - 1], sum(_joined(arguments[len(params) - 1 :]), [])]
            params = (*params[:-1], params[-1][:-3] or "__VA_ARGS__")
        if arguments == [[]] and not params:
            arguments = []
        if len(arguments) != len(params):
            raise Unresolvable(f"the macro {macro.name} ({macro.where}) takes {len(params)} arguments")
        values = {param: self.expand(arg, hidden, depth + 1) for param, arg in zip(params, arguments, strict=True)}
        return [piece for token in macro.body for piece in values.get(token, [token])], close + 1

    def value(self, tokens: Sequence[str]) -> int:
        """The value of an integer constant expression."""
        expanded = self.expand(tokens)
        parser = _Parser(expanded, self)
        value = parser.expression()
        if parser.i != len(expanded):
            raise Unresolvable(f"cannot evaluate `{' '.join(expanded)}`")
        return value

    def size_argument(self, tokens: Sequence[str]) -> int:
        """sizeof of an _IOR/_IOW/_IOWR argument, a type (or, misused, a sizeof expression: a size_t)."""
        expanded = self.expand(tokens)
        return 8 if expanded[:1] == ["sizeof"] else self.type_name(expanded).size

    def is_type(self, tokens: Sequence[str], i: int) -> bool:
        token = tokens[i] if i < len(tokens) else ""
        return (
            token in BASE_WORDS
            or token in QUALIFIERS
            or token in (*AGGREGATES, "enum")
            or f"typedef {token}" in self.sources.definitions
            or token in SCALARS
        )

    def type_name(self, tokens: Sequence[str]) -> Layout:
        specifier, rest = _specifier(tokens)
        declarator = _declarator(rest)
        if declarator.name is not None:
            raise Unresolvable(f"`{' '.join(tokens)}` is not a type")
        return self.declared(specifier, declarator)

    def declared(self, specifier: _Specifier, declarator: _Declarator) -> Layout:
        """The layout of what a declaration declares (a member, a typedef, a type name)."""
        if declarator.function:
            raise Unresolvable("a function has no size")
        element = Layout(POINTER, POINTER) if declarator.pointer else self.specified(specifier)
        count, flexible = 1, False
        for dim in declarator.dims:
            flexible = flexible or dim is None
            count *= 1 if dim is None else self.value(dim)
        _, aligned = self.attributes((*specifier.attributes, *declarator.attributes))
        return Layout(0 if flexible else element.size * count, max(element.align, aligned or 1))

    def specified(self, specifier: _Specifier) -> Layout:
        if specifier.kind == "scalar":
            return _scalar(specifier.name.split())
        if specifier.kind == "enum":
            return Layout(4, 4)
        if specifier.kind == "typedef":
            return self.typedef(specifier.name)
        if specifier.body is not None:
            return self.aggregate_body(specifier.kind, specifier.body, specifier.type_attributes)
        return self.aggregate(f"{specifier.kind} {specifier.name}")

    def attributes(self, tokens: Sequence[str]) -> tuple[bool, int | None]:
        """Whether attributes pack, and the alignment they ask for (`aligned` alone: the largest, 16)."""
        packed = any(token in ("packed", "__packed__", "__packed") for token in tokens)
        aligned = None
        for i, token in enumerate(tokens):
            if token in ("aligned", "__aligned__", "__aligned"):
                has_value = i + 1 < len(tokens) and tokens[i + 1] == "("
                value = self.value(tokens[i + 2 : _closing(tokens, i + 1)]) if has_value else 16
                aligned = max(aligned or 1, value)
        return packed, aligned

    def _defined(self, key: str, layout_of: Definition) -> Layout:
        if layout_of.conditional:
            raise Unresolvable(f"{key} ({layout_of.where}) differs between #if branches the scan does not evaluate")
        tokens = self.sources.code[layout_of.file].tokens[layout_of.start : layout_of.end]
        if layout_of.kind == "typedef":
            specifier, rest = _specifier(self.expand(tokens[1:-1]))
            for part in _split(rest, ","):
                declarator = _declarator(part)
                if declarator.name == layout_of.name:
                    return self.declared(specifier, declarator)
            raise Unresolvable(f"cannot read {key} ({layout_of.where})")
        specifier, _ = _specifier(self.expand(tokens))
        return self.specified(specifier)

    def _one_layout(self, key: str) -> Layout:
        """The layout of a struct, union or typedef of the sources (the same in each of its definitions)."""
        found = self.sources.definitions[key]
        if key in self.open:
            raise Unresolvable(f"{key} contains itself")
        self.open.add(key)
        try:
            layouts = [self._defined(key, definition) for definition in (found if self.strict else found[:1])]
        finally:
            self.open.discard(key)
        different = next((d for d, layout in zip(found, layouts, strict=False) if layout != layouts[0]), None)
        if different is not None:
            raise Unresolvable(f"{key} is defined differently at {found[0].where} and {different.where}")
        return layouts[0]

    def aggregate(self, key: str) -> Layout:
        if key not in self.sources.definitions:
            raise Unresolvable(f"the size of {key} is unknown: the module's sources do not define it")
        try:
            return self._one_layout(key)
        except Unresolvable as error:
            raise Unresolvable(f"the size of {key} is unknown: {error}") from None

    def typedef(self, name: str) -> Layout:
        key = f"typedef {name}"
        if key in self.sources.definitions:
            return self._one_layout(key)
        if name in SCALARS:
            return Layout(SCALARS[name], ALIGNMENTS.get(name, SCALARS[name]))
        raise Unresolvable(f"`{name}` is neither a type of the module's sources nor a scalar the scan knows")

    def aggregate_body(self, kind: str, body: Sequence[str], type_attributes: Sequence[str]) -> Layout:
        """A struct's or union's layout as the x86_64 ABI makes it: each member at the next multiple of its
        alignment (1 when packed), a bit-field in the next bits unless it would cross a unit of its type."""
        packed, aligned = self.attributes(type_attributes)
        bits = end = 0  # the next free bit (struct), the end of the largest member (union)
        align = 1
        for member in self.members(body):
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

    def members(self, body: Sequence[str]) -> Iterator[_Member]:
        """Each member of a struct or union body (an anonymous struct or union member is one)."""
        for declaration in _split(body, ";"):
            if not declaration:
                continue
            specifier, rest = _specifier(declaration)
            parts = [part for part in _split(rest, ",") if part]
            if not parts and specifier.body is not None:
                yield self.member(specifier, _Declarator(name="{}"))
            for part in parts:
                yield self.member(specifier, _declarator(part))

    def member(self, specifier: _Specifier, declarator: _Declarator) -> _Member:
        try:
            packed, aligned = self.attributes((*specifier.attributes, *declarator.attributes))
            layout = self.declared(specifier, replace(declarator, width=None))
            width = None if declarator.width is None else self.value(declarator.width)
        except Unresolvable as error:
            raise Unresolvable(f"field `{declarator.name}`: {error}") from None
        if width is not None and not 0 <= width <= layout.size * 8:
            raise Unresolvable(f"field `{declarator.name}`: a bit-field of {width} bits in {layout.size} bytes")
        return _Member(declarator.name or "", layout, width, packed, aligned)

    def constant(self, name: str) -> int | None:
        """The value of an enum constant of the sources; None when they define none of that name."""
        found = self.sources.constants.get(name)
        if not found:
            return None
        enum = found[0]
        if enum.conditional or len(found) > 1 and self.strict:
            raise Unresolvable(f"the enum constant {name} ({enum.where}) may have several values")
        if f"enum-constant {name}" in self.open:
            raise Unresolvable(f"the enum constant {name} depends on itself")
        self.open.add(f"enum-constant {name}")
        try:
            value = -1
            for constant, tokens in _enumerators(self.sources.code[enum.file], enum):
                value = self.value(tokens) if tokens else value + 1
                if constant == name:
                    return value
        finally:
            self.open.discard(f"enum-constant {name}")
        return None


class _Parser:
    """An integer constant expression over expanded tokens, as C evaluates it (the ioctl macros included)."""

    def __init__(self, tokens: Sequence[str], evaluator: _Evaluator) -> None:
        self.tokens = tokens
        self.evaluator = evaluator
        self.i = 0

    def peek(self) -> str:
        return self.tokens[self.i] if self.i < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if not token or (expected is not None and token != expected):
            raise Unresolvable(f"cannot evaluate `{' '.join(self.tokens)}`")
        self.i += 1
        return token

    def expression(self) -> int:
        condition = self.binary(1)
        if self.peek() != "?":
            return condition
        self.take()
        then = self.expression()
        self.take(":")
        otherwise = self.expression()
        return then if condition else otherwise

    def binary(self, level: int) -> int:
        left = self.unary()
        while (operator := self.peek()) in BINARY and BINARY[operator] >= level:
            self.take()
            left = _apply(operator, left, self.binary(BINARY[operator] + 1))
        return left

    def unary(self) -> int:
        token = self.peek()
        if token in ("-", "+", "~", "!"):
            self.take()
            operand = self.unary()
            return {"-": -operand, "+": operand, "~": ~operand, "!": int(not operand)}[token]
        if token == "sizeof":
            self.take()
            return self.evaluator.type_name(self.parenthesized()).size
        if token == "(" and self.evaluator.is_type(self.tokens, self.i + 1):
            type_tokens = self.parenthesized()
            return _converted(self.unary(), self.evaluator.type_name(type_tokens).size, type_tokens)
        if token == "(":
            return self.evaluator.value(self.parenthesized())
        return self.primary()

    def parenthesized(self) -> Sequence[str]:
        if self.peek() != "(":
            raise Unresolvable(f"cannot evaluate `{' '.join(self.tokens)}`")
        close = _closing(self.tokens, self.i)
        inside = self.tokens[self.i + 1 : close]
        self.i = close + 1
        return inside

    def primary(self) -> int:
        token = self.take()
        if token[0].isdigit() or token[0] == ".":
            return _number(token)
        if token[0] == "'":
            return _character(token)
        if token in ENCODERS or token == IOC:
            return self.encoded(token, _split(self.parenthesized(), ","))
        if token in IOC_CONSTANTS:
            return IOC_CONSTANTS[token]
        if token == "_IOC_TYPECHECK":
            return self.evaluator.size_argument(self.parenthesized())
        constant = self.evaluator.constant(token) if IDENTIFIER.match(token) else None
        if constant is None:
            raise Unresolvable(f"{token} is not defined in the module's sources")
        return constant

    def encoded(self, encoder: str, arguments: list[list[str]]) -> int:
        wanted = 4 if encoder == IOC else 2 if encoder == "_IO" else 3
        if len(arguments) != wanted:
            raise Unresolvable(f"{encoder} takes {wanted} arguments, not {len(arguments)}")
        if encoder == IOC:
            direction, type_, nr, size = (self.evaluator.value(argument) for argument in arguments)
            return encode(direction, type_, nr, size)
        size = self.evaluator.size_argument(arguments[2]) if encoder != "_IO" else 0
        return encode(ENCODERS[encoder], self.evaluator.value(arguments[0]), self.evaluator.value(arguments[1]), size)


def _apply(operator: str, left: int, right: int) -> int:
    if operator in ("/", "%") and right == 0:
        raise Unresolvable("division by zero")
    if operator == "/":
        return abs(left) // abs(right) * (1 if (left < 0) == (right < 0) else -1)  # C truncates toward zero
    if operator == "%":
        return left - right * _apply("/", left, right)
    results = {"||": lambda: int(bool(left or right)), "&&": lambda: int(bool(left and right)),
               "|": lambda: left | right, "^": lambda: left ^ right, "&": lambda: left & right,
               "==": lambda: int(left == right), "!=": lambda: int(left != right), "<": lambda: int(left < right),
               ">": lambda: int(left > right), "<=": lambda: int(left <= right), ">=": lambda: int(left >= right),
               "<<": lambda: left << right, ">>": lambda: left >> right, "+": lambda: left + right,
               "-": lambda: left - right, "*": lambda: left * right}  # fmt: skip
    return results[operator]()


def _converted(value: int, size: int, type_tokens: Sequence[str]) -> int:
    """value cast to an integer type of size bytes (signed unless its name says unsigned)."""
    bits = size * 8
    value &= (1 << bits) - 1
    unsigned = any(t == "unsigned" or t.startswith(("u", "__u", "__le", "__be", "size_t")) for t in type_tokens)
    return value - (1 << bits) if not unsigned and value >> (bits - 1) else value


def _number(token: str) -> int:
    text = token.rstrip("uUlL").lower()
    try:
        if text.startswith(("0x", "0b")):
            return int(text, 0)
        return int(text, 8) if len(text) > 1 and text.startswith("0") else int(text)
    except ValueError:
        raise Unresolvable(f"`{token}` is not an integer") from None


def _character(token: str) -> int:
    """A character constant's value as gcc gives it on x86_64: an int, a single char signed."""
    raw = token[1:-1].encode()
    values: list[int] = []
    i = 0
    while i < len(raw):
        if raw[i] != ord("\\"):
            values.append(raw[i])
            i += 1
            continue
        escape = chr(raw[i + 1]) if i + 1 < len(raw) else ""
        digits = re.match(rb"x[0-9a-fA-F]+|[0-7]{1,3}", raw[i + 1 :])
        if digits:
            text = digits.group().decode()
            values.append(int(text[1:], 16) if text[0] == "x" else int(text, 8))
            i += 1 + len(text)
        elif escape in ESCAPES:
            values.append(ESCAPES[escape])
            i += 2
        else:
            raise Unresolvable(f"the character constant {token} has an unknown escape")
    if not values:
        raise Unresolvable(f"the character constant {token} is empty")
    value = 0
    for byte in values:
        value = (value << 8) | (byte & 0xFF)
    bits = 8 if len(values) == 1 else 32
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _joined(arguments: list[list[str]]) -> list[list[str]]:
    """Variadic arguments put back together with their commas."""
    return [[*argument, ","] if k < len(arguments) - 1 else argument for k, argument in enumerate(arguments)]


def commands_in(sources: Sources) -> tuple[Macro, ...]:
    """The object-like #defines of the sources whose value is an ioctl encoder call, directly or through the
    module's macros (for an alias, a wrapper; a macro defined differently in #if branches: its first definition)."""
    lenient = _Evaluator(sources, strict=False)
    found = []
    for define in sources.defines:
        if define.params is not None or not any(lenient.macro(t) or t in ENCODERS or t == IOC for t in define.body):
            continue
        try:
            if _is_encoder_call(lenient.expand(define.body)):
                found.append(define)
        except Unresolvable:
            if any(token in ENCODERS or token == IOC for token in define.body):
                found.append(define)
    return tuple(found)


def evaluated(sources: Sources, sites: Sequence[Macro]) -> dict[Macro, int | str]:
    """Each command's number as the evaluator works it out, or why it cannot."""
    values: dict[Macro, int | str] = {}
    for site in sites:
        try:
            values[site] = _Evaluator(sources).value(site.body) & NUMBER_MASK
        except Unresolvable as error:
            values[site] = str(error)
    return values


# The compiled probe

PROBE_TIMEOUT_S = 60.0
PROBE_TIMEOUT_PER_COMMAND_S = 2.0
MODES = ("include", "kernel", "copied", "headers")
# The kernel's layout attributes, which some uapi headers use: unknown in user space, `} __packed;` would
# compile as a variable of an unpacked struct.
ATTRIBUTES = """#define __packed __attribute__((packed))
#define __aligned(x) __attribute__((aligned(x)))
"""
INCLUDE_PRELUDE = f"#include <linux/ioctl.h>\n#include <linux/types.h>\n{ATTRIBUTES}"
KERNEL_PRELUDE = f"""#define __user
#define __iomem
#define __force
#include <linux/types.h>
#include <linux/ioctl.h>
#include <stddef.h>
typedef __u8 u8; typedef __s8 s8; typedef __u16 u16; typedef __s16 s16;
typedef __u32 u32; typedef __s32 s32; typedef __u64 u64; typedef __s64 s64;
typedef __s32 compat_int_t; typedef __u32 compat_uint_t; typedef __s32 compat_long_t; typedef __u32 compat_ulong_t;
typedef __u32 compat_uptr_t; typedef __u32 compat_size_t; typedef __u32 compat_caddr_t;
typedef __s64 __attribute__((aligned(4))) compat_s64; typedef __u64 __attribute__((aligned(4))) compat_u64;
{ATTRIBUTES}"""
COPIED_PRELUDE = f"""{KERNEL_PRELUDE}#include <stdint.h>
#include <stdbool.h>
"""
VALUE = "const unsigned long long vexfs_ioctl_{index} = (unsigned long long)({name});\n"
# Inside the chroot: each command's program in the first mode that compiles, then one program printing them all
# (the headers' own globals and functions may clash, or call what is not there: failing that, one per command).
PROBE_SCRIPT = """
dir=$1; shift
cd "$dir" || exit 1
for i in $(cat commands); do
	for mode in include kernel copied headers; do
		[ -f "t$i.$mode.c" ] || continue
		if gcc "$@" -c "t$i.$mode.c" -o "t$i.o" 2>"t$i.$mode.err"; then
			break
		fi
	done
done
set -- t*.o
[ -e "$1" ] || exit 0
link="-no-pie -Wl,--allow-multiple-definition -Wl,--unresolved-symbols=ignore-all"
if gcc -w -o probe main.c $link "$@" 2>link.err && ./probe 2>>link.err; then
	exit 0
fi
for object in "$@"; do
	gcc -w -o probe main.c $link "$object" 2>>link.err && ./probe 2>>link.err
done
exit 0
"""
TIMED_OUT = process_group.TIMED_OUT
ERROR = re.compile(r"(?:^|\s)(?:fatal )?error: (.*)")


def compiled(sources: Sources, sites: Sequence[Macro], sysroot: Path) -> dict[Macro, int | str]:
    """Each command's number as the box's gcc computes it (a program built and run in a chroot of sysroot), or
    the compiler's first error."""
    if not (sysroot / "usr" / "bin" / "gcc").exists():
        raise UserError(f"the box's root filesystem {sysroot} has no gcc: rebuild the box")
    if not sites:
        return {}
    with _work_dir(sysroot) as work:
        inside = f"/tmp/{work.name}"
        shutil.copytree(sources.root, work / "src", ignore=shutil.ignore_patterns(*ARTEFACTS), symlinks=True)
        _write_programs(sources, sites, work)
        command = user_namespace.in_chroot(sysroot, "env", "LC_ALL=C", "LANG=C", "sh", f"{inside}/probe.sh", inside,
                                           *_compiler_flags(f"{inside}/src"))  # fmt: skip
        returncode, output = _bounded(command, PROBE_TIMEOUT_S + PROBE_TIMEOUT_PER_COMMAND_S * len(sites))
        printed = dict(line.split(" ", 1) for line in output.splitlines() if re.fullmatch(r"\d+ \d+", line))
        failed = "" if returncode == 0 else f"the probe failed: {_last_line(output) or f'exit status {returncode}'}"
        return {
            site: int(printed[str(i)]) & NUMBER_MASK if str(i) in printed else failed or _first_error(work, i, inside)
            for i, site in enumerate(sites)
        }


def _compiler_flags(src: str) -> list[str]:
    """The module's headers first for its quoted includes, after the system's for <...> ones (so that a module's
    own stddef.h or types.h does not stand in for the C library's)."""
    return ["-std=gnu11", "-w", "-iquote", src, "-idirafter", f"{src}/include", "-idirafter", src]


@contextlib.contextmanager
def _work_dir(sysroot: Path) -> Iterator[Path]:
    """A fresh folder in the chroot's /tmp, removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix="vexfs-vmtest-ioctls-", dir=sysroot / "tmp"))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _write_programs(sources: Sources, sites: Sequence[Macro], work: Path) -> None:
    declared, printed = [], []
    for i, site in enumerate(sites):
        for mode, program in _programs(sources, sites, site).items():
            (work / f"t{i}.{mode}.c").write_text(program + VALUE.format(index=i, name=site.name))
        declared.append(f"extern const unsigned long long vexfs_ioctl_{i} __attribute__((weak));\n")
        printed.append(f'\tif (&vexfs_ioctl_{i})\n\t\tprintf("{i} %llu\\n", vexfs_ioctl_{i});\n')
    main = "#include <stdio.h>\n" + "".join(declared) + "int main(void)\n{\n" + "".join(printed) + "\treturn 0;\n}\n"
    (work / "main.c").write_text(main)
    (work / "commands").write_text("\n".join(str(i) for i in range(len(sites))) + "\n")
    (work / "probe.sh").write_text(PROBE_SCRIPT)


def _programs(sources: Sources, sites: Sequence[Macro], site: Macro) -> dict[str, str]:
    """The preludes of site's programs, by mode: the header included (when only this define of the name is in
    it), then with the kernel's annotations; the definitions it needs copied out, then the define itself,
    then those after the system headers their files include (the ones user space has too)."""
    programs = {}
    alone = sum(other.name == site.name and other.file == site.file for other in sites) == 1
    if site.file.endswith(".h") and alone:
        programs["include"] = f'{INCLUDE_PRELUDE}#include "{site.file}"\n'
        programs["kernel"] = f'{KERNEL_PRELUDE}#include "{site.file}"\n'
    with contextlib.suppress(Unresolvable):
        copied = _CopiedOut(sources, site)
        text = copied.text()
        programs["copied"] = COPIED_PRELUDE + text
        includes = dict.fromkeys(include for file in copied.files for include in sources.code[file].includes)
        guarded = "".join(f"#if __has_include({name})\n#include {name}\n#endif\n" for name in includes)
        programs["headers"] = COPIED_PRELUDE + guarded + text
    return programs


class _CopiedOut:
    """The definitions a define needs, copied out of the sources: the macros it uses, then the structs, unions,
    enums and typedefs, each after those it uses; then the define."""

    def __init__(self, sources: Sources, site: Macro) -> None:
        self.sources = sources
        self.site = site
        self.macros: dict[str, Macro] = {}
        self.units: list[tuple[str, int, int]] = []
        self.open: set[tuple[str, int, int]] = set()

    @property
    def files(self) -> list[str]:
        """The files what is copied out comes from, the define's first."""
        found = [self.site.file, *(m.file for m in self.macros.values()), *(file for file, _, _ in self.units)]
        return list(dict.fromkeys(found))

    def text(self) -> str:
        self.visit(self.site.body)
        macros = "".join(f"{macro.text()}\n" for macro in self.macros.values())
        units = "".join(f"{self.unit_text(*unit)}\n" for unit in self.units)
        return f"{macros}{units}{self.site.text()}\n"

    def visit(self, tokens: Sequence[str]) -> None:
        for k, token in enumerate(tokens):
            tagged = token in (*AGGREGATES, "enum") and k + 1 < len(tokens)
            definition = self.first(f"{token} {tokens[k + 1]}" if tagged else f"typedef {token}")
            if definition is None and token in self.sources.constants:
                definition = self.sources.constants[token][0]
            if definition is not None:
                self.visit_unit(definition)
            elif token in self.sources.macros and token not in self.macros and token != self.site.name:
                self.macros[token] = self.first_macro(token)
                self.visit(self.macros[token].body)

    def first(self, key: str) -> Definition | None:
        found = self.sources.definitions.get(key, ())
        return next((d for d in found if d.file == self.site.file), found[0] if found else None)

    def first_macro(self, name: str) -> Macro:
        found = self.sources.macros[name]
        return next((m for m in found if m.file == self.site.file), found[0])

    def visit_unit(self, definition: Definition) -> None:
        """The outermost definition holding this one (a typedef around a struct), after what it uses."""
        if definition.conditional:
            raise Unresolvable(f"{definition.key} differs between #if branches")
        spans = [
            (d.start, d.end) for found in self.sources.definitions.values() for d in found if d.file == definition.file
        ]
        start, end = min(
            ((s, e) for s, e in spans if s <= definition.start and definition.end <= e),
            key=lambda span: span[0] - span[1],
        )
        unit = (definition.file, start, end)
        if unit in self.units or unit in self.open:
            return
        self.open.add(unit)
        self.visit(self.sources.code[definition.file].tokens[start:end])
        self.units.append(unit)

    def unit_text(self, file: str, start: int, end: int) -> str:
        tokens = self.sources.code[file].tokens[start:end]
        return " ".join(tokens) + ("" if tokens[-1] == ";" else ";")


def _bounded(command: list[str], timeout: float) -> tuple[int, str]:
    """command's status and output, its process group killed past timeout or when interrupted."""
    status, output = process_group.run(command, timeout)
    return (status, f"timed out after {timeout:g} s") if status == TIMED_OUT else (status, output)


def _last_line(output: str) -> str:
    lines = output.strip().splitlines()
    return lines[-1].strip() if lines else ""


def _first_error(work: Path, index: int, inside: str) -> str:
    """Why command index printed nothing: the compiler's first error in the last mode tried, or the link's."""
    logs = [work / f"t{index}.{mode}.err" for mode in MODES if (work / f"t{index}.{mode}.err").exists()]
    if not logs:
        return "no program could be written for it"
    compiled = (work / f"t{index}.o").exists()
    log = work / "link.err" if compiled else logs[-1]
    for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
        error = ERROR.search(line)
        if error:
            where = line.split(": ", 1)[0].removeprefix(f"{inside}/src/") if f"{inside}/src/" in line else ""
            return f"gcc: {where}: {error[1]}" if where else f"gcc: {error[1]}"
    return "its program compiled but did not link or run" if compiled else "gcc failed without an error line"
