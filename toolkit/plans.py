"""What a run means to do: each domain with its options and which of its tests how often (a `Plan`), checked
before anything starts, and the verdicts it will give (`planned`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from toolkit import domains
from toolkit.config import Settings
from toolkit.domains import options
from toolkit.domains.base import Domain
from toolkit.domains.selection import EVERY_TEST, Selection
from toolkit.errors import UserError
from toolkit.kernels import KernelLine
from toolkit.results.records import PlannedRun


@dataclass(frozen=True)
class Plan:
    """One domain to run, with its options, and which of its tests how often."""

    domain: Domain[Any]
    options: Any
    selection: Selection = EVERY_TEST


def plan(domain_name: str, values: dict[str, Any], selection: Selection = EVERY_TEST, quick: bool = False) -> Plan:
    """The named domain with options parsed from command-line values (None: the domain's default, or with quick
    its quick value)."""
    domain = domains.select(domain_name)
    known = {field.name for field in dataclasses.fields(domain.options)}
    given = {k: v for k, v in values.items() if k in known}
    if quick:
        given.update({k: v for k, v in domain.quick.items() if given.get(k) is None})
    return Plan(domain, options.parse(domain.options, given), selection)


def check(plans: Sequence[Plan], settings: Settings) -> None:
    """Every plan's constraints before anything starts, all problems in one UserError (the results folder was
    checked with the settings: Settings.validate)."""
    problems = [problem for plan in plans for problem in plan.domain.constraints(plan.options, settings)]
    if problems:
        raise UserError("; ".join(dict.fromkeys(problems)))


def planned(settings: Settings, plans: Sequence[Plan], lines: Sequence[KernelLine]) -> list[PlannedRun]:
    """The tests a run of plans on lines means to give a verdict for."""
    return [PlannedRun(line.name, plan.domain.name, settings.provider, plan.domain.describe(plan.options),
                       tuple(case.name for case in plan.selection.cases(plan.domain.cases)))
            for line in lines for plan in plans]  # fmt: skip
