"""Room on a host for one more VM: vCPUs its CPUs run, memory beside a reserve, disk for an overlay; checked before
any command starts a VM."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest

from toolkit import config, host_capacity
from toolkit.errors import UserError
from toolkit.machines import registry
from toolkit.machines.vagrant.libvirt_capacity import HostCapacity
from toolkit.tasks import common

PLENTY = {"mem_available_mib": 64_000, "load_1m": 0.1, "disk_free_gib": 100.0}


@pytest.fixture
def settings(tmp_path: Path) -> config.Settings:
    return config.load({"cache_dir": str(tmp_path / "cache"), "state_dir": str(tmp_path / "state")}, environ={})


@pytest.fixture
def two_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_capacity.psutil, "cpu_count", lambda: 2)
    monkeypatch.setattr(host_capacity, "host_vitals", lambda settings: PLENTY)


def test_a_qemu_vm_gets_at_most_two_vcpus_per_host_cpu(settings: config.Settings, two_cpus: None) -> None:
    host_capacity.require_host_capacity(dataclasses.replace(settings, cpus=4))
    with pytest.raises(UserError) as raised:
        host_capacity.require_host_capacity(dataclasses.replace(settings, cpus=5))
    assert str(raised.value) == (
        "cpus 5 is more than this host runs well: it has 2 CPU(s), a VM gets at most 2 vCPUs per CPU (more only "
        "take turns and slow the guest down): set cpus to 4 or fewer in vmtest.toml or VEXFS_CPUS"
    )


def test_a_qemu_vm_needs_its_memory_and_the_hosts_reserve_available(
    settings: config.Settings, two_cpus: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(host_capacity, "host_vitals", lambda settings: {**PLENTY, "mem_available_mib": 3000})
    with pytest.raises(UserError, match="the host has 3000 MiB available, a VM needs 2048 MiB and the host keeps 1024"):
        host_capacity.require_host_capacity(settings)


def test_a_vagrant_vm_is_measured_against_what_its_libvirt_reports(
    settings: config.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    vagrant = dataclasses.replace(settings, provider="vagrant", cpus=3)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(UserError, match=r"virsh not found: install libvirt-clients \(Debian/Ubuntu\)"):
        host_capacity.require_host_capacity(vagrant)
    monkeypatch.setattr(host_capacity.host_checks, "require_tool", lambda name: name)
    monkeypatch.setattr(host_capacity.libvirt_capacity, "read", lambda uri: HostCapacity(uri, 1, 64_000))
    with pytest.raises(UserError, match="cpus 3 is more than libvirt at qemu:///system runs well: it has 1 CPU"):
        host_capacity.require_host_capacity(vagrant)
    host_capacity.require_host_capacity(dataclasses.replace(vagrant, cpus=2))


def test_a_command_about_to_start_a_vm_checks_the_room_unless_the_vm_runs_already(
    settings: config.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = []
    monkeypatch.setattr(host_capacity, "require_host_capacity", lambda settings: asked.append(settings.cpus))
    common.require_room(settings, "new")
    assert asked == [settings.cpus]
    monkeypatch.setattr(registry, "exists", lambda settings, name: True)
    monkeypatch.setattr(registry, "open_existing", lambda settings, name: SimpleNamespace(running=lambda: True))
    common.require_room(settings, "up")
    assert asked == [settings.cpus], "a running VM takes no more room"
