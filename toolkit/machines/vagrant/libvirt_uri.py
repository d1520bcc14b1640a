"""A libvirt connection URI read as data: local or remote, and for a remote host the SSH hop that reaches
its guests (a guest sits on the host's private libvirt network, which only the host can reach).

libvirt's own URI syntax (https://libvirt.org/uri.html): `qemu:///system` is this machine;
`qemu+ssh://user@host:port/system?keyfile=KEY&no_verify=1` is a host reached over SSH, which is the
only remote transport the vagrant provider takes (its guests are reached through the same SSH login).
"""

from __future__ import annotations

import shlex
import urllib.parse
from dataclasses import dataclass

from toolkit.errors import UserError


@dataclass(frozen=True)
class LibvirtUri:
    text: str
    transport: str  # "" (unix socket), ssh, libssh, tls, tcp, ...
    user: str
    host: str
    port: int | None
    keyfile: str
    verify_host_key: bool

    @classmethod
    def parse(cls, text: str) -> LibvirtUri:
        parts = urllib.parse.urlsplit(text)
        if not parts.scheme.startswith("qemu") or parts.path not in ("/system", "/session"):
            raise UserError(
                f"libvirt URI {text!r} is not a QEMU driver URI: write qemu:///system or qemu+ssh://user@host/system"
            )
        query = urllib.parse.parse_qs(parts.query)
        return cls(
            text=text,
            transport=parts.scheme.partition("+")[2],
            user=parts.username or "",
            host=parts.hostname or "",
            port=parts.port,
            keyfile=query.get("keyfile", [""])[0],
            verify_host_key=query.get("no_verify", ["0"])[0] != "1",
        )

    @property
    def local(self) -> bool:
        """libvirt on this machine: its files (boxes, console logs) are ours, its guests' network is ours."""
        return not self.host

    def require_reachable_guests(self) -> None:
        """A remote host is only usable when its guests can be reached through it: over SSH."""
        if not self.local and self.transport not in ("ssh", "libssh"):
            raise UserError(
                f"libvirt at {self.text} is reached over {self.transport or 'a socket'}, and its guests on the host's "
                "private network only through SSH to that host: use qemu+ssh://user@host/system"
            )

    def ssh_command(self) -> list[str]:
        """An OpenSSH client logging in to the libvirt host as libvirt does (user, port, key, host key check)."""
        command = ["ssh", "-o", "BatchMode=yes"]
        if not self.verify_host_key:
            command += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]
        command += ["-p", str(self.port)] if self.port else []
        command += ["-l", self.user] if self.user else []
        command += ["-i", self.keyfile] if self.keyfile else []
        return [*command, self.host]

    def proxy_command(self) -> str:
        """The ProxyCommand (OpenSSH, paramiko, Vagrant) that reaches a guest's %h:%p through the host; "" when local."""
        if self.local:
            return ""
        return shlex.join([*self.ssh_command()[:-1], "-W", "%h:%p", self.host])
