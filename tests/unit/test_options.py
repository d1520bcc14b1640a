"""Declared domain options: parsed from any command line's values, every problem said in one line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from toolkit import domains
from toolkit.domains.module.options import ModuleOptions
from toolkit.domains.options import CEILING, flags, merged_flags, option, parse
from toolkit.errors import UserError


@dataclass(frozen=True)
class Sample:
    where: Path = option(Path("."), "a directory")
    count: int = option(3, "how many", minimum=1)
    ratio: float = option(0.5, "a fraction", minimum=0)
    mode: str = option("fast", "how", choices=("fast", "slow"))
    names: tuple[str, ...] = option((), "repeatable", flag="name")
    chosen: str | None = option(None, "optional")
    hidden: float = option(9.0, "not on the command line", cli=False)


def test_text_from_a_command_line_becomes_the_declared_types(tmp_path: Path) -> None:
    parsed = parse(Sample, {"where": str(tmp_path), "count": "7", "ratio": "0.25", "names": ["a", "b c"]})
    assert parsed == Sample(tmp_path.resolve(), 7, 0.25, "fast", ("a", "b c"), None)
    assert parse(Sample, {}).where == Path(".").resolve()
    assert parse(Sample, {"names": "one"}).names == ("one",)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"count": "abc"}, "--count must be a whole number, not 'abc'"),
        ({"count": 2.7}, "--count must be a whole number, not 2.7"),
        ({"count": True}, "--count must be a whole number, not True"),
        ({"count": "0"}, "--count must be at least 1, not 0"),
        ({"ratio": "x"}, "--ratio must be a number, not 'x'"),
        ({"mode": "warp"}, "--mode must be one of fast, slow, not 'warp'"),
        ({"nothing": 1}, "unknown option 'nothing'"),
        ({"where": ""}, "--where must be a path, not ''"),
        ({"where": "  "}, "--where must be a path, not '  '"),
    ],
)
def test_bad_values_are_refused_with_the_flag_and_the_rule(values: dict[str, object], message: str) -> None:
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(Sample, values)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(UserError, match="--count must be a whole number.*; --mode must be one of"):
        parse(Sample, {"count": "x", "mode": "warp"})


def test_flags_list_what_a_command_line_offers_in_declaration_order() -> None:
    listed = [(flag.flag, flag.repeat, flag.kind) for flag in flags(Sample)]
    assert listed == [("where", False, Path), ("count", False, int), ("ratio", False, float), ("mode", False, str),
                      ("name", True, str), ("chosen", False, str)]  # fmt: skip
    assert [flag.flag for flag in merged_flags([Sample, Sample])] == [flag.flag for flag in flags(Sample)]


def test_the_kernel_module_domain_declares_its_command_line_once() -> None:
    assert [flag.flag for flag in flags(ModuleOptions)] == [
        "module-dir",
        "module",
        "module-param",
        "build-in",
        "guest-tests",
        "workload",
        "cycles",
        "keep-build",
    ]
    assert domains.select("kernel_module").options is ModuleOptions
    assert list(domains.registered()) == ["filesystem", "kernel_module"]
    with pytest.raises(UserError, match="no domain given"):
        domains.select_many(" , ")


def test_each_domain_runs_as_it_is_declared() -> None:
    """What the commands offer (the declaration, in the package's __init__) is what the runner runs."""
    for name, declaration in domains.declared().items():
        domain = domains.registered()[name]
        assert (domain.name, domain.summary, domain.options, domain.quick) == (
            name, declaration.summary, declaration.options, declaration.quick
        )  # fmt: skip
    with pytest.raises(UserError, match="unknown domain 'nope': choose one of filesystem, kernel_module"):
        domains.select("nope")


@dataclass(frozen=True)
class Bounded:
    rounds: int = option(3, "declared bounds", minimum=1, maximum=1000)
    seconds: float = option(5.0, "a declared maximum", minimum=1, maximum=86_400)
    count: int = option(2, "no maximum declared", minimum=1)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"rounds": "1001"}, "--rounds must be at most 1000, not 1001"),
        ({"rounds": "99999999999999999999"}, "--rounds must be at most 1000, not 99999999999999999999"),
        ({"rounds": "-" + "9" * 400}, "--rounds must be at least 1, not -9999"),
        ({"seconds": "86401"}, "--seconds must be at most 86400, not 86401"),
        ({"seconds": "1e999"}, "--seconds must be a finite number, not '1e999'"),
        ({"seconds": "9" * 400}, "--seconds must be a finite number"),
        ({"seconds": "nan"}, "--seconds must be a finite number, not 'nan'"),
        ({"seconds": "-inf"}, "--seconds must be a finite number, not '-inf'"),
        ({"count": "100001"}, f"--count must be at most {CEILING}, not 100001"),
        ({"count": float("inf")}, "--count must be a whole number, not inf"),
    ],
)
def test_numbers_are_bounded_above_too_so_none_overflows_later(values: dict[str, object], message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse(Bounded, values)


def test_numbers_at_their_bounds_are_taken() -> None:
    assert parse(Bounded, {"rounds": "1000", "seconds": "86400", "count": str(CEILING)}) == Bounded(
        1000, 86400.0, CEILING
    )


def test_every_numeric_option_of_every_domain_and_run_is_bounded() -> None:
    from toolkit.run_options import RunOptions

    for cls in [RunOptions, *(domain.options for domain in domains.registered().values())]:
        for flag in flags(cls):
            if flag.kind in (int, float):
                with pytest.raises(UserError, match=f"--{flag.flag} must be at most"):
                    parse(cls, {flag.field: "99999999999999999999"})
