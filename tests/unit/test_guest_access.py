"""Reaching a guest by hand: OpenSSH command lines and config blocks, and copying files either way."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.scripted import Answer, ScriptedMachine
from toolkit.errors import UserError
from toolkit.machines.guest_copy import Copy, copy
from toolkit.machines.ssh import SshTarget

TARGET = SshTarget("127.0.0.1", 40022, "vagrant", Path("/state/ssh/id ed25519"))
PROBE = "echo dir"  # text of the one command that asks the guest what is at a path and at its folder


def test_an_ssh_command_line_ends_its_options_before_the_guest_so_a_command_is_never_one() -> None:
    line = TARGET.command_line("-v")
    assert line[:5] == ["ssh", "-i", "/state/ssh/id ed25519", "-p", "40022"]
    assert line[-3:] == ["--", "vagrant@127.0.0.1", "-v"]
    assert "StrictHostKeyChecking=no" in line and "UserKnownHostsFile=/dev/null" in line


def test_the_ssh_config_block_is_what_openssh_reads(tmp_path: Path) -> None:
    if shutil.which("ssh") is None:
        pytest.skip("needs the OpenSSH client")
    (tmp_path / "config").write_text(
        TARGET.config_block("default") + SshTarget("::1", 22, "root", Path("/k")).config_block("other")
    )
    resolved = subprocess.run(["ssh", "-G", "-F", str(tmp_path / "config"), "default"], capture_output=True,
                              text=True, check=True).stdout.splitlines()  # fmt: skip
    assert {"hostname 127.0.0.1", "port 40022", "user vagrant", "identityfile /state/ssh/id ed25519",
            "identitiesonly yes", "stricthostkeychecking false", "userknownhostsfile /dev/null"} <= set(resolved)  # fmt: skip


@pytest.mark.parametrize(
    ("source", "destination", "expected"),
    [
        ("a.ko", ":/tmp/", Copy(True, Path("a.ko"), "/tmp/")),
        ("a.ko", ":", Copy(True, Path("a.ko"), ".")),
        (":/var/log/messages", ".", Copy(False, Path("."), "/var/log/messages")),
        (":notes.txt", "~/x", Copy(False, Path.home() / "x", "notes.txt")),
    ],
)
def test_the_guests_side_of_a_copy_is_written_colon_path(source: str, destination: str, expected: Copy) -> None:
    assert Copy.parse(source, destination) == expected


@pytest.mark.parametrize(
    ("source", "destination", "fragment"),
    [("a", "b", "one side of vm.copy is the guest's"), (":a", ":b", "one side"), ("a", "", "needs a source and")],
)
def test_a_copy_needs_exactly_one_guest_side(source: str, destination: str, fragment: str) -> None:
    with pytest.raises(UserError, match=fragment):
        Copy.parse(source, destination)


def test_what_is_wrong_on_the_host_is_said_before_the_guest_is_asked(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=f"{tmp_path / 'gone.ko'}: no such file"):
        Copy.parse(str(tmp_path / "gone.ko"), ":/tmp/").check_host_side()
    with pytest.raises(UserError, match="is a folder: vm.copy copies one file"):
        Copy.parse(str(tmp_path), ":/tmp/").check_host_side()
    with pytest.raises(UserError, match=f"{tmp_path / 'no'}: no such folder on the host"):
        Copy.parse(":/etc/hostname", str(tmp_path / "no" / "where")).check_host_side()


def test_a_host_side_that_cannot_be_read_or_written_is_refused_before_the_guest_is_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "secret.ko").write_text("elf")
    (tmp_path / "locked").mkdir()
    cases = {
        ("/dev/null", ":/tmp/"): "/dev/null: is not a regular file (a device, a pipe or a socket)",
        (str(tmp_path / ("n" * 300)), ":/tmp/"): "File name too long",
        (str(tmp_path / "secret.ko"), ":/tmp/"): f"{tmp_path / 'secret.ko'}: cannot be read: fix its permissions",
        (":/etc/hostname", "/proc/forbidden"): "/proc/forbidden cannot be written: /proc is the kernel's pseudo",
        (":/etc/hostname", "/sys"): "/sys cannot be written: /sys is the kernel's pseudo-filesystem",
        (":/etc/hostname", str(tmp_path / "locked" / "x")): f"{tmp_path / 'locked' / 'x'} cannot be written: "
        f"{tmp_path / 'locked'} is not writable",
    }
    allowed = os.access
    unreadable = {tmp_path / "secret.ko", tmp_path / "locked"}
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) not in unreadable and allowed(path, mode))
    for (source, destination), message in cases.items():
        with pytest.raises(UserError) as raised:
            Copy.parse(source, destination).check_host_side()
        assert message in str(raised.value)


def test_a_file_copied_into_a_guest_folder_keeps_its_name(tmp_path: Path) -> None:
    (tmp_path / "a.ko").write_text("elf")
    guest = ScriptedMachine({PROBE: Answer("dir\ndir\n")})
    assert (
        copy(guest, Copy.parse(str(tmp_path / "a.ko"), ":/tmp")) == f"copied {tmp_path / 'a.ko'} to scripted:/tmp/a.ko"
    )
    guest = ScriptedMachine({PROBE: Answer("none\ndir\n")})
    assert copy(guest, Copy.parse(str(tmp_path / "a.ko"), ":/tmp/b.ko")).endswith("to scripted:/tmp/b.ko")
    assert guest.commands[-1] == "PUT /tmp/b.ko"


def test_a_file_copied_out_of_the_guest_lands_in_a_folder_under_its_name(tmp_path: Path) -> None:
    guest = ScriptedMachine({PROBE: Answer("file\ndir\n")}, files={"/var/log/messages": "boot\n"})
    assert copy(guest, Copy.parse(":/var/log/messages", str(tmp_path))).endswith(f"to {tmp_path / 'messages'}")
    assert (tmp_path / "messages").read_text() == "boot\n"


@pytest.mark.parametrize(
    ("source", "destination", "answer", "fragment"),
    [
        (":/no/such", ".", "none\nnone\n", "scripted:/no/such: the guest has no such file"),
        (":/tmp", ".", "dir\ndir\n", "scripted:/tmp: is a folder"),
        ("LOCAL", ":/no/dir/x", "none\nnone\n", "scripted:/no/dir/x: the guest has no folder /no/dir"),
        ("LOCAL", ":/no/dir/", "none\ndir\n", "the guest has no folder /no/dir/"),
    ],
)
def test_what_the_guest_lacks_is_a_usage_error_and_nothing_is_copied(
    tmp_path: Path, source: str, destination: str, answer: str, fragment: str
) -> None:
    (tmp_path / "local").write_text("x")
    guest = ScriptedMachine({PROBE: Answer(answer)})
    request = Copy.parse(source.replace("LOCAL", str(tmp_path / "local")), destination.replace(".", str(tmp_path)))
    with pytest.raises(UserError, match=fragment):
        copy(guest, request)
    assert not any(command.startswith("PUT") for command in guest.commands)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["local"]
