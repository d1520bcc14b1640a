"""The guest agent (toolkit/boxes/guest/agent.c) built with the host's gcc and driven through the host's
AgentSession, as in a guest: the port is one end of a socket pair, and a relay stands in for QEMU's
unix socket. Commands, timeouts, large outputs, files both ways, refusals and a wedged agent."""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from toolkit.machines.command_log import CommandLog
from toolkit.machines.protocol import CommandInterrupted, CommandTimedOut, MachineError
from toolkit.machines.qemu import agent, agent_frames

SOURCE = Path(__file__).parents[2] / "toolkit" / "boxes" / "guest" / "agent.c"
USER = getpass.getuser()


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("no gcc on this host to build the agent")
    built = tmp_path_factory.mktemp("agent") / "agent"
    subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-o", str(built), str(SOURCE)], check=True)
    return built


def _relay(listener: socket.socket, port: socket.socket) -> None:
    """What QEMU does for the agent's port: bytes both ways between the guest and its client, one client at a time
    (the next once the last hung up)."""
    client: list[socket.socket] = []

    def to_client() -> None:
        with contextlib.suppress(OSError):  # the port closed: the test is over
            while data := port.recv(65536):
                with contextlib.suppress(OSError, IndexError):  # no client, or it left: QEMU drops the bytes
                    client[-1].sendall(data)

    threading.Thread(target=to_client, daemon=True).start()
    with contextlib.suppress(OSError):
        while True:
            connection, _ = listener.accept()
            client.append(connection)
            with contextlib.suppress(OSError):
                while data := connection.recv(65536):
                    port.sendall(data)


