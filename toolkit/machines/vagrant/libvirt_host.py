"""What Vagrant's libvirt provider needs on this host: checked before every use, changed only by
`invoke setup --provider vagrant`, which says what it changed.

Its commands, found by command as toolkit/host_tools.txt lists them: vagrant, the vagrant-libvirt plugin, virsh,
and for a libvirt on this machine its daemons, dnsmasq and iptables. They are installed with apt-get where there
is apt-get; elsewhere the error names the packages and the command that installs them. Then libvirt's daemons
(started by hand when there is no init system to do it), /dev/kvm readable by group kvm (else libvirt re-probes
QEMU on every start), QEMU run as root (so it can read the boxes in root's home), a default storage pool.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from toolkit import host_checks, host_tools
from toolkit.errors import UserError
from toolkit.host_tools import HostTool
from toolkit.machines.vagrant import plugins
from toolkit.machines.vagrant.libvirt_uri import LibvirtUri
from toolkit.progress import Progress

PLUGIN = "vagrant-libvirt"
QEMU_CONF = Path("/etc/libvirt/qemu.conf")
POOL_DIR = "/var/lib/libvirt/images"
DAEMON_WAIT_S = 20.0


def virsh(uri: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["virsh", "-c", uri, *args], capture_output=True, text=True, timeout=timeout)


def missing_tools(uri: str) -> list[HostTool]:
    """What the provider lacks here for uri: its commands, its plugin, and for a libvirt on this machine, libvirt's."""
    missing = host_tools.missing("vagrant")
    if not plugins.installed(PLUGIN):
        missing.append(host_tools.table()[PLUGIN])
    if LibvirtUri.parse(uri).local:
        missing += host_tools.missing("libvirt")
    return missing


def install_tools(uri: str, progress: Progress) -> list[str]:
    """Install what the provider lacks with apt-get (as root); where there is no apt-get, a UserError saying how."""
    missing = missing_tools(uri)
    if not missing:
        return []
    if shutil.which("apt-get") is None:
        raise _lacking(missing, host_tools.install_command(missing))
    packages = list(dict.fromkeys(tool.package("debian") for tool in missing))
    host_checks.require_root(f"installing {' '.join(packages)} for the vagrant provider")
    with progress.step(f"apt-get install {' '.join(packages)}"):
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (
            ["apt-get", "update", "-q"],
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
        ):
            done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=1800)
            if done.returncode != 0:
                raise UserError(
                    f"{' '.join(command[:2])} failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}"
                )
    return [f"installed {' '.join(packages)}"]


def _lacking(missing: list[HostTool], how: str) -> UserError:
    return UserError(f"the vagrant provider needs {', '.join(tool.need for tool in missing)}: {how}")


def _run_qemu_as_root() -> bool:
    """Let libvirt's QEMU read boxes under root's home; True when the setting had to change."""
    text = QEMU_CONF.read_text()
    if 'user = "root"' in text.splitlines():
        return False
    QEMU_CONF.write_text(
        text.rstrip("\n") + '\n# vexfs-vmtest: boxes live in root\'s home\nuser = "root"\ngroup = "root"\n'
    )
    return True


KVM = Path("/dev/kvm")


def _kvm_needs_group() -> bool:
    return KVM.exists() and (KVM.stat().st_mode & 0o060) != 0o060


def _kvm_device_for_group() -> list[str]:
    if not _kvm_needs_group():
        return []
    subprocess.run(["chgrp", "kvm", str(KVM)], check=False)
    KVM.chmod(0o660)
    return ["gave /dev/kvm to group kvm, mode 660"]


def _start_daemons(uri: str, restart: bool, progress: Progress) -> list[str]:
    answering = virsh(uri, "version", timeout=15).returncode == 0
    if answering and not restart:
        return []
    with progress.step("starting virtlogd and libvirtd"):
        if answering:
            subprocess.run(["pkill", "-x", "libvirtd"], check=False)
            time.sleep(1)
        if subprocess.run(["pgrep", "-x", "virtlogd"], capture_output=True).returncode != 0:
            subprocess.run(["virtlogd", "-d"], check=True)
        subprocess.run(["libvirtd", "-d"], check=True)
        deadline = time.monotonic() + DAEMON_WAIT_S
        while virsh(uri, "version", timeout=15).returncode != 0:
            if time.monotonic() > deadline:
                raise UserError(f"libvirtd does not answer at {uri} after {DAEMON_WAIT_S:g} s: see `libvirtd -v`")
            time.sleep(0.5)
    return ["restarted libvirtd" if answering else "started virtlogd and libvirtd"]


def _storage_pool(uri: str) -> list[str]:
    if virsh(uri, "pool-info", "default").returncode == 0:
        if "running" not in virsh(uri, "pool-info", "default").stdout:
            virsh(uri, "pool-start", "default")
            return ["started storage pool default"]
        return []
    for args in (("pool-define-as", "default", "dir", "--target", POOL_DIR), ("pool-build", "default"),
                 ("pool-start", "default"), ("pool-autostart", "default")):  # fmt: skip
        done = virsh(uri, *args)
        if done.returncode != 0:
            raise UserError(f"virsh {args[0]} failed: {done.stderr.strip()}")
    return [f"defined storage pool default in {POOL_DIR}"]


def prepare(uri: str, progress: Progress) -> list[str]:
    """Make this host ready for vagrant-libvirt; what changed. A remote libvirt host is the user's to prepare:
    it is only checked (it answers over SSH, has a directory pool 'default')."""
    changed = install_tools(uri, progress)
    if not uri.startswith("qemu:///"):
        check(uri)
        return changed
    host_checks.require_root("preparing the local libvirt for the vagrant provider")
    changed += _kvm_device_for_group()
    restart = _run_qemu_as_root()
    if restart:
        changed.append(f"{QEMU_CONF}: QEMU runs as root (boxes live in root's home)")
    changed += _start_daemons(uri, restart, progress)
    changed += _storage_pool(uri)
    return changed


def check(uri: str) -> None:
    """Everything vagrant-libvirt needs is there and answering; else say how to prepare it. Changes nothing."""
    fix = "run `invoke setup --provider vagrant` first"
    LibvirtUri.parse(uri).require_reachable_guests()
    missing = missing_tools(uri)
    if missing:
        raise _lacking(missing, fix if shutil.which("apt-get") else host_tools.install_command(missing))
    if virsh(uri, "version", timeout=30).returncode != 0:
        hint = "check the URI and that you can ssh there" if not uri.startswith("qemu:///") else fix
        raise UserError(f"libvirt at {uri} does not answer: {hint}")
    if uri.startswith("qemu:///") and (_kvm_needs_group() or 'user = "root"' not in QEMU_CONF.read_text().splitlines()):
        raise UserError(f"the local libvirt is not set up for vexfs-vmtest boxes: {fix}")
    pool = virsh(uri, "pool-dumpxml", "default")
    if pool.returncode != 0:
        raise UserError(f"libvirt at {uri} has no storage pool 'default': {fix}")
    if not LibvirtUri.parse(uri).local and not re.match(r"\s*<pool type='(dir|fs|netfs)'", pool.stdout):
        raise UserError(
            f"libvirt at {uri}: its pool 'default' keeps no files (not a dir, fs or netfs pool), and a remote host "
            "needs the kernel, initrd and console as files there: make 'default' a directory pool"
        )
