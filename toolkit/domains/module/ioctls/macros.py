"""The module's own macros expanded, as the preprocessor would (no `#`, no `##`): the ioctl encoders and
`sizeof` are left for the evaluator."""

from __future__ import annotations

from collections.abc import Sequence

from toolkit.domains.module.ioctls.encoding import IOC_CONSTANTS, is_encoder
from toolkit.domains.module.ioctls.preprocessor import Macro, parsed_define
from toolkit.domains.module.ioctls.sources import Sources
from toolkit.domains.module.ioctls.tokens import IDENTIFIER, closing, split
from toolkit.domains.module.ioctls.unresolvable import Unresolvable

MAX_EXPANSION_DEPTH = 64
# Macros of include/uapi/linux/stddef.h as they lay out (their own definitions paste tokens), used instead of
# any copy in the sources.
KERNEL_MACROS = {
    macro.name: macro
    for text in (
        "__DECLARE_FLEX_ARRAY(TYPE, NAME) struct { TYPE NAME[]; }",
        "__struct_group(TAG, NAME, ATTRS, MEMBERS...) union { struct { MEMBERS } ATTRS; struct { MEMBERS } ATTRS NAME; } ATTRS",
    )
    for macro in parsed_define(text, "include/uapi/linux/stddef.h")
}


class MacroExpander:
    """Expands the module's macros. A name with several different definitions is unresolved (strict), or its
    first definition is used."""

    def __init__(self, sources: Sources, strict: bool = True) -> None:
        self.sources = sources
        self.strict = strict

    def macro(self, name: str) -> Macro | None:
        """The macro name expands (None: it is not one, or one the evaluator reads itself)."""
        if is_encoder(name) or name in IOC_CONSTANTS or name == "sizeof":
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
        """The body of the function-like macro called at open_at with its arguments in, and where the call ends."""
        close = closing(tokens, open_at)
        arguments = split(tokens[open_at + 1 : close], ",")
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


def _joined(arguments: list[list[str]]) -> list[list[str]]:
    """Variadic arguments put back together with their commas."""
    return [[*argument, ","] if k < len(arguments) - 1 else argument for k, argument in enumerate(arguments)]
