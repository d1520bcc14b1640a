"""Verdicts every kernel-module test reaches the same way: kernel-log problems and hung commands."""

from __future__ import annotations

from typing import Any

from toolkit.domains.base import Verdict
from toolkit.domains.kernel_module.subject import ModuleUnderTest
from toolkit.kernel_log import Problem


def from_problems(what: str, problems: list[Problem], **metrics: Any) -> Verdict:
    """Failed, naming the first problem in the kernel's own words; any problem leaves the guest dirty."""
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    excerpt = [line for problem in problems for line in problem.excerpt]
    kinds = sorted({problem.kind for problem in problems})
    return Verdict.failed(
        f"{what}: {problems[0].summary()}{more}", excerpt, guest_dirty=True, problems=kinds, **metrics
    )


def hung(subject: ModuleUnderTest, marker: str, what: str, timeout: float, **metrics: Any) -> Verdict:
    """A guest command outlived its timeout: fail with the kernel's report of the hang, if it made one."""
    problems = subject.problems_since(marker)
    if problems:
        return from_problems(f"{what} did not return within {timeout:g} s", problems, **metrics)
    return Verdict.failed(
        f"{what} did not return within {timeout:g} s and the kernel reported nothing",
        subject.evidence(),
        guest_dirty=True,
        **metrics,
    )
