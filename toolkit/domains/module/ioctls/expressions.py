"""Integer constant expressions over expanded tokens, as C evaluates them on x86_64: operators, casts,
`sizeof`, integer and character constants, and the ioctl encoder calls."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from toolkit.domains.module.ioctls.encoding import ENCODERS, IOC, IOC_CONSTANTS, encode, is_encoder
from toolkit.domains.module.ioctls.tokens import IDENTIFIER, closing, split
from toolkit.domains.module.ioctls.unresolvable import Unresolvable

BINARY = {"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6, "<": 7, ">": 7, "<=": 7, ">=": 7,
          "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10}  # fmt: skip
ESCAPES = {"n": 10, "t": 9, "r": 13, "a": 7, "b": 8, "f": 12, "v": 11, "e": 27, "\\": 92, "'": 39, '"': 34, "?": 63}


class Names(Protocol):
    """What an expression's names mean: the sources' types, enum constants, and the values of sub-expressions
    (whose tokens may hold macros still to expand)."""

    def value(self, tokens: Sequence[str]) -> int: ...

    def size(self, type_tokens: Sequence[str]) -> int: ...

    def size_argument(self, tokens: Sequence[str]) -> int: ...

    def is_type(self, tokens: Sequence[str], i: int) -> bool: ...

    def constant(self, name: str) -> int | None: ...


class Parser:
    """An integer constant expression over expanded tokens, as C evaluates it (the ioctl macros included)."""

    def __init__(self, tokens: Sequence[str], names: Names) -> None:
        self.tokens = tokens
        self.names = names
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
            return self.names.size(self.parenthesized())
        if token == "(" and self.names.is_type(self.tokens, self.i + 1):
            type_tokens = self.parenthesized()
            return _converted(self.unary(), self.names.size(type_tokens), type_tokens)
        if token == "(":
            return self.names.value(self.parenthesized())
        return self.primary()

    def parenthesized(self) -> Sequence[str]:
        if self.peek() != "(":
            raise Unresolvable(f"cannot evaluate `{' '.join(self.tokens)}`")
        close = closing(self.tokens, self.i)
        inside = self.tokens[self.i + 1 : close]
        self.i = close + 1
        return inside

    def primary(self) -> int:
        token = self.take()
        if token[0].isdigit() or token[0] == ".":
            return _number(token)
        if token[0] == "'":
            return _character(token)
        if is_encoder(token):
            return self.encoded(token, split(self.parenthesized(), ","))
        if token in IOC_CONSTANTS:
            return IOC_CONSTANTS[token]
        if token == "_IOC_TYPECHECK":
            return self.names.size_argument(self.parenthesized())
        constant = self.names.constant(token) if IDENTIFIER.match(token) else None
        if constant is None:
            raise Unresolvable(f"{token} is not defined in the module's sources")
        return constant

    def encoded(self, encoder: str, arguments: list[list[str]]) -> int:
        wanted = 4 if encoder == IOC else 2 if encoder == "_IO" else 3
        if len(arguments) != wanted:
            raise Unresolvable(f"{encoder} takes {wanted} arguments, not {len(arguments)}")
        if encoder == IOC:
            direction, type_, nr, size = (self.names.value(argument) for argument in arguments)
            return encode(direction, type_, nr, size)
        size = self.names.size_argument(arguments[2]) if encoder != "_IO" else 0
        return encode(ENCODERS[encoder], self.names.value(arguments[0]), self.names.value(arguments[1]), size)


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
