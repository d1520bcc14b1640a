"""A module's parameters as insmod passes them and the kernel cuts them: what cannot reach it as one NAME=VALUE."""

from __future__ import annotations

import re

KERNEL_SPACE = " \t\n\v\f\r"  # C's isspace
PARAMETER_NAME = re.compile(r"[A-Za-z0-9_-]+")  # a C identifier; the kernel takes - for _


def kernel_arguments(text: str) -> list[str]:
    """text cut into arguments as the kernel cuts a module's parameters (lib/cmdline.c's next_arg): at white
    space outside double quotes. insmod joins its arguments with spaces, so each must stay one."""
    found = []
    rest = text.lstrip(KERNEL_SPACE)
    while rest:
        in_quote = rest.startswith('"')
        end = 1 if in_quote else 0
        while end < len(rest) and (in_quote or rest[end] not in KERNEL_SPACE):
            in_quote ^= rest[end] == '"'
            end += 1
        found.append(rest[:end])
        rest = rest[end:].lstrip(KERNEL_SPACE)
    return found


MAX_PARAMETERS = 256  # insmod's arguments: far more than any module declares
MAX_PARAMETER_BYTES = 4096  # one NAME=VALUE: a page, as the kernel's own parameter strings


def parameter_problem(param: str) -> str | None:
    """Why insmod could not pass param to the module as one NAME=VALUE (or NAME, for a bool); None when it can."""
    if len(param.encode()) > MAX_PARAMETER_BYTES:
        return f"module parameter {param[:40]!r}... is {len(param.encode())} bytes: give at most {MAX_PARAMETER_BYTES}"
    name = param.removeprefix('"').split("=", 1)[0]  # the kernel takes a parameter quoted whole too
    if not PARAMETER_NAME.fullmatch(name) or name == "--":
        return f"module parameter {param!r} is not NAME=VALUE, nor NAME for a bool: {name!r} is not a parameter name"
    cut = kernel_arguments(param)
    if len(cut) != 1:
        parts = " and ".join(repr(part) for part in cut)
        return f'module parameter {param!r} would reach the kernel as {parts} (insmod joins parameters with spaces): put a value with spaces in double quotes, NAME="a b"'
    return None
