"""Commands and files over one persistent SSH connection (Fabric), every call under a timeout."""

from __future__ import annotations

import datetime
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import invoke
import paramiko
from fabric import Connection

from toolkit.machines.base import CommandResult, CommandTimedOut, GuestUnreachable, MachineError

CONNECT_ERRORS = (OSError, EOFError, socket.timeout, paramiko.SSHException)

# Failed connection attempts while a guest boots are expected, and every channel is logged at
# debug level: neither belongs in a run's output, even when a host program (nox) logs debug.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").setLevel(logging.CRITICAL)
logging.getLogger("invoke").setLevel(logging.WARNING)


@dataclass(frozen=True)
class SshTarget:
    """Where a guest's sshd answers and how to log in."""

    host: str
    port: int
    user: str
    key: Path

    def command_line(self, *remote: str) -> list[str]:
        """An OpenSSH client command line for this target (interactive shells)."""
        options = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]
        return ["ssh", "-i", str(self.key), "-p", str(self.port), *options, f"{self.user}@{self.host}", *remote]


class SshSession:
    """A lazily opened Fabric connection that logs every command it runs."""

    def __init__(self, target: SshTarget, log: Path) -> None:
        self.target = target
        self.log = log
        self._connection: Connection | None = None

    def _connect(self, timeout: float) -> Connection:
        connection = Connection(
            self.target.host,
            user=self.target.user,
            port=self.target.port,
            connect_timeout=timeout,
            connect_kwargs={
                "key_filename": str(self.target.key),
                "look_for_keys": False,
                "allow_agent": False,
                "banner_timeout": timeout,
                "auth_timeout": timeout,
            },
        )
        connection.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        connection.open()
        return connection

    def wait_until_ready(self, deadline: float, attempt_timeout: float = 3.0) -> None:
        """Connect, retrying until the monotonic deadline; GuestUnreachable when it passes."""
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                self._connection = self._connect(min(attempt_timeout, max(deadline - time.monotonic(), 0.1)))
                return
            except CONNECT_ERRORS as error:
                last_error = error
                time.sleep(0.2)
        raise GuestUnreachable(f"no SSH answer from {self.target.host}:{self.target.port} ({last_error})")

    def connection(self) -> Connection:
        if self._connection is None or not self._connection.is_connected:
            try:
                self._connection = self._connect(10.0)
            except CONNECT_ERRORS as error:
                raise GuestUnreachable(f"cannot reach the guest over SSH on port {self.target.port}: {error}") from None
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _record(self, line: str) -> None:
        stamp = datetime.datetime.now().isoformat(timespec="milliseconds")
        with open(self.log, "a") as out:
            out.write(f"{stamp} {line}\n")

    def run(self, command: str, timeout: float) -> CommandResult:
        """Run command in the guest; CommandTimedOut if it outlives timeout (the connection is then dropped)."""
        started = time.monotonic()
        try:
            result = self.connection().run(command, hide=True, warn=True, timeout=timeout, in_stream=False)
        except invoke.CommandTimedOut as timed_out:
            self.close()
            self._record(f"{self.target.user}: TIMEOUT after {timeout:g} s: {command}")
            tail = (timed_out.result.stdout + timed_out.result.stderr)[-2000:]
            raise CommandTimedOut(f"guest command timed out after {timeout:g} s: {command}", command, tail) from None
        except CONNECT_ERRORS as error:
            self.close()
            self._record(f"{self.target.user}: LOST CONNECTION ({error}): {command}")
            raise GuestUnreachable(f"lost the guest while running {command!r}: {error}", command) from None
        duration = time.monotonic() - started
        self._record(f"{self.target.user}: [{result.exited}] {duration:.3f}s {command}")
        return CommandResult(command, result.exited, result.stdout, result.stderr, duration)

    def _sftp_connection(self, timeout: float) -> Connection:
        connection = self.connection()
        channel = connection.sftp().get_channel()
        if channel is not None:
            channel.settimeout(timeout)
        return connection

    def put(self, local: Path, remote: str, timeout: float = 300.0) -> None:
        try:
            self._sftp_connection(timeout).put(str(local), remote)
        except (OSError, paramiko.SSHException) as error:
            raise MachineError(f"copying {local} to the guest's {remote} failed: {error}") from None
        self._record(f"PUT {local} -> {remote}")

    def get(self, remote: str, local: Path, timeout: float = 300.0) -> None:
        try:
            self._sftp_connection(timeout).get(remote, str(local))
        except (OSError, paramiko.SSHException) as error:
            raise MachineError(f"copying the guest's {remote} to {local} failed: {error}") from None
        self._record(f"GET {remote} -> {local}")


class GuestSessions:
    """One persistent connection per guest user, opened on first use."""

    def __init__(self, target_for: Callable[[str], SshTarget], log: Path) -> None:
        self.target_for = target_for
        self.log = log
        self._sessions: dict[str, SshSession] = {}

    def get(self, user: str) -> SshSession:
        if user not in self._sessions:
            self._sessions[user] = SshSession(self.target_for(user), self.log)
        return self._sessions[user]

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()
