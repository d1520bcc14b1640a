"""A minimal QMP client: the QEMU monitor over a unix socket, for templates (migration) and shutdown."""

from __future__ import annotations

import json
import shlex
import socket
import time
from pathlib import Path
from typing import Any

from toolkit.machines.protocol import MachineError

# RAM in a shared file (a template's) stays out of the migration stream, and is not expected in it.
IGNORE_SHARED = [{"capability": "x-ignore-shared", "state": True}]


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

    def save_devices(self, path: Path, timeout: float) -> None:
        """Migrate the running VM into path, leaving its shared-file RAM out; the guest is stopped at the end."""
        self.execute("migrate-set-capabilities", capabilities=IGNORE_SHARED)
        self.execute("migrate", uri=f"exec:cat > {shlex.quote(str(path))}")
        deadline = time.monotonic() + timeout
        while (state := self.execute("query-migrate"))["status"] not in ("completed", "failed", "cancelled"):
            if time.monotonic() > deadline:
                raise QmpError(f"saving the device state to {path} took more than {timeout:g} s")
            time.sleep(0.02)
        if state["status"] != "completed":
            raise QmpError(f"saving the device state to {path}: {state.get('error-desc', state['status'])}")

    def load_devices(self, path: Path, timeout: float) -> None:
        """Have a VM started with `-incoming defer` load its device state from path; back once the guest runs.

        Until then nothing reaches the guest: a TCP connection made to a forwarded port meanwhile waits
        for the user-mode network's retransmission, seconds later.
        """
        self.execute("migrate-set-capabilities", capabilities=IGNORE_SHARED)
        self.execute("migrate-incoming", uri=f"exec:cat {shlex.quote(str(path))}")
        deadline = time.monotonic() + timeout
        while self.execute("query-status")["status"] != "running":
            state = self.execute("query-migrate")
            if state.get("status") in ("failed", "cancelled"):
                raise QmpError(f"loading the device state from {path}: {state.get('error-desc', state['status'])}")
            if time.monotonic() > deadline:
                raise QmpError(f"loading the device state from {path} took more than {timeout:g} s")
            time.sleep(0.01)
