"""A remote libvirt host: this machine's own libvirtd reached as `qemu+ssh://root@127.0.0.1:PORT/system`
through a real OpenSSH sshd the test starts (its own config, host key and port; key-only login), which
the toolkit treats as it would any remote host: kernel, initrd and console as volumes there, the guest
reached through SSH to the host. Then a matrix spreading two lines over that host and qemu:///system."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import VEXFS_TESTS

pytestmark = pytest.mark.e2e

REPO = Path(__file__).parents[2]
SSHD = Path("/usr/sbin/sshd")
SSHD_CONFIG = """\
ListenAddress 127.0.0.1
Port {port}
HostKey {dir}/host_key
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
LogLevel DEBUG1
"""


@dataclass(frozen=True)
class RemoteHost:
    uri: str
    log: Path

    def sessions(self) -> str:
        return self.log.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@pytest.fixture(scope="module")
def remote_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteHost]:
    if os.geteuid() != 0 or not SSHD.exists() or shutil.which("virsh") is None:
        pytest.skip("needs root, OpenSSH's sshd (apt-get install openssh-server) and libvirt")
    folder = tmp_path_factory.mktemp("sshd")
    _keygen(folder / "host_key")
    _keygen(folder / "client_key")
    shutil.copyfile(folder / "client_key.pub", folder / "authorized_keys")
    port = _free_port()
    (folder / "sshd_config").write_text(SSHD_CONFIG.format(port=port, dir=folder))
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory (no init system made it)
    log = folder / "sshd.log"
    sshd = subprocess.Popen([str(SSHD), "-D", "-f", str(folder / "sshd_config"), "-E", str(log)])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"sshd did not listen on port {port}: {log.read_text(errors='replace')[-500:]}")
        yield RemoteHost(f"qemu+ssh://root@127.0.0.1:{port}/system?keyfile={folder}/client_key&no_verify=1", log)
    finally:
        sshd.terminate()
        sshd.wait(timeout=10)


def _invoke(*args: str, uri: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "VEXFS_LIBVIRT_URI": uri, **env}
    command = [str(REPO / ".venv/bin/invoke"), *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1800, env=environment)


def _virsh(uri: str, *args: str) -> str:
    return subprocess.run(["virsh", "-c", uri, *args], capture_output=True, text=True, timeout=120).stdout


def test_a_module_is_tested_on_a_libvirt_host_reached_over_ssh(box, remote_host: RemoteHost, tmp_path: Path) -> None:  # noqa: ANN001
    name = f"e2e-remote-{uuid.uuid4().hex[:6]}"
    uri, results = remote_host.uri, tmp_path / "results"
    done = _invoke("test.kernel", "--provider", "vagrant", "--name", name, "--cycles", "3", uri=uri,
                   VEXFS_RESULTS_DIR=str(results))  # fmt: skip
    try:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert f"{VEXFS_TESTS} passed, 0 failed, 0 error, 0 skipped" in done.stdout
        run = json.loads((results / "latest" / "results.json").read_text())["runs"][0]
        assert (run["provider"], run["libvirt_uri"]) == ("vagrant", uri)

        domain = _virsh(uri, "dumpxml", f"vexfs-{name}")
        pool = "/var/lib/libvirt/images/"
        assert re.search(rf"<kernel>{pool}vexfs-bookworm-\S+-vmlinux</kernel>", domain)  # a copy on the host
        assert f"<source path='{pool}vexfs-{name}-console.log'/>" in domain
        console = _invoke("vm.console", "--name", name, uri=uri)
        assert "vexfs-vm login:" in console.stdout  # downloaded from the host's console volume
        address = _invoke("vm.status", "--name", name, "--json", uri=uri)
        guest = json.loads(address.stdout)[0]["ssh"].split(":")[0]
        log = remote_host.sessions()
        assert "Accepted publickey for root from 127.0.0.1" in log and "Starting session: command for root" in log
        assert f"target {guest} port 22" in log  # the guest was reached through the libvirt host's sshd
    finally:
        destroyed = _invoke("vm.destroy", "--name", name, uri=uri)
    assert destroyed.returncode == 0, destroyed.stderr
    assert f"vexfs-{name}" not in _virsh(uri, "list", "--all", "--name")
    assert f"vexfs-{name}" not in _virsh(uri, "vol-list", "default")


@pytest.mark.full
def test_a_matrix_spreads_lines_over_hosts_one_vm_each_when_one_fits(
    box, remote_host: RemoteHost, tmp_path: Path
) -> None:  # noqa: ANN001
    hosts = f"qemu:///system,{remote_host.uri}"
    done = subprocess.run(
        [str(REPO / ".venv/bin/nox"), "-s", "kernel-matrix", "--", "--hosts", hosts, "--provider", "vagrant",
         "--kernels", "6.1,5.10", "--domains", "kernel_module", "--cycles", "3"],
        cwd=REPO, capture_output=True, text=True, timeout=2400,
        env={**os.environ, "VEXFS_RESULTS_DIR": str(tmp_path / "results")},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # 2 CPUs here, 2 vCPUs a VM: each host takes one VM at a time (its CPUs as libvirt reports them)
    assert f"[matrix] 2 lines (5.10, 6.1), 1 on qemu:///system, 1 on {remote_host.uri} at a time" in done.stdout
    data = json.loads((tmp_path / "results" / "latest" / "results.json").read_text())
    assert sorted(run["libvirt_uri"] for run in data["runs"]) == sorted(hosts.split(","))
    assert data["summary"] == {"passed": 2 * VEXFS_TESTS, "failed": 0, "error": 0, "flaky": 0, "skipped": 0, "known": 0}
    spans = [(run["tests"][0]["started"], run["tests"][-1]["started"]) for run in data["runs"]]
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]  # the two lines ran at the same time
