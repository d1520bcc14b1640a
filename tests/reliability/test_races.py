"""Two runs at once: on different VMs they never share a port, overlay or results folder; on the same
VM the second one is refused at once, naming the first."""

from __future__ import annotations

import json
import signal
import time
import uuid
from pathlib import Path

import pytest

from toolkit import config
from toolkit.machines import vm_record

from .conftest import MODULES, invoke

pytestmark = pytest.mark.e2e


def test_a_second_run_on_a_busy_vm_is_refused_at_once(start, vm_name: str, tmp_path: Path) -> None:
    first = start("test.kernel", "--name", vm_name, "--module-dir", str(MODULES / "clean"))
    first.wait_for(f"VM {vm_name} up done")
    started = time.monotonic()
    second = invoke("test.kernel", "--name", vm_name, "--module-dir", str(MODULES / "clean"),
                    env={"VEXFS_RESULTS_DIR": str(tmp_path / "second")})  # fmt: skip
    assert second.returncode == 2 and time.monotonic() - started < 10
    assert f"error: VM '{vm_name}' is in use by pid {first.process.pid} (a test run)" in second.stderr
    assert "--name NAME" in second.stderr and not (tmp_path / "second").exists()
    assert first.stop(signal.SIGTERM)[0] == 143


@pytest.mark.full
def test_two_runs_on_two_vms_at_once_both_finish_apart(start, tmp_path: Path) -> None:
    names = [f"rel-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    try:
        runs = [start("test.kernel", "--name", name, "--cycles", "2", env={"VEXFS_RESULTS_DIR": str(tmp_path / name)})
                for name in names]  # fmt: skip
        assert [run.process.wait(timeout=900) for run in runs] == [0, 0], runs[0].text + runs[1].text
        folders = [json.loads((tmp_path / name / "latest" / "results.json").read_text())["run_id"] for name in names]
        assert folders[0] != folders[1]
        vms = [vm_record.load(config.load(), name) for name in names]
        assert vms[0].ssh_port != vms[1].ssh_port
    finally:
        for name in names:
            invoke("vm.destroy", "--name", name)
