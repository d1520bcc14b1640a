"""A domain's options, declared once as a frozen dataclass of `option()` fields.

Each field states its default, its help, the command-line flag it is given by and its
constraints (a minimum and a maximum, a set of choices). A number is bounded even when its
option declares no maximum (`CEILING`), and must be finite, so no value given reaches a
guest's loop or a timeout as an overflow. `parse` turns values from any command line into
the dataclass, coercing text and collecting every problem into one UserError; `flags` lists
what a command line offers, so invoke tasks and the matrix's argparse use one definition.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from toolkit.errors import UserError

OptionsT = TypeVar("OptionsT")
# The bound of a number whose option declares no maximum: counts and seconds beyond a hundred thousand (more than
# a day) are a typo, not a test.
CEILING = 100_000


@dataclass(frozen=True)
class Flag:
    """How one option appears on a command line."""

    field: str
    flag: str
    help: str
    kind: type
    default: Any
    repeat: bool
    choices: tuple[str, ...]

    def described(self) -> str:
        """The help every command line shows: the declared help, and the default when there is one to say."""
        silent = self.default is None or self.default is False or self.default == ()
        return self.help if silent else f"{self.help} (default {self.default})"


def option(
    default: Any,
    help: str,
    *,
    flag: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] = (),
    cli: bool = True,
) -> Any:
    """A declared option: flag defaults to the field's name with dashes (`module_dir` -> `--module-dir`); a number
    lies between minimum and maximum (without one: at most CEILING)."""
    metadata = {"help": help, "flag": flag, "minimum": minimum, "maximum": maximum, "choices": choices, "cli": cli}
    return dataclasses.field(default=default, metadata=metadata)


def _kind(annotation: Any) -> tuple[type, bool, bool]:
    """(base type, repeated, optional) of a field annotation such as `int`, `str | None`, `tuple[str, ...]`."""
    args = typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) and type(None) in args:
        base, repeat, _ = _kind(next(arg for arg in args if arg is not type(None)))
        return base, repeat, True
    if typing.get_origin(annotation) is tuple:
        return args[0], True, False
    return annotation, False, False


def _flag_name(field: dataclasses.Field[Any]) -> str:
    return field.metadata.get("flag") or field.name.replace("_", "-")


def flags(cls: type[Any]) -> tuple[Flag, ...]:
    """The options a command line offers for cls, in declaration order (worked out once: every command's start
    declares the flags of every task)."""
    if cls not in _FLAGS:
        _FLAGS[cls] = _declared_flags(cls)
    return _FLAGS[cls]


_FLAGS: dict[type[Any], tuple[Flag, ...]] = {}


def _declared_flags(cls: type[Any]) -> tuple[Flag, ...]:
    hints = typing.get_type_hints(cls)
    found = []
    for field in dataclasses.fields(cls):
        if not field.metadata.get("cli", False):
            continue
        kind, repeat, _ = _kind(hints[field.name])
        found.append(
            Flag(field.name, _flag_name(field), field.metadata["help"], kind, field.default, repeat,
                 field.metadata["choices"])
        )  # fmt: skip
    return tuple(found)


def _coerce(value: Any, kind: type, flag: str) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"--{flag} is a switch, not {value!r}")
    if kind is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"--{flag} must be a whole number, not {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ValueError(f"--{flag} must be a whole number, not {value!r}") from None
    if kind is float:
        try:
            if isinstance(value, bool):
                raise TypeError
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"--{flag} must be a number, not {value!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"--{flag} must be a finite number, not {value!r}")
        return number
    if kind is Path:
        if not str(value).strip():
            raise ValueError(f"--{flag} must be a path, not {value!r}")
        return Path(str(value)).expanduser().resolve()
    return str(value)


def _shown(number: float) -> str:
    """A number as a message shows it: a whole one in full (any size), another as %g."""
    return str(number) if isinstance(number, int) else f"{number:g}"


def _check(value: Any, field: dataclasses.Field[Any], flag: str) -> None:
    minimum = field.metadata.get("minimum")
    if minimum is not None and value < minimum:
        raise ValueError(f"--{flag} must be at least {_shown(minimum)}, not {_shown(value)}")
    maximum = field.metadata.get("maximum")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        maximum = CEILING if maximum is None else maximum
        if value > maximum:
            raise ValueError(f"--{flag} must be at most {_shown(maximum)}, not {_shown(value)}")
    choices = field.metadata.get("choices")
    if choices and value not in choices:
        raise ValueError(f"--{flag} must be one of {', '.join(choices)}, not {value!r}")


def _parse_field(field: dataclasses.Field[Any], annotation: Any, value: Any) -> Any:
    kind, repeat, optional = _kind(annotation)
    flag = _flag_name(field)
    if value is None and optional:
        return None
    if repeat:
        items = [value] if isinstance(value, str) else list(value or ())
        parsed = tuple(_coerce(item, kind, flag) for item in items)
        for item in parsed:
            _check(item, field, flag)
        return parsed
    parsed = _coerce(value, kind, flag)
    _check(parsed, field, flag)
    return parsed


def parse(cls: type[OptionsT], values: Mapping[str, Any]) -> OptionsT:
    """cls from values by field name (None or absent: the default); every problem in one UserError."""
    hints = typing.get_type_hints(cls)
    known = {field.name: field for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise UserError(f"unknown option {unknown[0]!r}: known options are {', '.join(known)}")
    parsed: dict[str, Any] = {}
    problems = []
    for name, field in known.items():
        value = values.get(name)
        try:
            parsed[name] = _parse_field(field, hints[name], field.default if value is None else value)
        except ValueError as problem:
            problems.append(str(problem))
    if problems:
        raise UserError("; ".join(problems))
    return cls(**parsed)


def merged_flags(classes: Sequence[type[Any]]) -> list[Flag]:
    """The flags of several option classes, each name once (domains sharing an option share its flag)."""
    seen: dict[str, Flag] = {}
    for cls in classes:
        for flag in flags(cls):
            seen.setdefault(flag.flag, flag)
    return list(seen.values())
