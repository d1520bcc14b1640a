"""C tokens as the scan reads them, and the brackets that group them."""

from __future__ import annotations

import re
from collections.abc import Sequence

from toolkit.domains.module.ioctls.unresolvable import Unresolvable

TOKEN = re.compile(
    r"""
    "(?:\\.|[^"\\])*" | '(?:\\.|[^'\\])*'
  | \.?\d(?:[eEpP][+-]|[\w.])*
  | [A-Za-z_]\w*
  | \.\.\.|<<=|>>=|->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||\#\#|[-+*/%&|^~!=<>?:;,.()\[\]{}\#]
    """,
    re.X,
)
IDENTIFIER = re.compile(r"[A-Za-z_]\w*\Z")
OPEN, CLOSE = {"(", "[", "{"}, {")", "]", "}"}


def closing(tokens: Sequence[str], start: int) -> int:
    """The index of the bracket closing the one at start."""
    depth = 0
    for k in range(start, len(tokens)):
        depth += (tokens[k] in OPEN) - (tokens[k] in CLOSE)
        if depth == 0:
            return k
    raise Unresolvable(f"unbalanced brackets in `{' '.join(tokens)}`")


def split(tokens: Sequence[str], separator: str) -> list[list[str]]:
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


def statement_end(tokens: Sequence[str], start: int) -> int:
    """The index after the `;` that ends the statement starting at start."""
    depth = 0
    for k in range(start, len(tokens)):
        depth += (tokens[k] in OPEN) - (tokens[k] in CLOSE)
        if depth == 0 and tokens[k] == ";":
            return k + 1
    return len(tokens)


def strip_parentheses(tokens: Sequence[str]) -> Sequence[str]:
    while len(tokens) >= 2 and tokens[0] == "(" and closing(tokens, 0) == len(tokens) - 1:
        tokens = tokens[1:-1]
    return tokens
