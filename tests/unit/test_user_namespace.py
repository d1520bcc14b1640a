"""What an ordinary user needs to make and use Debian trees: subordinate ids, newuidmap, user namespaces; and the
one-line message naming the command that fixes what is missing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from toolkit import host_tools, user_namespace
from toolkit.boxes import store
from toolkit.errors import UserError
from toolkit.user_namespace import IdRange

SUBUID = """\
alice:100000:65536
# a comment, and malformed lines newuidmap skips too
bob:abc:65536
carol:165536
1005:231072:65536
dave:296608:1000
"""


def test_ranges_are_read_in_order_and_malformed_lines_skipped() -> None:
    assert user_namespace.parse_ranges(SUBUID) == [
        IdRange("alice", 100000, 65536),
        IdRange("1005", 231072, 65536),
        IdRange("dave", 296608, 1000),
    ]


def test_a_user_s_range_is_found_by_name_or_by_id() -> None:
    ranges = user_namespace.parse_ranges(SUBUID)
    assert user_namespace.first_range(ranges, "alice", 1000) == IdRange("alice", 100000, 65536)
    assert user_namespace.first_range(ranges, "erin", 1005) == IdRange("1005", 231072, 65536)
    assert user_namespace.first_range(ranges, "bob", 1001) is None


def test_users_with_a_whole_range_in_both_files_have_no_problem() -> None:
    assert user_namespace.range_problem("alice", 1000, SUBUID, SUBUID) is None


def test_a_user_with_no_range_is_given_the_usermod_command_with_a_free_range() -> None:
    problem = user_namespace.range_problem("bob", 1001, SUBUID, "")
    assert problem == (
        "/etc/subuid has no range for bob; /etc/subgid has no range for bob: "
        "sudo usermod --add-subuids 297608-363143 --add-subgids 297608-363143 bob"
    )


def test_a_range_too_small_for_a_debian_tree_is_named_with_its_size() -> None:
    problem = user_namespace.range_problem("dave", 1002, SUBUID, SUBUID)
    assert problem is not None and problem.startswith("/etc/subuid gives dave 1000 ids, not 65536; /etc/subgid gives")


def test_on_an_empty_host_the_first_range_starts_at_100000() -> None:
    problem = user_namespace.range_problem("frank", 1003, "", "")
    assert problem is not None and problem.endswith("--add-subuids 100000-165535 --add-subgids 100000-165535 frank")


def test_a_hostile_user_name_is_quoted_in_the_command() -> None:
    problem = user_namespace.range_problem("x; rm -rf ~", 1004, "", "")
    assert problem is not None and problem.endswith("--add-subgids 100000-165535 'x; rm -rf ~'")
    assert "\n" not in problem


@pytest.mark.parametrize(
    ("name", "value", "fix"),
    [
        ("kernel.unprivileged_userns_clone", "0\n", "sudo sysctl kernel.unprivileged_userns_clone=1"),
        ("user.max_user_namespaces", "0\n", "sudo sysctl user.max_user_namespaces=15000"),
        (
            "kernel.apparmor_restrict_unprivileged_userns",
            "1\n",
            "sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0",
        ),
    ],
)
def test_disabled_user_namespaces_name_the_sysctl_that_enables_them(name: str, value: str, fix: str) -> None:
    problem = user_namespace.sysctl_problem({name: value})
    assert problem is not None and problem.endswith(f": {fix}")


def test_kernels_without_the_switches_or_with_them_on_have_no_problem() -> None:
    assert user_namespace.sysctl_problem({name: None for name in user_namespace.SYSCTLS}) is None
    on = {"kernel.unprivileged_userns_clone": "1\n", "user.max_user_namespaces": "96367\n"}
    assert user_namespace.sysctl_problem(on) is None


def test_an_ordinary_user_without_newuidmap_is_told_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if any((Path(folder) / "newuidmap").exists() for folder in host_tools.SYSTEM_COMMANDS.split(":")):
        pytest.skip("newuidmap is in this host's sbin folders")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "unshare").symlink_to("/usr/bin/unshare")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(UserError) as raised:
        user_namespace.require("box.build")
    assert str(raised.value) == (
        "newuidmap not found: run ./setup as root, or install uidmap (Debian/Ubuntu), shadow-utils (Fedora) "
        "or shadow (Arch)"
    )


def test_root_needs_no_subordinate_ids() -> None:
    if os.geteuid() != 0:
        pytest.skip("as root only")
    assert user_namespace.problem("box.build") is None


def test_a_namespace_command_runs_as_its_root_and_its_mounts_stay_inside(tmp_path: Path) -> None:
    if user_namespace.problem("this test") is not None:
        pytest.skip(str(user_namespace.problem("this test")))
    script = f"mount -t tmpfs t {tmp_path} && touch {tmp_path}/inside && id -u"
    done = subprocess.run(user_namespace.command("sh", "-c", script), capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (0, "0\n")
    assert not (tmp_path / "inside").exists()


CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vexfs-vmtest"


def test_a_chroot_of_a_box_has_proc_dev_and_the_bound_folder_and_leaves_none_mounted(tmp_path: Path) -> None:
    if user_namespace.problem("this test") is not None:
        pytest.skip(str(user_namespace.problem("this test")))
    boxes = store.list_boxes(CACHE)
    if not boxes:
        pytest.skip(f"no box in {store.boxes_dir(CACHE)}: `invoke box.build` makes one")
    rootfs = boxes[0].rootfs
    (tmp_path / "mark").write_text("from the host\n")
    script = "echo x >/dev/null && cat /proc/self/comm && cat /bound/mark && id -u && stat -c %U /etc"
    command = user_namespace.in_chroot(rootfs, "sh", "-c", script, binds=((tmp_path, "/bound"),))
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "cat\nfrom the host\n0\nroot\n"), done.stderr
    assert not (rootfs / "dev" / "null").is_file()  # the redirection reached the host's device, left no file
    assert [line for line in Path("/proc/self/mounts").read_text().splitlines() if str(rootfs) in line] == []
