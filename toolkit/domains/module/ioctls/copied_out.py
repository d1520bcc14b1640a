"""The definitions a command's #define needs, copied out of the sources into a program of its own."""

from __future__ import annotations

from collections.abc import Sequence

from toolkit.domains.module.ioctls.declarations import TAGGED
from toolkit.domains.module.ioctls.preprocessor import Macro
from toolkit.domains.module.ioctls.sources import Definition, Sources
from toolkit.domains.module.ioctls.unresolvable import Unresolvable

Unit = tuple[str, int, int]  # a file's code, tokens start:end


class CopiedOut:
    """The definitions a define needs, copied out of the sources: the macros it uses, then the structs, unions,
    enums and typedefs, each after those it uses; then the define."""

    def __init__(self, sources: Sources, site: Macro) -> None:
        self.sources = sources
        self.site = site
        self.macros: dict[str, Macro] = {}
        self.units: list[Unit] = []
        self.open: set[Unit] = set()

    @property
    def files(self) -> list[str]:
        """The files what is copied out comes from, the define's first."""
        found = [self.site.file, *(m.file for m in self.macros.values()), *(file for file, _, _ in self.units)]
        return list(dict.fromkeys(found))

    def text(self) -> str:
        """The macros, the definitions and the define, as C (Unresolvable: a definition differs between #if
        branches)."""
        self.visit(self.site.body)
        macros = "".join(f"{macro.text()}\n" for macro in self.macros.values())
        units = "".join(f"{self.unit_text(*unit)}\n" for unit in self.units)
        return f"{macros}{units}{self.site.text()}\n"

    def visit(self, tokens: Sequence[str]) -> None:
        for k, token in enumerate(tokens):
            tagged = token in TAGGED and k + 1 < len(tokens)
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
