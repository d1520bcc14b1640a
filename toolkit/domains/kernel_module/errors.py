"""error_handling: mistakes made on purpose must fail cleanly, with an errno and no kernel problem."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from toolkit.domains.base import Verdict
from toolkit.domains.guest import GUEST_DIR
from toolkit.domains.kernel_module.subject import ModuleUnderTest

NUMERIC_TYPES = ("byte", "short", "ushort", "int", "uint", "long", "ulong", "ullong", "hexint", "bool", "invbool")


@dataclass(frozen=True)
class Check:
    """One deliberate mistake: the guest commands, and what a clean failure looks like."""

    name: str
    command: str
    expect: Callable[[int, str, bool], str | None]


def _must_fail_with(*texts: str) -> Callable[[int, str, bool], str | None]:
    def expect(status: int, output: str, loaded: bool) -> str | None:
        if status == 0:
            return "succeeded"
        if loaded:
            return f"failed ({output.strip()}) but left the module loaded"
        if not any(text in output for text in texts):
            return f"failed without the expected reason ({' or '.join(texts)}): {output.strip()}"
        return None

    return expect


def _must_succeed(status: int, output: str, loaded: bool) -> str | None:
    return None if status == 0 else f"failed: {output.strip()}"


def checks(subject: ModuleUnderTest) -> list[Check]:
    name, ko = subject.name, shlex.quote(subject.guest_ko)
    corrupt = f"{GUEST_DIR}/corrupt.ko"
    found = [
        Check("rmmod of an absent module", f"rmmod {name}", _must_fail_with("not currently loaded", "No such file")),
        Check(
            "double insmod",
            f"{subject.insmod_command()} && {{ {subject.insmod_command()}; rc=$?; rmmod {name}; exit $rc; }}",
            _must_fail_with("File exists"),
        ),
        Check(
            "truncated .ko",
            f"head -c 4096 {ko} > {corrupt} && insmod {corrupt}",
            _must_fail_with("Invalid module format", "Exec format error", "Invalid argument", "No such file"),
        ),
        Check(
            "garbage .ko",
            f"head -c 65536 /dev/urandom > {corrupt} && insmod {corrupt}",
            _must_fail_with(
                "Invalid module format", "Exec format error", "Invalid argument", "Bad message", "No such file"
            ),
        ),
        Check(
            "unknown parameter (ignored by the kernel)",
            f"{subject.insmod_command(params=(*subject.options.params, 'vexfs_vmtest_no_such_parameter=1'))} && rmmod {name}",
            _must_succeed,
        ),
    ]
    assert subject.module is not None
    for parameter, kind in sorted(subject.module.parameters.items()):
        if kind in NUMERIC_TYPES:
            params = (*subject.options.params, f"{parameter}=not-a-number")
            found.append(
                Check(
                    f"{kind} parameter {parameter}=not-a-number",
                    subject.insmod_command(params=params),
                    _must_fail_with("Invalid argument", "Invalid parameters"),
                )
            )
    return found


class ErrorHandling:
    name = "error_handling"
    needs = ("unload",)

    def run(self, subject: ModuleUnderTest) -> Verdict:
        outcomes: dict[str, str] = {}
        wrong: list[str] = []
        for check in checks(subject):
            step = subject.guest.step(
                check.name, f"{check.command} 2>&1", subject.options.load_timeout_s, checks=outcomes
            )
            problem = check.expect(step.result.exit_status, step.result.stdout, subject.loaded())
            outcomes[check.name] = problem or (step.result.stdout.strip().splitlines() or ["ok"])[-1]
            if problem:
                wrong.append(f"{check.name}: {problem}")
            subject.unload_quietly()
        metrics: dict[str, Any] = {
            "checks": outcomes,
            "key_metric": f"{len(outcomes) - len(wrong)}/{len(outcomes)} clean",
        }
        if wrong:
            return Verdict.failed("; ".join(wrong), guest_dirty=True, **metrics)
        return Verdict.passed(f"{len(outcomes)} deliberate mistakes all failed cleanly", **metrics)
