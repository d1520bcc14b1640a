"""Which #defines of the sources are ioctl commands: the object-like ones whose value is an encoder call."""

from __future__ import annotations

from collections.abc import Sequence

from toolkit.domains.module.ioctls.encoding import is_encoder
from toolkit.domains.module.ioctls.macros import MacroExpander
from toolkit.domains.module.ioctls.preprocessor import Macro
from toolkit.domains.module.ioctls.sources import Sources
from toolkit.domains.module.ioctls.tokens import closing, strip_parentheses
from toolkit.domains.module.ioctls.unresolvable import Unresolvable


def commands_in(sources: Sources) -> tuple[Macro, ...]:
    """The object-like #defines of the sources whose value is an ioctl encoder call, directly or through the
    module's macros (for an alias, a wrapper; a macro defined differently in #if branches: its first definition)."""
    lenient = MacroExpander(sources, strict=False)
    found = []
    for define in sources.defines:
        if define.params is not None or not any(lenient.macro(t) or is_encoder(t) for t in define.body):
            continue
        try:
            if _is_encoder_call(lenient.expand(define.body)):
                found.append(define)
        except Unresolvable:
            if any(is_encoder(token) for token in define.body):
                found.append(define)
    return tuple(found)


def _is_encoder_call(tokens: Sequence[str]) -> bool:
    tokens = strip_parentheses(tokens)
    return len(tokens) >= 3 and is_encoder(tokens[0]) and tokens[1] == "(" and closing(tokens, 1) == len(tokens) - 1
