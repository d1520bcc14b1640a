"""A module that wedges a CPU after it loaded: the run neither hangs nor loses a result; the kernel's own
words say what happened, the guest is rolled back, and the next tests run."""

from __future__ import annotations

import json
import time

import pytest

from toolkit.domains.kernel_module import domain as kernel_module

from .conftest import MODULES

pytestmark = pytest.mark.e2e


def test_a_cpu_wedged_after_load_fails_in_the_kernels_words_and_the_run_goes_on(start, vm_name, tmp_path) -> None:
    started = time.monotonic()
    run = start("test.kernel", "--name", vm_name, "--module-dir", str(MODULES / "wedge_after_load"), "--cycles", "2")
    assert run.process.wait(timeout=900) == 1, run.text
    elapsed = time.monotonic() - started
    saved = json.loads((tmp_path / "results" / "latest" / "results.json").read_text())
    tests = {test["name"]: test for test in saved["runs"][0]["tests"]}
    assert list(tests) == list(kernel_module.DOMAIN.test_names), "every test has its verdict"
    wedged = [test for test in tests.values() if test["status"] in ("failed", "error")]
    assert wedged, tests
    first = wedged[0]
    words = ("soft lockup", "rcu", "blocked for more than", "stopped answering", "did not return")
    assert any(word in first["message"] for word in words), first["message"]
    assert "[guest rolled back to its ready snapshot]" in first["message"] or "guest replaced" in first["message"]
    print(f"wedged after load: {first['name']} {first['status']}: {first['message'][:160]} ({elapsed:.0f} s in all)")
