"""Which accelerator QEMU can really use here: KVM if a guest boots under it, else TCG.

A /dev/kvm this user may not open is said once per command, with how to get access: that is the one
case the user can fix. A /dev/kvm that is open to them yet boots no guest falls back to TCG quietly.
"""

from __future__ import annotations

import functools
import grp
import json
import os
import subprocess
import sys
from pathlib import Path

from toolkit.files import atomic_write

PROBE_MARKER = "vexfs-vmtest: accelerator probe booted"
PROBE_TIMEOUT_S = 30.0
KVM_DEVICE = Path("/dev/kvm")


def kvm_denied_warning(device: Path) -> str | None:
    """The warning when device exists but this user cannot open it read-write; None otherwise."""
    if not device.exists() or os.access(device, os.R_OK | os.W_OK):
        return None
    gid = device.stat().st_gid
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = str(gid)
    return (
        f"warning: {device} is not usable by you (no read/write access): add yourself to group {group} "
        f"(sudo usermod -aG {group} $USER, then log in again) to run guests many times faster; using TCG"
    )


@functools.cache
def _warn_once(message: str) -> None:
    print(message, file=sys.stderr)


def _host_identity() -> str:
    """Changes when the host reboots or QEMU is upgraded: the probe's answer may change then."""
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    version = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return f"{boot_id} {version}"


def kvm_boots(kernel: Path, initrd: Path) -> bool:
    """Boot the box's kernel under KVM into the initramfs probe, which prints a marker and powers off."""
    if not os.access(KVM_DEVICE, os.R_OK | os.W_OK):
        return False
    command = [
        "qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-m", "512", "-nodefaults", "-no-user-config",
        "-display", "none", "-no-reboot", "-serial", "stdio", "-kernel", str(kernel), "-initrd", str(initrd),
        "-append", "console=ttyS0 vexfs.probe panic=-1",
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0 and PROBE_MARKER in done.stdout


def accelerator(state_dir: Path, kernel: Path, initrd: Path) -> str:
    """'kvm' or 'tcg', probed once per host boot and QEMU version, then remembered; 'tcg' with a warning, and
    nothing remembered, while /dev/kvm is there but not this user's to open (access may come before a reboot)."""
    denied = kvm_denied_warning(KVM_DEVICE)
    if denied:
        _warn_once(denied)
        return "tcg"
    record = state_dir / "accel.json"
    identity = _host_identity()
    if record.is_file():
        known = json.loads(record.read_text())
        if known.get("host") == identity:
            return str(known["accel"])
    accel = "kvm" if kvm_boots(kernel, initrd) else "tcg"
    atomic_write(record, json.dumps({"host": identity, "accel": accel}) + "\n")
    return accel
