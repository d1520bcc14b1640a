"""Values and sizes as gcc on x86_64 works them out, from the module's own macros and definitions: each
command's number without a compiler."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

from toolkit.domains.module.ioctls import declarations, layouts
from toolkit.domains.module.ioctls.declarations import BASE_WORDS, QUALIFIERS, TAGGED, Declarator, Specifier
from toolkit.domains.module.ioctls.encoding import NUMBER_MASK
from toolkit.domains.module.ioctls.expressions import Parser
from toolkit.domains.module.ioctls.layouts import POINTER, SCALARS, Layout, Member
from toolkit.domains.module.ioctls.macros import MacroExpander
from toolkit.domains.module.ioctls.preprocessor import Macro
from toolkit.domains.module.ioctls.sources import Definition, Sources, enumerators
from toolkit.domains.module.ioctls.tokens import closing, split
from toolkit.domains.module.ioctls.unresolvable import Unresolvable


def evaluated(sources: Sources, sites: Sequence[Macro]) -> dict[Macro, int | str]:
    """Each command's number as the evaluator works it out, or why it cannot."""
    values: dict[Macro, int | str] = {}
    for site in sites:
        try:
            values[site] = Evaluator(sources).value(site.body) & NUMBER_MASK
        except Unresolvable as error:
            values[site] = str(error)
    return values


class Evaluator:
    """Values and sizes as gcc on x86_64 works them out, from the module's own macros and definitions. A name
    with several different definitions is unresolved (strict), or its first definition is used."""

    def __init__(self, sources: Sources, strict: bool = True) -> None:
        self.sources = sources
        self.strict = strict
        self.macros = MacroExpander(sources, strict)
        self.open: set[str] = set()  # what is being worked out: something that contains itself

    def value(self, tokens: Sequence[str]) -> int:
        """The value of an integer constant expression."""
        expanded = self.macros.expand(tokens)
        parser = Parser(expanded, self)
        value = parser.expression()
        if parser.i != len(expanded):
            raise Unresolvable(f"cannot evaluate `{' '.join(expanded)}`")
        return value

    def size(self, type_tokens: Sequence[str]) -> int:
        """sizeof(type)."""
        return self.type_name(type_tokens).size

    def size_argument(self, tokens: Sequence[str]) -> int:
        """sizeof of an _IOR/_IOW/_IOWR argument, a type (or, misused, a sizeof expression: a size_t)."""
        expanded = self.macros.expand(tokens)
        return 8 if expanded[:1] == ["sizeof"] else self.type_name(expanded).size

    def is_type(self, tokens: Sequence[str], i: int) -> bool:
        token = tokens[i] if i < len(tokens) else ""
        return (
            token in BASE_WORDS
            or token in QUALIFIERS
            or token in TAGGED
            or f"typedef {token}" in self.sources.definitions
            or token in SCALARS
        )

    def type_name(self, tokens: Sequence[str]) -> Layout:
        specifier, rest = declarations.specifier(tokens)
        declarator = declarations.declarator(rest)
        if declarator.name is not None:
            raise Unresolvable(f"`{' '.join(tokens)}` is not a type")
        return self.declared(specifier, declarator)

    def declared(self, specifier: Specifier, declarator: Declarator) -> Layout:
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

    def specified(self, specifier: Specifier) -> Layout:
        if specifier.kind == "scalar":
            return layouts.scalar(specifier.name.split())
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
                value = self.value(tokens[i + 2 : closing(tokens, i + 1)]) if has_value else 16
                aligned = max(aligned or 1, value)
        return packed, aligned

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
            return layouts.named_scalar(name)
        raise Unresolvable(f"`{name}` is neither a type of the module's sources nor a scalar the scan knows")

    def aggregate_body(self, kind: str, body: Sequence[str], type_attributes: Sequence[str]) -> Layout:
        """The layout of a struct or union with this body and these attributes."""
        packed, aligned = self.attributes(type_attributes)
        return layouts.aggregate(kind, self.members(body), packed, aligned)

    def members(self, body: Sequence[str]) -> Iterator[Member]:
        """Each member of a struct or union body (an anonymous struct or union member is one)."""
        for declaration in split(body, ";"):
            if not declaration:
                continue
            specifier, rest = declarations.specifier(declaration)
            parts = [part for part in split(rest, ",") if part]
            if not parts and specifier.body is not None:
                yield self.member(specifier, Declarator(name="{}"))
            for part in parts:
                yield self.member(specifier, declarations.declarator(part))

    def member(self, specifier: Specifier, declarator: Declarator) -> Member:
        try:
            packed, aligned = self.attributes((*specifier.attributes, *declarator.attributes))
            layout = self.declared(specifier, replace(declarator, width=None))
            width = None if declarator.width is None else self.value(declarator.width)
        except Unresolvable as error:
            raise Unresolvable(f"field `{declarator.name}`: {error}") from None
        if width is not None and not 0 <= width <= layout.size * 8:
            raise Unresolvable(f"field `{declarator.name}`: a bit-field of {width} bits in {layout.size} bytes")
        return Member(declarator.name or "", layout, width, packed, aligned)

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
            for constant, tokens in enumerators(self.sources.code[enum.file], enum):
                value = self.value(tokens) if tokens else value + 1
                if constant == name:
                    return value
        finally:
            self.open.discard(f"enum-constant {name}")
        return None

    def _one_layout(self, key: str) -> Layout:
        """The layout of a struct, union or typedef of the sources (the same in each of its definitions)."""
        found = self.sources.definitions[key]
        if key in self.open:
            raise Unresolvable(f"{key} contains itself")
        self.open.add(key)
        try:
            each = [self._defined(key, definition) for definition in (found if self.strict else found[:1])]
        finally:
            self.open.discard(key)
        different = next((d for d, layout in zip(found, each, strict=False) if layout != each[0]), None)
        if different is not None:
            raise Unresolvable(f"{key} is defined differently at {found[0].where} and {different.where}")
        return each[0]

    def _defined(self, key: str, layout_of: Definition) -> Layout:
        if layout_of.conditional:
            raise Unresolvable(f"{key} ({layout_of.where}) differs between #if branches the scan does not evaluate")
        tokens = self.sources.code[layout_of.file].tokens[layout_of.start : layout_of.end]
        if layout_of.kind == "typedef":
            specifier, rest = declarations.specifier(self.macros.expand(tokens[1:-1]))
            for part in split(rest, ","):
                declarator = declarations.declarator(part)
                if declarator.name == layout_of.name:
                    return self.declared(specifier, declarator)
            raise Unresolvable(f"cannot read {key} ({layout_of.where})")
        specifier, _ = declarations.specifier(self.macros.expand(tokens))
        return self.specified(specifier)
