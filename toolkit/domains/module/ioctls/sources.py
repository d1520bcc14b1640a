"""A module's sources as the scan reads them: every .c and .h file (build artefacts and .git left out), its
#defines, and the structs, unions, enums and typedefs it defines."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from toolkit.domains.module import build_tree
from toolkit.domains.module.ioctls.declarations import TAGGED, declared_names, past_attributes
from toolkit.domains.module.ioctls.preprocessor import Code, Macro, read_file
from toolkit.domains.module.ioctls.tokens import IDENTIFIER, closing, split, statement_end
from toolkit.domains.module.ioctls.unresolvable import Unresolvable

_T = TypeVar("_T")


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


def read_sources(source_dir: Path) -> Sources:
    """Every .c and .h file under source_dir (build artefacts and .git left out), read."""
    defines: list[Macro] = []
    macros: dict[str, list[Macro]] = {}
    definitions: dict[str, list[Definition]] = {}
    constants: dict[str, list[Definition]] = {}
    code: dict[str, Code] = {}
    for relative in _source_files(source_dir):
        file_macros, code[relative] = read_file(source_dir / relative, relative)
        defines += file_macros
        for macro in file_macros:
            macros.setdefault(macro.name, []).append(macro)
        for definition in _definitions(code[relative]):
            definitions.setdefault(definition.key, []).append(definition)
            for name, _ in enumerators(code[relative], definition) if definition.kind == "enum" else ():
                constants.setdefault(name, []).append(definition)
    return Sources(source_dir, tuple(defines), _frozen(macros), _frozen(definitions), _frozen(constants), code)


def enumerators(code: Code, enum: Definition) -> list[tuple[str, tuple[str, ...]]]:
    """An enum's constants, each with the tokens of its value (none: the previous one's plus one)."""
    tokens = code.tokens[enum.start : enum.end]
    brace = tokens.index("{")
    found = []
    for part in split(tokens[brace + 1 : closing(tokens, brace)], ","):
        if part and IDENTIFIER.match(part[0]):
            found.append((part[0], tuple(part[2:]) if len(part) > 1 and part[1] == "=" else ()))
    return found


def _source_files(source_dir: Path) -> list[str]:
    """The .c and .h files among the module's sources (a linked folder is not one), relative to source_dir."""
    return [
        Path(relative).as_posix()
        for relative in build_tree.sources(source_dir)
        if relative.endswith((".c", ".h")) and not (source_dir / relative).is_dir()
    ]


def _frozen(found: dict[str, list[_T]]) -> dict[str, tuple[_T, ...]]:
    return {key: tuple(values) for key, values in found.items()}


def _definitions(code: Code) -> list[Definition]:
    """The structs, unions and enums defined (with a body) and the typedefs in a file's code."""
    found = []
    tokens = code.tokens
    for i, token in enumerate(tokens):
        with contextlib.suppress(Unresolvable):  # unbalanced brackets: not a definition this scan reads
            if token == "typedef":
                end = statement_end(tokens, i)
                found += [_definition(code, "typedef", name, i, end) for name in declared_names(tokens[i + 1 : end])]
            elif token in TAGGED:
                j = past_attributes(tokens, i + 1)
                tag = tokens[j] if j < len(tokens) and IDENTIFIER.match(tokens[j]) else ""
                brace = j + 1 if tag else j
                if brace < len(tokens) and tokens[brace] == "{" and (tag or token == "enum"):
                    end = past_attributes(tokens, closing(tokens, brace) + 1)
                    found.append(_definition(code, token, tag, i, end))
    return found


def _definition(code: Code, kind: str, name: str, start: int, end: int) -> Definition:
    conditional = len(set(code.branches[start:end])) > 1
    return Definition(kind, name, code.file, code.lines[start], start, end, conditional)
