"""Which accelerator QEMU can really use here: KVM if a guest boots under it, else TCG.

A /dev/kvm this user may not open is said once per command, with how to get access: that is the one
case the user can fix. A /dev/kvm that is open to them yet boots no guest falls back to TCG quietly.
"""

from __future__ import annotations

import functools
import grp
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

from toolkit.files import atomic_write

PROBE_MARKER = "vexfs-vmtest: accelerator probe booted"
PROBE_TIMEOUT_S = 30.0
FIRST_OUTPUT_S = 3.0  # TCG prints the first line 0.07 s into its boot here
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
    """Boot the box's kernel under KVM into the initramfs probe, which prints a marker and powers off. Given up
    when the guest prints nothing within FIRST_OUTPUT_S: a guest that runs at all prints the boot stub's first
    line (earlyprintk) within a tenth of a second, even under TCG; a /dev/kvm that runs no guest prints nothing."""
    if not os.access(KVM_DEVICE, os.R_OK | os.W_OK):
        return False
    command = [
        "qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-m", "512", "-nodefaults", "-no-user-config",
        "-display", "none", "-no-reboot", "-serial", "stdio", "-kernel", str(kernel), "-initrd", str(initrd),
        "-append", "console=ttyS0 earlyprintk=ttyS0 vexfs.probe panic=-1",
    ]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL) as qemu:
        try:
            output = _probe_output(qemu)
        finally:
            if qemu.poll() is None:
                qemu.kill()
    return output is not None and PROBE_MARKER in output


def _probe_output(qemu: subprocess.Popen[bytes]) -> str | None:
    """What the probe printed, once it exited on its own with status 0; None when it did not, printed nothing
    within FIRST_OUTPUT_S or had not exited within PROBE_TIMEOUT_S."""
    assert qemu.stdout is not None
    output, start = b"", time.monotonic()
    while True:
        left = start + (PROBE_TIMEOUT_S if output else FIRST_OUTPUT_S) - time.monotonic()
        if left <= 0 or not select.select([qemu.stdout], [], [], left)[0]:
            return None
        chunk = os.read(qemu.stdout.fileno(), 65536)
        if not chunk:  # it exited, or is about to
            try:
                exited_well = qemu.wait(timeout=max(left, 1.0)) == 0
            except subprocess.TimeoutExpired:
                return None
            return output.decode(errors="replace") if exited_well else None
        output += chunk


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
