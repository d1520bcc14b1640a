"""A minimal QMP client: the QEMU monitor over a unix socket, for snapshots and shutdown."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from toolkit.machines.base import MachineError


class QmpError(MachineError):
    """QEMU refused a monitor command."""


class Qmp:
    """One monitor connection; use as a context manager."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(str(path))
        except OSError as error:
            self.sock.close()
            raise QmpError(f"cannot reach QEMU's monitor at {path}: {error}") from None
        self.stream = self.sock.makefile("rwb")
        self._reply()
        self.execute("qmp_capabilities")

    def __enter__(self) -> Qmp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.stream.close()
        self.sock.close()

    def _reply(self) -> dict[str, Any]:
        while True:
            line = self.stream.readline()
            if not line:
                raise QmpError("QEMU closed the monitor connection")
            message = json.loads(line)
            if "event" not in message:
                return message

    def execute(self, command: str, **arguments: Any) -> Any:
        request = {"execute": command, **({"arguments": arguments} if arguments else {})}
        try:
            self.stream.write(json.dumps(request).encode() + b"\n")
            self.stream.flush()
            reply = self._reply()
        except OSError as error:
            raise QmpError(f"{command}: QEMU's monitor did not answer: {error}") from None
        if "error" in reply:
            raise QmpError(f"{command}: {reply['error'].get('desc', reply['error'])}")
        return reply.get("return")

    def human(self, command_line: str) -> str:
        """Run an HMP command (savevm, loadvm) and fail on the errors it reports as text."""
        output = str(self.execute("human-monitor-command", **{"command-line": command_line}))
        if output.strip():
            raise QmpError(f"{command_line}: {output.strip()}")
        return output