@pytest.fixture
def guest(binary: Path, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The agent serving one end of a socket pair; tmp_path/agent.sock reaches it."""
    port, relayed = socket.socketpair()
    process = subprocess.Popen([str(binary), f"fd:{port.fileno()}"], pass_fds=[port.fileno()])
    port.close()
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / "agent.sock"))
    listener.listen(1)
    threading.Thread(target=_relay, args=(listener, relayed), daemon=True).start()
    yield process
    process.kill()
    process.wait()
    listener.close()


@pytest.fixture
def session(guest: subprocess.Popen[bytes], tmp_path: Path) -> Iterator[agent.AgentSession]:
    connected = agent.AgentSession(tmp_path, CommandLog(tmp_path / "commands.log"))
    connected.wait_until_ready(time.monotonic() + 10)
    yield connected
    connected.close()


def test_a_command_reports_its_output_apart_and_its_exit_status(session: agent.AgentSession) -> None:
    result = session.run("echo out; echo err >&2; exit 3", timeout=10, user=USER)
    assert (result.stdout, result.stderr, result.exit_status) == ("out\n", "err\n", 3)


def test_a_command_runs_as_a_login_would_with_nothing_on_its_input(session: agent.AgentSession) -> None:
    result = session.run('cat; echo "$HOME $USER $LOGNAME"; pwd; umask', timeout=10, user=USER)
    home = os.path.expanduser("~" + USER)
    assert result.stdout.splitlines() == [f"{home} {USER} {USER}", home, "0022"]


def test_a_command_killed_by_a_signal_reports_128_plus_it(session: agent.AgentSession) -> None:
    assert session.run("kill -TERM $$", timeout=10, user=USER).exit_status == 128 + signal.SIGTERM


def test_a_command_past_its_timeout_is_killed_with_everything_it_started(session: agent.AgentSession) -> None:
    started = time.monotonic()
    with pytest.raises(CommandTimedOut, match=r"timed out after 1 s: echo started") as raised:
        session.run("echo started; sleep 31.5 & sleep 31.5", timeout=1, user=USER)
    assert time.monotonic() - started < 5
    assert "started" in raised.value.output_tail
    time.sleep(0.2)
    assert [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "31.5"]] == []
    assert session.run("echo alive", timeout=10, user=USER).stdout == "alive\n"


def test_a_command_is_done_when_its_output_closes_and_what_holds_it_open_is_killed_at_the_timeout(
    session: agent.AgentSession,
) -> None:
    detached = int(session.run("sleep 32.5 >/dev/null 2>&1 & echo $!", timeout=10, user=USER).stdout)
    with pytest.raises(CommandTimedOut, match="timed out after 1 s"):
        session.run("sleep 33.5 & echo left running", timeout=1, user=USER)
    time.sleep(0.2)
    running = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])]
    assert ["sleep", "33.5"] not in running, "what held the output open went with the command"
    assert psutil.pid_exists(detached), "what the command detached from its output is left alone, as over SSH"
    os.kill(detached, signal.SIGKILL)


def test_a_large_output_arrives_whole(session: agent.AgentSession) -> None:
    result = session.run("seq 1 600000", timeout=60, user=USER)
    assert result.stdout == "".join(f"{n}\n" for n in range(1, 600001))


def test_files_go_both_ways_with_their_bytes_and_permission_bits(session: agent.AgentSession, tmp_path: Path) -> None:
    sent = tmp_path / "sent.bin"
    sent.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    sent.chmod(0o750)
    session.put(sent, str(tmp_path / "in-guest.bin"), USER)
    assert (tmp_path / "in-guest.bin").read_bytes() == sent.read_bytes()
    assert (tmp_path / "in-guest.bin").stat().st_mode & 0o777 == 0o750
    session.get(str(tmp_path / "in-guest.bin"), tmp_path / "back.bin", USER)
    assert (tmp_path / "back.bin").read_bytes() == sent.read_bytes()


def test_a_relative_guest_path_is_from_the_users_home_as_over_sftp(session: agent.AgentSession, tmp_path: Path) -> None:
    name = f".vexfs-agent-test-{os.getpid()}"
    (tmp_path / "file").write_text("in the home")
    try:
        session.put(tmp_path / "file", name, USER)
        assert (Path(os.path.expanduser("~" + USER)) / name).read_text() == "in the home"
        session.get(name, tmp_path / "back", USER)
        assert (tmp_path / "back").read_text() == "in the home"
    finally:
        (Path(os.path.expanduser("~" + USER)) / name).unlink(missing_ok=True)


def test_what_the_agent_cannot_do_is_an_error_and_the_session_goes_on(
    session: agent.AgentSession, tmp_path: Path
) -> None:
    with pytest.raises(MachineError, match="no user nosuchuser in the guest"):
        session.run("true", timeout=10, user="nosuchuser")
    with pytest.raises(MachineError, match=r"cannot read /nonexistent/file: No such file or directory"):
        session.get("/nonexistent/file", tmp_path / "never", USER)
    assert not (tmp_path / "never").exists()
    assert session.run("echo still here", timeout=10, user=USER).stdout == "still here\n"


def test_every_command_and_transfer_is_in_the_commands_log(session: agent.AgentSession, tmp_path: Path) -> None:
    session.run("exit 4", timeout=10, user=USER)
    (tmp_path / "file").write_text("x")
    session.put(tmp_path / "file", str(tmp_path / "copy"), USER)
    log = session.log.path.read_text()
    assert f"{USER}: [4] " in log and log.splitlines()[-2].endswith("s exit 4")
    assert f"copying {tmp_path / 'file'} to the guest's {tmp_path / 'copy'}" in log


def test_the_agent_skips_bytes_that_are_not_a_whole_intact_frame(
    guest: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    damaged = bytearray(agent_frames.run_request(USER, 10, "touch should-not-run"))
    damaged[-1] ^= 0xFF
    raw = socket.socket(socket.AF_UNIX)
    raw.connect(str(tmp_path / "agent.sock"))
    raw.sendall(b"VX garbage V" + bytes(damaged) + agent_frames.encode(agent_frames.HELLO, b"nonce"))
    raw.settimeout(10)
    decoder = agent_frames.Decoder()
    frames: list[agent_frames.Frame] = []
    while not frames:
        frames = decoder.feed(raw.recv(4096))
    assert frames == [agent_frames.Frame(agent_frames.HELLO, b"nonce")]
    assert not (Path.home() / "should-not-run").exists()


def test_a_wedged_agent_ends_the_call_as_a_timeout_instead_of_hanging(
    guest: subprocess.Popen[bytes], session: agent.AgentSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent, "SLACK_S", 1.0)
    guest.send_signal(signal.SIGSTOP)
    started = time.monotonic()
    with pytest.raises(CommandTimedOut, match="the guest stopped answering: uname -r"):
        session.run("uname -r", timeout=1, user=USER)
    assert time.monotonic() - started < 5
    assert "NO ANSWER within 2 s: uname -r" in session.log.path.read_text()
    guest.send_signal(signal.SIGCONT)


def test_an_idle_connection_reads_as_hung_up_once_its_other_end_closed_and_not_before() -> None:
    ours, theirs = socket.socketpair()
    ours.settimeout(5)
    started = time.monotonic()
    assert not agent.hung_up(ours)
    theirs.sendall(b"VX left over")
    assert not agent.hung_up(ours) and ours.recv(64) == b"VX left over", "what was said stays to be read"
    theirs.close()
    assert agent.hung_up(ours)
    assert time.monotonic() - started < 1, "nothing waits"
    ours.close()


@contextlib.contextmanager
def _qemu(binary: Path, path: Path) -> Iterator[None]:
    """One QEMU's end of the agent's port at path: the agent serving whoever connects; leaving kills the agent and
    its connection with it, as a restart of the VM by another process does."""
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(1)
    agents: list[subprocess.Popen[bytes]] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            client, _ = listener.accept()
            agents.append(subprocess.Popen([str(binary), f"fd:{client.fileno()}"], pass_fds=[client.fileno()]))
            client.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield
    finally:
        listener.close()
        path.unlink()
        for process in agents:
            process.kill()
            process.wait()


def test_a_session_whose_vm_another_process_restarted_sends_its_next_command_to_the_new_one(
    binary: Path, tmp_path: Path
) -> None:
    session = agent.AgentSession(tmp_path, CommandLog(tmp_path / "commands.log"))
    with _qemu(binary, tmp_path / "agent.sock"):
        assert session.run("echo before", timeout=10, user=USER).stdout == "before\n"
    with _qemu(binary, tmp_path / "agent.sock"):
        assert session.run("echo after", timeout=10, user=USER).stdout == "after\n"
    session.close()


def test_an_interrupted_command_ends_at_once_and_the_session_goes_on_without_it(
    session: agent.AgentSession,
) -> None:
    threading.Timer(0.5, session.interrupt).start()
    started = time.monotonic()
    with pytest.raises(CommandInterrupted, match="given up after 0.5 s: sleep 34.5"):
        session.run("sleep 34.5", timeout=60, user=USER)
    assert time.monotonic() - started < 5
    assert session.run("echo alive", timeout=10, user=USER).stdout == "alive\n"
    time.sleep(0.2)  # the agent abandoned it as the host came back (a real port also says when the host hangs up)
    assert [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "34.5"]] == []
