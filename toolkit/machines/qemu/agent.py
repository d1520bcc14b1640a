"""Commands and files through the guest agent (toolkit/boxes/guest/agent.c) on a virtio-serial port.

QEMU serves the port as a unix socket in the VM's directory, to one connection at a time. So a
process has one session per VM (`shared`), whatever number of machine objects it makes for it,
and the session holds `agent.lock` while connected: another process finds it held (`claim` is
False) and goes over SSH instead. Every call runs under a deadline, as over SSH: the agent stops
a command at its timeout, and when nothing comes back within the slack after it the connection
is closed and the call fails as a timeout (the guest stopped answering) or an unreachable guest.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from toolkit.machines.command_log import TRANSFER_TIMEOUT_S, CommandLog
from toolkit.machines.protocol import CommandResult, GuestUnreachable, MachineError
from toolkit.machines.qemu import agent_frames as wire

# Beyond a command's own timeout: the agent killing it and answering on a slow emulated CPU.
SLACK_S = 10.0
CLOCK_TIMEOUT_S = 10.0


class DeadlineExpired(Exception):
    """Nothing came back from the agent before the call's deadline."""


class AgentFailed(MachineError):
    """The agent refused a request (no such user, a file it cannot open)."""


@dataclass(frozen=True)
class Reply:
    """What the agent answered to one request."""

    stdout: bytes
    stderr: bytes
    status: int
    timed_out: bool


def hung_up(connection: socket.socket) -> bool:
    """Whether the other end of an idle connection has closed it (not waiting): it reads as ended, or fails."""
    readable = select.poll()
    readable.register(connection, select.POLLIN)
    if not readable.poll(0):
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""  # what the agent still had to say stays to be read
    except OSError:
        return True


