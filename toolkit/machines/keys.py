"""The installation's own SSH key: made once, never a well-known insecure key."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from toolkit import host_checks


def ensure_key(state_dir: Path) -> Path:
    """The private key's path, generating an ed25519 pair on first use."""
    private = state_dir / "ssh" / "id_ed25519"
    if not private.exists():
        ssh_keygen = host_checks.require_tool("ssh-keygen")
        private.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = private.with_name("id_ed25519.tmp")
        for stale in (tmp, tmp.with_suffix(".tmp.pub")):
            stale.unlink(missing_ok=True)
        command = [ssh_keygen, "-q", "-t", "ed25519", "-N", "", "-C", "vexfs-vmtest", "-f", str(tmp)]
        subprocess.run(command, check=True, stdin=subprocess.DEVNULL)
        tmp.with_suffix(".tmp.pub").rename(private.with_suffix(".pub"))
        tmp.rename(private)
    return private


def public_key(private: Path) -> Path:
    return private.with_suffix(".pub")


def fingerprint(private: Path) -> str:
    return hashlib.sha256(public_key(private).read_bytes()).hexdigest()[:8]
