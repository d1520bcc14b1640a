"""One C file as the preprocessor reads it: its #defines, its system includes, and its code as tokens, each
under the branches of the conditions the scan does not evaluate (`#if 0` blocks are skipped)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from toolkit.domains.module.ioctls.tokens import TOKEN

COMMENT_OR_LITERAL = re.compile(r"""//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'""", re.S)
SPLICE = re.compile(r"\\[ \t]*\r?\n")  # a backslash ending a line: the next one continues it
HIDDEN_NEWLINE = "\0"  # a line break inside a logical line (spliced, or in a comment): counted, not a break
DIRECTIVE = re.compile(r"\s*#\s*(\w*)(.*)", re.S)
DEFINE = re.compile(r"\s*(\w+)(\([^)]*\))?(.*)", re.S)


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


@dataclass
class _Condition:
    """An open #if while a file is read: whether its current branch is skipped, whether its condition is known
    (a literal 0 or 1), whether a known branch was taken, and the id of its current branch."""

    skipping: bool
    known: bool
    taken: bool
    branch: int


def read_file(path: Path, relative: str) -> tuple[list[Macro], Code]:
    """The #defines of the file at path (named relative in where they are) and its code."""
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
                macros += parsed_define(directive[2], f"{relative}:{number}")
            elif directive[1] == "include" and live and directive[2].strip().startswith("<"):
                includes.append(directive[2].strip().split(">", 1)[0] + ">")
        elif not any(frame.skipping for frame in frames):
            found = TOKEN.findall(line)
            under = tuple(frame.branch for frame in frames if not frame.known)
            tokens += found
            lines += [number] * len(found)
            branches += [under] * len(found)
    return macros, Code(relative, tuple(tokens), tuple(lines), tuple(branches), tuple(includes))


def parsed_define(text: str, where: str) -> list[Macro]:
    """The macro a #define's text (after `#define`) defines; none if it names nothing."""
    match = DEFINE.match(text)
    if match is None:
        return []
    name, params, body = match.groups()
    parameters = None if params is None else tuple(p.strip() for p in params[1:-1].split(",") if p.strip())
    return [Macro(name, parameters, tuple(TOKEN.findall(body)), where)]


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
