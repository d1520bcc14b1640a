"""The domain registry: every package under toolkit/domains/ that declares `DECLARATION` in its `__init__` is a
domain of that name, and its `domain` module defines the `DOMAIN` it runs as.

Commands know domains through their declarations (names, options, --quick), which load no tests; the runner,
results and reports through the `Domain`s, loaded when a run starts. Adding a domain is adding a package (and a
task to start it), nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import TYPE_CHECKING, Any

from toolkit.domains.declaration import Declaration
from toolkit.errors import UserError

if TYPE_CHECKING:
    from toolkit.domains.base import Domain


@cache
def declared() -> dict[str, Declaration]:
    """Every domain's declaration, by name, in the order of their package names."""
    found: dict[str, Declaration] = {}
    for package in sorted(info.name for info in pkgutil.iter_modules(__path__) if info.ispkg):
        declaration = getattr(importlib.import_module(f"{__name__}.{package}"), "DECLARATION", None)
        if isinstance(declaration, Declaration):
            found[declaration.name] = declaration
    return found


@cache
def registered() -> dict[str, Domain[Any]]:
    """Every domain, by name, in the order of their package names (their tests loaded)."""
    return {name: importlib.import_module(f"{__name__}.{name}.domain").DOMAIN for name in declared()}


def select(name: str) -> Domain[Any]:
    """The domain called name; the error lists what exists."""
    if name not in declared():
        raise UserError(f"unknown domain {name!r}: choose one of {', '.join(declared())}")
    return registered()[name]


def select_many(names: str) -> list[Domain[Any]]:
    """Domains from a comma-separated list, in registry order, no repeats."""
    chosen = {select(name.strip()).name for name in names.split(",") if name.strip()}
    if not chosen:
        raise UserError(f"no domain given: name one or more of {', '.join(declared())}")
    return [domain for name, domain in registered().items() if name in chosen]
