"""Free TCP ports on the loopback interface, so VMs never collide."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on right now (the caller retries if another process takes it first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
