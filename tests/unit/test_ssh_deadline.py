"""A guest whose sshd stops answering mid-call (channel never opened) cannot block a command or a transfer."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from toolkit.machines import ssh
from toolkit.machines.command_log import CommandLog
from toolkit.machines.protocol import CommandTimedOut, GuestUnreachable


class WedgedGuest(paramiko.ServerInterface):
    """Accepts the login, then never answers a channel request: what a guest with a stuck CPU did."""

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        time.sleep(60)
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


@pytest.fixture
def wedged_port() -> Iterator[int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    host_key = paramiko.RSAKey.generate(2048)

    def serve() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            transport = paramiko.Transport(client)
            transport.add_server_key(host_key)
            transport.start_server(server=WedgedGuest())

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture
def session(wedged_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssh.SshSession:
    key = tmp_path / "id_rsa"
    paramiko.RSAKey.generate(2048).write_private_key_file(str(key))
    monkeypatch.setattr(ssh, "SLACK_S", 1.0)
    return ssh.SshSession(ssh.SshTarget("127.0.0.1", wedged_port, "root", key), CommandLog(tmp_path / "commands.log"))


def test_a_command_whose_channel_never_opens_times_out_instead_of_hanging(session: ssh.SshSession) -> None:
    started = time.monotonic()
    with pytest.raises(CommandTimedOut, match="the guest stopped answering: uname -r"):
        session.run("uname -r", timeout=2)
    assert time.monotonic() - started < 10
    assert "NO ANSWER within 3 s: uname -r" in session.log.path.read_text()


def test_a_transfer_whose_channel_never_opens_fails_within_its_timeout(session: ssh.SshSession, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    started = time.monotonic()
    with pytest.raises(GuestUnreachable, match="did not answer within 2 s"):
        session.put(tmp_path / "file", "/tmp/file", timeout=2)
    assert time.monotonic() - started < 10
