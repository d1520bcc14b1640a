"""Commands and files over one persistent SSH connection (Fabric), every call under a timeout.

Fabric bounds a command's run time, and paramiko bounds connecting, but not opening a channel
or an SFTP transfer: a wedged guest would block those for an hour. So every call also runs
under a deadline; when it passes, the connection is closed from a timer thread, which wakes
paramiko wherever it waits, and the call fails as a timeout or an unreachable guest.

Connecting is tried again after a transient failure, until a deadline of its own: a guest's sshd
that is not listening yet (just restored or booted) answers with a reset, which reads as "Error
reading SSH protocol banner". Only connecting is tried again: a command that may have started is
never sent twice.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import invoke
import paramiko
from fabric import Connection

from toolkit.machines.command_log import TRANSFER_TIMEOUT_S, CommandLog
from toolkit.machines.protocol import CommandInterrupted, CommandResult, GuestUnreachable, MachineError

T = TypeVar("T")

CONNECT_ERRORS = (OSError, EOFError, socket.timeout, paramiko.SSHException)
# The guest's sshd answered and turned this key or its host key down: no second attempt does better.
REFUSALS = (paramiko.AuthenticationException, paramiko.BadHostKeyException)
CONNECT_TIMEOUT_S = 10.0  # one attempt to connect: TCP, banner, key exchange, login
CONNECT_DEADLINE_S = 30.0  # connecting, every attempt included
RETRY_PAUSE_S = 0.2
# Beyond a command's own timeout: opening the channel, stopping the command.
SLACK_S = 20.0
# How an OpenSSH client reaches a guest: only the installation's own key, and each guest's fresh host key
# taken as it comes (a guest is made anew from its box, on a port that changes).
CLIENT_OPTIONS = {"IdentitiesOnly": "yes", "StrictHostKeyChecking": "no", "UserKnownHostsFile": "/dev/null",
                  "LogLevel": "ERROR"}  # fmt: skip


class DeadlineExpired(Exception):
    """A call on the session outlived its deadline; the connection was closed under it."""


def connect_until(
    attempt: Callable[[float], T],
    deadline: float,
    attempt_timeout: float,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], object] = time.sleep,
) -> T:
    """attempt(timeout), again after each transient failure until the monotonic deadline (then its last error);
    a refusal is raised at once. For setting a connection up only: nothing has run in the guest yet."""
    while True:
        try:
            return attempt(min(attempt_timeout, max(deadline - clock(), 0.1)))
        except REFUSALS:
            raise
        except CONNECT_ERRORS:
            if clock() + RETRY_PAUSE_S >= deadline:
                raise
            pause(RETRY_PAUSE_S)


# Failed connection attempts while a guest boots are expected, and every channel is logged at
# debug level: neither belongs in a run's output, even when a host program (nox) logs debug.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").setLevel(logging.CRITICAL)
logging.getLogger("invoke").setLevel(logging.WARNING)
logging.getLogger("fabric").setLevel(logging.WARNING)


@dataclass(frozen=True)
class SshTarget:
    """Where a guest's sshd answers and how to log in."""

    host: str
    port: int
    user: str
    key: Path
    slowdown: float = 1.0  # a debug kernel answers several times slower: connecting and slack wait that much longer
    proxy: str = ""  # a ProxyCommand reaching host:port through another machine (a remote libvirt host), or none

    def command_line(self, *remote: str) -> list[str]:
        """An OpenSSH client command line for this target: a shell, or the remote command line given."""
        options = [word for key, value in self._client_options().items() for word in ("-o", f"{key}={value}")]
        return ["ssh", "-i", str(self.key), "-p", str(self.port), *options, "--", f"{self.user}@{self.host}", *remote]

    def config_block(self, alias: str) -> str:
        """An OpenSSH client configuration block reaching this target as `alias` (ssh -F, scp -F, rsync -e)."""
        lines = [f"Host {alias}", f"  HostName {self.host}", f"  Port {self.port}", f"  User {self.user}",
                 f'  IdentityFile "{self.key}"', *(f"  {key} {value}" for key, value in self._client_options().items())]  # fmt: skip
        return "\n".join(lines) + "\n"

    def _client_options(self) -> dict[str, str]:
        return {**CLIENT_OPTIONS, **({"ProxyCommand": self.proxy} if self.proxy else {})}


