"""build: the module's build judged, its .ko's vermagic checked against the guest's kernel."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from toolkit.domains.base import Verdict
from toolkit.domains.module.subject import ModuleUnderTest


class Build:
    name = "build"
    needs: tuple[str, ...] = ()
    retried = False  # it judges the build made once before the cases ran: a restored guest cannot change that

    def run(self, subject: ModuleUnderTest) -> Verdict:
        build = subject.build
        metrics: dict[str, Any] = {
            "where": build.where,
            "build_s": round(build.duration_s, 2),
            "warnings": len(build.warnings),
        }
        if not build.ok:
            failed = Verdict.failed(
                f"build failed ({build.where}): {build.first_error}", build.output.splitlines()[-40:], **metrics
            )
            return replace(failed, duration_s=build.duration_s)
        module = subject.module
        assert module is not None
        running = module.vermagic.split()[0] if module.vermagic else ""
        metrics.update(
            ko_size_bytes=module.size_bytes,
            vermagic=module.vermagic,
            srcversion=module.srcversion,
            key_metric=f"{module.size_bytes / 1024:.0f} KiB, {build.where}",
        )
        if running != subject.kernel_release:
            mismatch = Verdict.failed(
                f"vermagic {running!r} does not match the guest kernel {subject.kernel_release!r}", **metrics
            )
            return replace(mismatch, duration_s=build.duration_s)
        note = f", {len(build.warnings)} warnings: {build.warnings[0].strip()}" if build.warnings else ", no warnings"
        passed = Verdict.passed(f"built in the {build.where} in {build.duration_s:.1f} s{note}", **metrics)
        return replace(passed, duration_s=build.duration_s)
