"""The vagrant provider on this machine: vm.* through Vagrant and libvirt, and the kernel_module
domain giving the same verdicts as on the qemu provider."""

from __future__ import annotations

import dataclasses
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkit.config import Settings
from toolkit.machines import registry
from toolkit.results.records import Status

from .test_kernel_module_domain import run_module

pytestmark = pytest.mark.e2e

REPO = Path(__file__).parents[2]
MODULES = Path(__file__).parent / "modules"


def _invoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / ".venv/bin/invoke"), *args], cwd=REPO, capture_output=True, text=True, timeout=1200
    )


def _libvirt_domains() -> str:
    return subprocess.run(
        ["virsh", "-c", "qemu:///system", "list", "--all", "--name"], capture_output=True, text=True
    ).stdout


@pytest.fixture(scope="module")
def vagrant_vm(box) -> Iterator[str]:  # noqa: ANN001
    name = f"e2e-vg-{uuid.uuid4().hex[:6]}"
    up = _invoke("vm.up", "--provider", "vagrant", "--name", name)
    assert up.returncode == 0, up.stdout + up.stderr
    yield name
    destroyed = _invoke("vm.destroy", "--name", name)
    assert destroyed.returncode == 0, destroyed.stderr
    assert f"vexfs-{name}" not in _libvirt_domains()
    volumes = subprocess.run(["virsh", "-c", "qemu:///system", "vol-list", "default"], capture_output=True, text=True)
    assert f"vexfs-{name}.img" not in volumes.stdout


def test_vm_tasks_work_through_vagrant(vagrant_vm: str, tmp_path: Path) -> None:
    status = _invoke("vm.status", "--name", vagrant_vm)
    assert "vagrant" in status.stdout and "running" in status.stdout
    assert f"vexfs-{vagrant_vm}" in _libvirt_domains()
    uname = _invoke("vm.run", "--name", vagrant_vm, "--", "uname", "-r")
    assert uname.returncode == 0 and uname.stdout.strip().endswith("-amd64")
    assert _invoke("vm.run", "--name", vagrant_vm, "--", "sh", "-c", "exit 4").returncode == 4
    whoami = _invoke("vm.run", "--name", vagrant_vm, "--sudo", "--", "id", "-u")
    assert whoami.stdout.strip() == "0"


def test_kernel_module_verdicts_match_the_qemu_provider(settings: Settings, vagrant_vm: str, tmp_path: Path) -> None:
    leaky = MODULES / "leaky"
    on_vagrant = run_module(settings_for(settings, "vagrant"), vagrant_vm, tmp_path / "vagrant", module_dir=leaky)
    qemu_vm = f"e2e-q-{uuid.uuid4().hex[:6]}"
    try:
        on_qemu = run_module(settings, qemu_vm, tmp_path / "qemu", module_dir=leaky)
    finally:
        registry.open_existing(settings, qemu_vm).destroy()
    verdicts = [{t.name: t.status for t in record.runs[0].tests} for record in (on_vagrant, on_qemu)]
    assert verdicts[0] == verdicts[1]
    assert verdicts[0]["memory_leak"] is Status.FAILED
    assert [run.provider for run in (on_vagrant.runs[0], on_qemu.runs[0])] == ["vagrant", "qemu"]
    leak = next(t for t in on_vagrant.runs[0].tests if t.name == "memory_leak")
    assert leak.metrics["leaked_bytes"] == 256 and "leaky_init" in leak.message


def settings_for(settings: Settings, provider: str) -> Settings:
    return dataclasses.replace(settings, provider=provider)