class AgentSession:
    """One connection to a VM's guest agent, opened on first use and kept until closed."""

    def __init__(self, vm_dir: Path, log: CommandLog, slowdown: float = 1.0) -> None:
        self.path = vm_dir / "agent.sock"
        self.lock_path = vm_dir / "agent.lock"
        self.log = log
        self.slowdown = slowdown
        self._lock: IO[bytes] | None = None
        self._socket: socket.socket | None = None
        self._decoder = wire.Decoder()
        self._frames: list[wire.Frame] = []  # decoded, not yet read
        self._busy = threading.RLock()  # one call at a time, whichever thread makes it
        self._interrupted = False  # the command in flight was given up (`interrupt`)

    def claim(self) -> bool:
        """Whether this session may talk to the agent: False while another process holds it."""
        with self._busy:
            if self._lock is not None:
                return True
            lock = open(self.lock_path, "ab")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                return False
            self._lock = lock
            return True

    def close(self) -> None:
        """Drop the connection and the claim (the next call connects again)."""
        with self._busy:
            if self._socket is not None:
                self._socket.close()
                self._socket = None
            if self._lock is not None:
                self._lock.close()
                self._lock = None

    def wait_until_ready(self, deadline: float) -> None:
        """Connect and hear the agent answer before the monotonic deadline (the hello waits in QEMU until a
        booting guest's agent opens its port); GuestUnreachable when it does not."""
        try:
            self._connected(deadline)
        except (DeadlineExpired, OSError) as error:
            self.close()
            raise GuestUnreachable(f"no answer from the guest agent on {self.path} ({error or 'timed out'})") from None

    def _connected(self, deadline: float) -> socket.socket:
        """The open connection, else a new one whose hello was answered before deadline. One whose QEMU is gone
        (another process restarted the VM) is replaced before anything is sent on it."""
        if self._socket is not None and not hung_up(self._socket):
            return self._socket
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if not self.claim():
            raise MachineError(f"the guest agent of {self.path.parent.name} is in use by another process")
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket = connection
        self._decoder, self._frames = wire.Decoder(), []
        connection.settimeout(max(deadline - time.monotonic(), 0.001))
        connection.connect(str(self.path))
        nonce = secrets.token_hex(8).encode()
        self._send([wire.encode(wire.HELLO, nonce)], deadline)
        while self._receive(deadline) != wire.Frame(wire.HELLO, nonce):
            pass  # what the agent still had to say to a host that left: not ours
        return connection

    def _send(self, frames: list[bytes], deadline: float) -> None:
        assert self._socket is not None
        for data in frames:
            self._socket.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                self._socket.sendall(data)
            except TimeoutError:
                raise DeadlineExpired() from None

    def _receive(self, deadline: float) -> wire.Frame:
        assert self._socket is not None
        while not self._frames:
            self._socket.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                data = self._socket.recv(wire.CHUNK * 4)
            except TimeoutError:
                raise DeadlineExpired() from None
            if not data:
                raise ConnectionResetError("QEMU closed the agent's port")
            self._frames = self._decoder.feed(data)
        return self._frames.pop(0)

    def _exchange(
        self, frames: list[bytes], seconds: float, on_data: Callable[[bytes], object] = lambda _: None
    ) -> Reply:
        """Send a request and collect its reply within seconds; the connection is dropped on any failure."""
        with self._busy:
            return self._collect(frames, time.monotonic() + seconds, on_data)

    def _collect(self, frames: list[bytes], deadline: float, on_data: Callable[[bytes], object]) -> Reply:
        stdout, stderr = bytearray(), bytearray()
        try:
            self._connected(deadline)
            self._send(frames, deadline)
            while True:
                frame = self._receive(deadline)
                if frame.kind == wire.STDOUT:
                    stdout += frame.payload
                elif frame.kind == wire.STDERR:
                    stderr += frame.payload
                elif frame.kind == wire.DATA:
                    on_data(frame.payload)
                elif frame.kind == wire.DONE:
                    status, timed_out = wire.done_status(frame)
                    return Reply(bytes(stdout), bytes(stderr), status, timed_out)
                elif frame.kind == wire.FAILED:
                    raise AgentFailed(frame.payload.decode(errors="replace"))
        except AgentFailed:
            raise
        except BaseException:
            self.close()
            raise

    def run(self, command: str, timeout: float, user: str) -> CommandResult:
        """Run command in the guest as user; CommandTimedOut when it outlives timeout (the agent killed it),
        CommandInterrupted when it was given up before (`interrupt`)."""
        started = time.monotonic()
        slack = SLACK_S * self.slowdown
        self._interrupted = False
        try:
            reply = self._exchange([wire.run_request(user, timeout, command)], timeout + slack)
        except DeadlineExpired:
            raise self.log.no_answer(user, command, timeout, timeout + slack) from None
        except OSError as error:
            if self._interrupted:
                raise self.log.interrupted(user, command, time.monotonic() - started) from None
            raise self.log.lost(user, command, error) from None
        stdout, stderr = reply.stdout.decode(errors="replace"), reply.stderr.decode(errors="replace")
        if reply.timed_out:
            raise self.log.timed_out(user, command, timeout, stdout + stderr)
        duration = time.monotonic() - started
        return self.log.finished(user, CommandResult(command, reply.status, stdout, stderr, duration))

    def interrupt(self) -> None:
        """From another thread: give up the command in flight (its connection shut, so its `run` returns at once)."""
        self._interrupted = True
        connection = self._socket
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def set_clock(self, seconds: float) -> None:
        """Set the guest's clock (a restored guest wakes with its snapshot's time)."""
        try:
            self._exchange([wire.clock_request(seconds)], CLOCK_TIMEOUT_S * self.slowdown)
        except (DeadlineExpired, OSError) as error:
            raise GuestUnreachable(f"the guest agent did not set the clock: {error or 'timed out'}") from None
        self.log.record(f"clock set to the host's ({seconds:.3f})")

    def _transfer(self, what: str, frames: list[bytes], timeout: float, on_data: Callable[[bytes], object]) -> None:
        try:
            self._exchange(frames, timeout, on_data)
        except DeadlineExpired:
            raise GuestUnreachable(f"{what}: the guest did not answer within {timeout:g} s") from None
        except (AgentFailed, OSError) as error:
            raise MachineError(f"{what} failed: {error}") from None
        self.log.record(what)

    def put(self, local: Path, remote: str, user: str, timeout: float = TRANSFER_TIMEOUT_S) -> None:
        """Copy local to remote, written as user, with local's permission bits."""
        frames = wire.put_request(user, os.stat(local).st_mode, remote, local.read_bytes())
        self._transfer(f"copying {local} to the guest's {remote}", frames, timeout, lambda _: None)

    def get(self, remote: str, local: Path, user: str, timeout: float = TRANSFER_TIMEOUT_S) -> None:
        """Copy the guest's remote (read as user) to local."""
        partial = local.with_name(f".{local.name}.{os.getpid()}")
        with open(partial, "wb") as out:
            try:
                self._transfer(f"copying the guest's {remote} to {local}", [wire.get_request(user, remote)],
                               timeout, out.write)  # fmt: skip
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
        os.replace(partial, local)


_shared: dict[Path, AgentSession] = {}
_shared_guard = threading.Lock()


def shared(vm_dir: Path, log: CommandLog, slowdown: float) -> AgentSession:
    """This process's one session with the agent of the VM in vm_dir (made on first use)."""
    with _shared_guard:
        session = _shared.get(vm_dir)
        if session is None:
            session = _shared[vm_dir] = AgentSession(vm_dir, log, slowdown)
        session.slowdown = slowdown
        return session
