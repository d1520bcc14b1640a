"""C declarations read from tokens: the type a declaration starts with (its specifier), what each of its
declarators makes of it, and the attributes around both."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from toolkit.domains.module.ioctls.tokens import IDENTIFIER, closing, split
from toolkit.domains.module.ioctls.unresolvable import Unresolvable

BASE_WORDS = {"void", "char", "short", "int", "long", "float", "double", "signed", "unsigned", "_Bool", "__int128",
              "__signed__", "__signed"}  # fmt: skip
QUALIFIERS = {"const", "volatile", "restrict", "__restrict", "__extension__", "static", "extern", "register",
              "inline", "_Atomic", "__const", "__volatile__"}  # fmt: skip
ANNOTATIONS = {"__user", "__iomem", "__rcu", "__force", "__bitwise", "__percpu", "__kernel", "__randomize_layout",
               "__no_randomize_layout", "__nonstring", "__packed"}  # fmt: skip
ATTRIBUTE_CALLS = {"__attribute__", "__attribute", "__aligned", "__counted_by", "__counted_by_le", "__counted_by_be"}
AGGREGATES = ("struct", "union")
TAGGED = (*AGGREGATES, "enum")


@dataclass(frozen=True)
class Specifier:
    """The type a declaration starts with: kind "scalar" (name: its words), "struct", "union", "enum" (name: the
    tag; body: the tokens between the braces of an inline definition) or "typedef" (name: the typedef's)."""

    kind: str
    name: str
    body: tuple[str, ...] | None = None
    type_attributes: tuple[str, ...] = ()  # of an inline struct or union
    attributes: tuple[str, ...] = ()  # of the declaration


@dataclass(frozen=True)
class Declarator:
    """What a declarator makes of its specifier: a name (none in a type name), a pointer, array dimensions
    (None: `[]`), a function, a bit-field's width, and its attributes."""

    name: str | None = None
    pointer: bool = False
    dims: tuple[tuple[str, ...] | None, ...] = ()
    function: bool = False
    width: tuple[str, ...] | None = None
    attributes: tuple[str, ...] = ()


def attribute_end(tokens: Sequence[str], i: int) -> int:
    """The index after an attribute starting at i (`__attribute__((...))`, `__aligned(8)`, `__packed`), else i."""
    if i < len(tokens) and tokens[i] in ATTRIBUTE_CALLS and i + 1 < len(tokens) and tokens[i + 1] == "(":
        return closing(tokens, i + 1) + 1
    return i + 1 if i < len(tokens) and tokens[i] in ANNOTATIONS else i


def past_attributes(tokens: Sequence[str], i: int) -> int:
    while (end := attribute_end(tokens, i)) != i:
        i = end
    return i


def specifier(tokens: Sequence[str]) -> tuple[Specifier, list[str]]:
    """The specifier a declaration starts with, and the tokens after it (its declarators)."""
    words: list[str] = []
    attributes: list[str] = []
    i = 0
    while i < len(tokens):
        token, end = tokens[i], attribute_end(tokens, i)
        if end != i:
            attributes += tokens[i:end]
        elif token in QUALIFIERS or token in BASE_WORDS:
            words += [token] if token in BASE_WORDS else []
            end = i + 1
        elif words or not IDENTIFIER.match(token):
            break
        elif token in TAGGED:
            return _tagged(tokens, i, tuple(attributes))
        else:
            return Specifier("typedef", token, attributes=tuple(attributes)), list(tokens[i + 1 :])
        i = end
    if not words:
        raise Unresolvable(f"`{' '.join(tokens)}` names no type")
    return Specifier("scalar", " ".join(words), attributes=tuple(attributes)), list(tokens[i:])


def _tagged(tokens: Sequence[str], i: int, attributes: tuple[str, ...]) -> tuple[Specifier, list[str]]:
    """`struct tag`, `struct [tag] { body }` (union, enum alike), with the attributes around it."""
    j = past_attributes(tokens, i + 1)
    type_attributes = list(tokens[i + 1 : j])
    tag = tokens[j] if j < len(tokens) and IDENTIFIER.match(tokens[j]) else ""
    j += bool(tag)
    body = None
    if j < len(tokens) and tokens[j] == "{":
        close = closing(tokens, j)
        body = tuple(tokens[j + 1 : close])
        j = past_attributes(tokens, close + 1)
        type_attributes += tokens[close + 1 : j]
    return Specifier(tokens[i], tag, body, tuple(type_attributes), attributes), list(tokens[j:])


def declarator(tokens: Sequence[str]) -> Declarator:
    """A declarator (or an abstract one, as in a type name): `*name[4]`, `(*fn)(int)`, `bits : 3`."""
    attributes: list[str] = []
    i, pointer = 0, False
    while i < len(tokens):  # pointers, qualifiers, attributes
        end = attribute_end(tokens, i)
        if end == i and (tokens[i] == "*" or tokens[i] in QUALIFIERS):
            pointer, end = pointer or tokens[i] == "*", i + 1
        elif end == i:
            break
        attributes += tokens[i:end] if tokens[i] != "*" and tokens[i] not in QUALIFIERS else []
        i = end
    name, inner = None, None
    if i < len(tokens) and tokens[i] == "(":
        close = closing(tokens, i)
        inner, i = declarator(tokens[i + 1 : close]), close + 1
    elif i < len(tokens) and IDENTIFIER.match(tokens[i]):
        name, i = tokens[i], i + 1
    dims: list[tuple[str, ...] | None] = []
    function, width = False, None
    while i < len(tokens) and width is None:  # [dimensions], (parameters), : width, attributes
        token = tokens[i]
        end = closing(tokens, i) + 1 if token in ("[", "(") else max(attribute_end(tokens, i), i + 1)
        if token == "[":
            dims.append(tuple(tokens[i + 1 : end - 1]) or None)
        elif token == ":":
            width = tuple(tokens[i + 1 :])
        elif token != "(":
            attributes += tokens[i:end]
        function, i = function or token == "(", end
    if inner is None:
        return Declarator(name, pointer, tuple(dims), function and not pointer, width, tuple(attributes))
    attributes = [*inner.attributes, *attributes]
    if inner.pointer:  # a pointer to a function or an array: a pointer (or an array of them)
        return Declarator(inner.name, True, inner.dims, False, width, tuple(attributes))
    return Declarator(inner.name, pointer, (*inner.dims, *dims), function, width, tuple(attributes))


def declared_names(declaration: Sequence[str]) -> list[str]:
    """The names a declaration declares (none when it cannot be read)."""
    try:
        _, rest = specifier(declaration)
        names = [declarator(part).name for part in split(rest, ",")]
    except Unresolvable:
        return []
    return [name for name in names if name]
