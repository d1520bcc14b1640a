"""The domain registry: every package under toolkit/domains/ that defines `DOMAIN` is a domain.

Commands, the runner, results and reports know domains only through here: adding a domain is
adding a package (and a task to start it), nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

from toolkit.domains.base import Domain
from toolkit.errors import UserError


@cache
def registered() -> dict[str, Domain[Any]]:
    """Every domain, by name, in the order of their package names."""
    found: dict[str, Domain[Any]] = {}
    for package in sorted(info.name for info in pkgutil.iter_modules(__path__) if info.ispkg):
        domain = getattr(importlib.import_module(f"{__name__}.{package}"), "DOMAIN", None)
        if isinstance(domain, Domain):
            found[domain.name] = domain
    return found


def select(name: str) -> Domain[Any]:
    """The domain called name; the error lists what exists."""
    try:
        return registered()[name]
    except KeyError:
        raise UserError(f"unknown domain {name!r}: choose one of {', '.join(registered())}") from None


def select_many(names: str) -> list[Domain[Any]]:
    """Domains from a comma-separated list, in registry order, no repeats."""
    chosen = {select(name.strip()).name for name in names.split(",") if name.strip()}
    if not chosen:
        raise UserError(f"no domain given: name one or more of {', '.join(registered())}")
    return [domain for name, domain in registered().items() if name in chosen]
