"""Spreading kernel lines over libvirt hosts: each host's capacity as its libvirt reports it (real `virsh`
output recorded on this project's 2-core machine), and lines handed to hosts as they free up."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest

from toolkit import config, host_pool
from toolkit.errors import UserError
from toolkit.host_pool import HostPool
from toolkit.machines.vagrant import libvirt_capacity

FIXTURES = Path(__file__).parent / "fixtures" / "libvirt"
NODEINFO = (FIXTURES / "nodeinfo.txt").read_text()
NODEMEMSTATS = (FIXTURES / "nodememstats.txt").read_text()


def _recorded(uri: str) -> libvirt_capacity.HostCapacity:
    return libvirt_capacity.parse(uri, NODEINFO, NODEMEMSTATS)


def test_capacity_is_the_hosts_cpus_and_free_plus_reclaimable_memory() -> None:
    host = _recorded("qemu:///system")
    assert (host.cpus, host.available_mib) == (2, (8545148 + 157508 + 9863568) // 1024)


def test_a_host_takes_as_many_vms_as_fit_its_cpus_and_memory_never_more() -> None:
    host = _recorded("qemu:///system")
    assert host.vms(cpus=2, memory_mib=2048) == 1  # CPUs bound: 2 CPUs, 2 vCPUs a VM
    assert host.vms(cpus=1, memory_mib=2048) == 2
    assert host.vms(cpus=1, memory_mib=12000) == 1  # memory bound: 18131 MiB less the 1024 MiB reserve
    assert host.vms(cpus=4, memory_mib=512) == 0 and host.vms(cpus=1, memory_mib=20000) == 0


def test_a_host_whose_libvirt_tells_no_cpus_or_memory_is_a_user_error() -> None:
    with pytest.raises(UserError, match=r"libvirt at qemu\+ssh://h/system reports no CPU\(s\)"):
        libvirt_capacity.parse("qemu+ssh://h/system", "", NODEMEMSTATS)
    with pytest.raises(UserError, match="reports no cached"):
        libvirt_capacity.parse("qemu+ssh://h/system", NODEINFO, NODEMEMSTATS.replace("cached", "other"))


def _pool() -> HostPool:
    """Two hosts of the recorded size: VMs of 2 vCPUs on one (1 at once), of 1 vCPU on the other (2 at once)."""
    return HostPool({"qemu:///system": _recorded("a").vms(2, 2048), "qemu+ssh://b/system": _recorded("b").vms(1, 2048)})


def test_lines_go_first_to_the_host_with_most_free_slots_then_wait_for_one_to_free_up() -> None:
    pool = _pool()
    with pool.host() as first, pool.host() as second:
        taken = [first, second]
        with pool.host() as third:
            taken.append(third)
            waiter = threading.Thread(target=lambda: taken.append(pool.host().__enter__()))
            waiter.start()
            time.sleep(0.2)
            assert len(taken) == 3 and waiter.is_alive()  # every slot is held: the fourth line waits
        waiter.join(timeout=5)
        assert taken == ["qemu+ssh://b/system", "qemu:///system", "qemu+ssh://b/system", "qemu+ssh://b/system"]


def test_many_lines_never_oversubscribe_a_host() -> None:
    pool = _pool()
    running = dict.fromkeys(pool.slots, 0)
    most = dict(running)
    lock = threading.Lock()

    def line() -> None:
        with pool.host() as host:
            with lock:
                running[host] += 1
                most[host] = max(most[host], running[host])
            time.sleep(0.02)
            with lock:
                running[host] -= 1

    threads = [threading.Thread(target=line) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == pool.slots == {"qemu:///system": 1, "qemu+ssh://b/system": 2}


def test_a_limit_keeps_slots_from_the_hosts_with_most_and_a_host_without_any_is_left_out() -> None:
    assert HostPool({"a": 1, "b": 3, "c": 0}, limit=2).slots == {"b": 2}
    assert HostPool({"a": 2, "b": 2}, limit=3).slots == {"a": 2, "b": 1}
    with pytest.raises(UserError, match="no host can run a VM now: a, b"):
        HostPool({"a": 0, "b": 0})


def test_hosts_are_for_the_vagrant_provider_and_jobs_must_be_positive(tmp_path: Path) -> None:
    settings = config.load(cwd=tmp_path, environ={"VEXFS_STATE_DIR": str(tmp_path)})
    with pytest.raises(UserError, match="--hosts spreads lines over libvirt hosts: it needs --provider vagrant"):
        host_pool.matrix_hosts(settings, 2, None, ["qemu:///system"])
    with pytest.raises(UserError, match="--jobs must be at least 1, not 0"):
        host_pool.matrix_hosts(dataclasses.replace(settings, provider="vagrant"), 2, 0, ["qemu:///system"])
