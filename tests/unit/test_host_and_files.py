import os
import socket
import subprocess
from pathlib import Path

import pytest
from invoke.exceptions import Exit

from toolkit import host_checks
from toolkit.commands import remainder, user_facing
from toolkit.errors import UserError
from toolkit.files import atomic_write, mounts_under, remove_tree
from toolkit.machines import keys
from toolkit.machines.protocol import GuestUnreachable
from toolkit.machines.qemu import ports


def test_too_little_disk_space_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="needs 1e\\+09 GiB free"):
        host_checks.require_free_space(tmp_path / "not" / "yet", 1e9, "testing")


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "r.json"
    atomic_write(target, "one")
    atomic_write(target, b"two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["r.json"]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_remove_tree_unmounts_what_is_mounted_inside(tmp_path: Path) -> None:
    inner = tmp_path / "tree" / "proc"
    inner.mkdir(parents=True)
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(inner)]).returncode != 0:
        pytest.skip("this host does not allow mounting a tmpfs")
    (inner / "file").write_text("x")
    assert mounts_under(tmp_path / "tree") == [inner]
    remove_tree(tmp_path / "tree")
    assert not (tmp_path / "tree").exists()
    assert mounts_under(tmp_path) == []


def test_free_port_can_be_bound_on_loopback() -> None:
    port = ports.free_port()
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        assert server.getsockname()[1] == port


def test_installation_key_is_made_once(tmp_path: Path) -> None:
    private = keys.ensure_key(tmp_path)
    first = keys.public_key(private).read_text()
    assert first.startswith("ssh-ed25519 ")
    assert keys.ensure_key(tmp_path) == private
    assert keys.public_key(private).read_text() == first
    assert private.stat().st_mode & 0o777 == 0o600


def test_user_errors_exit_2_and_machine_errors_exit_1() -> None:
    @user_facing
    def bad_input() -> None:
        raise UserError("unknown kernel line '9': choose one of ...")

    @user_facing
    def dead_guest() -> None:
        raise GuestUnreachable("no SSH answer")

    with pytest.raises(Exit) as usage:
        bad_input()
    assert usage.value.code == 2 and usage.value.message == "error: unknown kernel line '9': choose one of ..."
    with pytest.raises(Exit) as failure:
        dead_guest()
    assert failure.value.code == 1


def test_remainder_is_what_follows_double_dash_each_word_quoted_for_the_guests_shell() -> None:
    assert remainder(["invoke", "vm.run", "--", "uname", "-r"]) == "uname -r"
    assert remainder(["invoke", "vm.run", "--", "printf", "%s|", "a b", "$HOME", "it's"]) == (
        "printf '%s|' 'a b' '$HOME' 'it'\"'\"'s'"
    )
    assert remainder(["invoke", "vm.run"]) == "" and remainder(["invoke", "vm.run", "--"]) == ""
