"""Connecting to a guest's sshd is tried again after a transient failure (an sshd not listening yet resets the
connection), up to a deadline of its own; a command is sent once, on a connection made."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from toolkit.machines import ssh
from toolkit.machines.command_log import CommandLog
from toolkit.machines.protocol import GuestUnreachable

RESET = ConnectionResetError(104, "Connection reset by peer")


class Clock:
    """A monotonic clock that moves only when the code under test pauses."""

    def __init__(self) -> None:
        self.now = 100.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def attempts(*outcomes: object) -> tuple[list[float], object]:
    """An attempt function answering with each outcome in turn (raised when it is an exception); the timeouts it got."""
    timeouts: list[float] = []
    queue = list(outcomes)

    def attempt(timeout: float) -> object:
        timeouts.append(timeout)
        outcome = queue.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return timeouts, attempt


def test_a_reset_before_the_banner_is_tried_again_after_a_pause() -> None:
    clock = Clock()
    timeouts, attempt = attempts(paramiko.SSHException("Error reading SSH protocol banner"), RESET, "connected")
    assert ssh.connect_until(attempt, clock() + 30, 10, clock, clock.pause) == "connected"
    assert clock.pauses == [ssh.RETRY_PAUSE_S] * 2 and timeouts == [10, 10, 10]


def test_connecting_gives_up_at_its_deadline_with_the_last_error() -> None:
    clock = Clock()
    _, attempt = attempts(*[RESET] * 100)
    with pytest.raises(ConnectionResetError):
        ssh.connect_until(attempt, clock() + 1, 10, clock, clock.pause)
    assert clock.now <= 101 and len(clock.pauses) == 4


def test_an_attempt_never_waits_past_the_deadline() -> None:
    clock = Clock()
    timeouts, attempt = attempts(RESET, "connected")
    ssh.connect_until(attempt, clock() + 5, 10, clock, clock.pause)
    assert timeouts == pytest.approx([5, 5 - ssh.RETRY_PAUSE_S])


@pytest.mark.parametrize("refusal", [paramiko.AuthenticationException("key refused"),
                                     paramiko.BadHostKeyException("guest", paramiko.RSAKey.generate(1024),
                                                                  paramiko.RSAKey.generate(1024))])  # fmt: skip
def test_a_guest_that_refuses_the_key_is_not_asked_again(refusal: Exception) -> None:
    clock = Clock()
    timeouts, attempt = attempts(refusal, "connected")
    with pytest.raises(type(refusal)):
        ssh.connect_until(attempt, clock() + 30, 10, clock, clock.pause)
    assert len(timeouts) == 1 and clock.pauses == []


class Guest(paramiko.ServerInterface):
    """Takes the login and runs nothing: each command is noted and exits 0."""

    def __init__(self, commands: list[str]) -> None:
        self.commands = commands

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        self.commands.append(command.decode())

        def finish() -> None:  # no close: it could overtake the reply to the request, and fail it
            channel.send(b"ran\n")
            channel.send_exit_status(0)
            channel.shutdown_write()

        threading.Thread(target=finish, daemon=True).start()
        return True


def _reset(client: socket.socket) -> None:
    """Close with a reset, as a guest whose sshd does not listen yet answers through QEMU's user networking."""
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()


@pytest.fixture
def starting_sshd() -> Iterator[tuple[int, list[str]]]:
    """A port whose first two connections are reset, then an sshd: its port and the commands it ran."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    host_key = paramiko.RSAKey.generate(2048)
    commands: list[str] = []

    def serve() -> None:
        accepted = 0
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            accepted += 1
            if accepted <= 2:
                _reset(client)
                continue
            transport = paramiko.Transport(client)
            transport.add_server_key(host_key)
            transport.start_server(server=Guest(commands))

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1], commands
    listener.close()


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "id_rsa"
    paramiko.RSAKey.generate(2048).write_private_key_file(str(path))
    return path


def test_a_command_reaches_a_guest_whose_sshd_was_still_starting_and_runs_once(
    starting_sshd: tuple[int, list[str]], key: Path, tmp_path: Path
) -> None:
    port, commands = starting_sshd
    session = ssh.SshSession(ssh.SshTarget("127.0.0.1", port, "root", key), CommandLog(tmp_path / "commands.log"))
    result = session.run("insmod leaky.ko", timeout=10)
    assert (result.exit_status, result.stdout, commands) == (0, "ran\n", ["insmod leaky.ko"])
    session.close()


def test_waiting_for_a_starting_sshd_ends_with_a_connection(starting_sshd: tuple[int, list[str]], key: Path,
                                                            tmp_path: Path) -> None:  # fmt: skip
    port, commands = starting_sshd
    session = ssh.SshSession(ssh.SshTarget("127.0.0.1", port, "root", key), CommandLog(tmp_path / "commands.log"))
    session.wait_until_ready(ssh.time.monotonic() + 20)
    assert session.connection().is_connected and commands == []
    session.close()


def test_a_port_that_only_resets_is_an_unreachable_guest_once_connecting_runs_out(
    key: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def serve() -> None:
        while True:
            try:
                _reset(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=serve, daemon=True).start()
    monkeypatch.setattr(ssh, "CONNECT_DEADLINE_S", 1.0)
    port = listener.getsockname()[1]
    session = ssh.SshSession(ssh.SshTarget("127.0.0.1", port, "root", key), CommandLog(tmp_path / "commands.log"))
    with pytest.raises(GuestUnreachable, match=f"cannot reach the guest over SSH on port {port}"):
        session.run("true", timeout=10)
    assert not (tmp_path / "commands.log").exists(), "nothing was sent"
    listener.close()
