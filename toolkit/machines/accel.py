"""Which accelerator QEMU can really use here: KVM if a guest boots under it, else TCG."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from toolkit.files import atomic_write

PROBE_MARKER = "vexfs-vmtest: accelerator probe booted"
PROBE_TIMEOUT_S = 30.0


def _host_identity() -> str:
    """Changes when the host reboots or QEMU is upgraded: the probe's answer may change then."""
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    version = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return f"{boot_id} {version}"


def kvm_boots(kernel: Path, initrd: Path) -> bool:
    """Boot the box's kernel under KVM into the initramfs probe, which prints a marker and powers off."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
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
    """'kvm' or 'tcg', probed once per host boot and QEMU version, then remembered."""
    record = state_dir / "accel.json"
    identity = _host_identity()
    if record.is_file():
        known = json.loads(record.read_text())
        if known.get("host") == identity:
            return str(known["accel"])
    accel = "kvm" if kvm_boots(kernel, initrd) else "tcg"
    atomic_write(record, json.dumps({"host": identity, "accel": accel}) + "\n")
    return accel