class SshSession:
    """A lazily opened Fabric connection that logs every command it runs."""

    def __init__(self, target: SshTarget, log: CommandLog) -> None:
        self.target = target
        self.log = log
        self._connection: Connection | None = None
        self._interrupted = False  # the command in flight was given up (`interrupt`)

    def _connect(self, timeout: float) -> Connection:
        connection = Connection(
            self.target.host,
            user=self.target.user,
            port=self.target.port,
            connect_timeout=timeout,
            gateway=self.target.proxy or None,
            connect_kwargs={
                "key_filename": str(self.target.key),
                "look_for_keys": False,
                "allow_agent": False,
                "banner_timeout": timeout,
                "auth_timeout": timeout,
            },
        )
        connection.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        try:
            connection.open()
        except BaseException:
            connection.client.close()  # no transport or socket left behind by a failed attempt (Fabric's close skips it)
            raise
        return connection

    def wait_until_ready(self, deadline: float, attempt_timeout: float = 3.0) -> None:
        """Connect, trying again until the monotonic deadline (a booting guest); GuestUnreachable when it passes."""
        self.close()
        try:
            self._connection = connect_until(self._connect, deadline, attempt_timeout * self.target.slowdown)
        except CONNECT_ERRORS as error:
            raise GuestUnreachable(f"no SSH answer from {self.target.host}:{self.target.port} ({error})") from None

    def connection(self) -> Connection:
        """The open connection, else a new one (transient failures tried again for CONNECT_DEADLINE_S)."""
        if self._connection is None or not self._connection.is_connected:
            self.close()
            slowdown = self.target.slowdown
            deadline = time.monotonic() + CONNECT_DEADLINE_S * slowdown
            try:
                self._connection = connect_until(self._connect, deadline, CONNECT_TIMEOUT_S * slowdown)
            except CONNECT_ERRORS as error:
                raise GuestUnreachable(f"cannot reach the guest over SSH on port {self.target.port}: {error}") from None
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _abort(self) -> None:
        """Close the connection's transport from another thread: whatever waits on it fails at once."""
        connection = self._connection
        transport = connection.client.get_transport() if connection is not None else None
        if transport is not None:
            transport.close()

    @contextlib.contextmanager
    def _deadline(self, seconds: float) -> Iterator[None]:
        """Run the block with the connection closed under it after seconds (then DeadlineExpired)."""
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            self._abort()

        timer = threading.Timer(seconds, expire)
        timer.daemon = True
        timer.start()
        try:
            yield
        except Exception:
            if expired.is_set():
                raise DeadlineExpired() from None
            raise
        finally:
            timer.cancel()
        if expired.is_set():
            raise DeadlineExpired()

    def interrupt(self) -> None:
        """From another thread: give up the command in flight (its connection closed under it)."""
        self._interrupted = True
        self._abort()

    def run(self, command: str, timeout: float) -> CommandResult:
        """Run command in the guest; CommandTimedOut if it outlives timeout (the connection is then dropped),
        CommandInterrupted when it was given up before (`interrupt`)."""
        started = time.monotonic()
        user = self.target.user
        connection = self.connection()  # bounded on its own; the command is sent once, on a connection made
        self._interrupted = False
        slack = SLACK_S * self.target.slowdown
        try:
            with self._deadline(timeout + slack):
                result = connection.run(command, hide=True, warn=True, timeout=timeout, in_stream=False)
        except invoke.CommandTimedOut as timed_out:
            self.close()
            raise self._given_up(user, command, started) or self.log.timed_out(
                user, command, timeout, timed_out.result.stdout + timed_out.result.stderr
            ) from None
        except DeadlineExpired:
            self.close()
            raise self.log.no_answer(user, command, timeout, timeout + slack) from None
        except CONNECT_ERRORS as error:
            self.close()
            raise self._given_up(user, command, started) or self.log.lost(user, command, error) from None
        given_up = self._given_up(user, command, started)
        if given_up:
            self.close()
            raise given_up
        duration = time.monotonic() - started
        return self.log.finished(user, CommandResult(command, result.exited, result.stdout, result.stderr, duration))

    def _given_up(self, user: str, command: str, started: float) -> CommandInterrupted | None:
        """The error of a command `interrupt` gave up, None when it was not."""
        return self.log.interrupted(user, command, time.monotonic() - started) if self._interrupted else None

    def _transfer(self, what: str, move: Callable[[Connection], object], timeout: float) -> None:
        """One SFTP transfer, bounded as a whole (channel open included)."""
        try:
            with self._deadline(timeout):
                connection = self.connection()
                channel = connection.sftp().get_channel()
                if channel is not None:
                    channel.settimeout(timeout)
                move(connection)
        except DeadlineExpired:
            self.close()
            raise GuestUnreachable(f"{what}: the guest did not answer within {timeout:g} s") from None
        except (*CONNECT_ERRORS, OSError) as error:
            self.close()
            raise MachineError(f"{what} failed: {error}") from None
        self.log.record(what)

    def put(self, local: Path, remote: str, timeout: float = TRANSFER_TIMEOUT_S) -> None:
        self._transfer(f"copying {local} to the guest's {remote}", lambda c: c.put(str(local), remote), timeout)

    def get(self, remote: str, local: Path, timeout: float = TRANSFER_TIMEOUT_S) -> None:
        self._transfer(f"copying the guest's {remote} to {local}", lambda c: c.get(remote, str(local)), timeout)


class GuestSessions:
    """One persistent connection per guest user, opened on first use."""

    def __init__(self, target_for: Callable[[str], SshTarget], log: CommandLog) -> None:
        self.target_for = target_for
        self.log = log
        self._sessions: dict[str, SshSession] = {}

    def get(self, user: str) -> SshSession:
        if user not in self._sessions:
            self._sessions[user] = SshSession(self.target_for(user), self.log)
        return self._sessions[user]

    def interrupt(self) -> None:
        """From another thread: give up the command in flight on any of the connections."""
        for session in list(self._sessions.values()):
            session.interrupt()

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()
