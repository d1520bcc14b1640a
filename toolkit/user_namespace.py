"""Commands that make or use a Debian root tree, run without root: in a user namespace where this user is root.

An ordinary user is root in a namespace of its own (`unshare --map-root-user`), and its first range of
subordinate ids (/etc/subuid, /etc/subgid) stands for the tree's other owners (`--map-auto`): ids 1 to 65535 of
the tree are that range, and the tree's root-owned files are this user's own. Root needs no such namespace:
its trees have their real owners. Either way the command runs in private mount and pid namespaces, so what it
mounts goes with it, even when it is killed.
"""

from __future__ import annotations

import os
import pwd
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from toolkit import host_checks
from toolkit.errors import UserError

# The subordinate ids a Debian tree needs: mmdebstrap maps its ids 0 to 65535 (nobody, nogroup: 65534) onto them.
NEEDED_IDS = 65536
FIRST_FREE_ID = 100000
CHROOT_SCRIPT = Path(__file__).with_name("chroot.sh")
# Each switch of unprivileged user namespaces: the value that disables them, the value that enables them.
SYSCTLS = {
    "kernel.unprivileged_userns_clone": ("0", "1"),
    "user.max_user_namespaces": ("0", "15000"),
    "kernel.apparmor_restrict_unprivileged_userns": ("1", "0"),
}


@dataclass(frozen=True)
class IdRange:
    """One line of /etc/subuid or /etc/subgid: whose it is, its first id and how many."""

    owner: str
    start: int
    count: int

    @property
    def end(self) -> int:
        return self.start + self.count


def parse_ranges(text: str) -> list[IdRange]:
    """The ranges of a subuid or subgid file, in order; malformed lines skipped, as newuidmap skips them."""
    ranges = []
    for line in text.splitlines():
        fields = line.strip().split(":")
        if len(fields) == 3 and fields[0] and fields[1].isdigit() and fields[2].isdigit():
            ranges.append(IdRange(fields[0], int(fields[1]), int(fields[2])))
    return ranges


def first_range(ranges: list[IdRange], name: str, uid: int) -> IdRange | None:
    """The user's first range (by name or by id, as newuidmap finds it): the one `unshare --map-auto` maps."""
    return next((found for found in ranges if found.owner in (name, str(uid))), None)


def free_start(ranges: list[IdRange]) -> int:
    """The first id, from 100000 on, past every range given: where a new range overlaps none."""
    return max([FIRST_FREE_ID, *(found.end for found in ranges)])


def range_problem(name: str, uid: int, subuid: str, subgid: str) -> str | None:
    """Why this user's subordinate ranges cannot hold a Debian tree's owners, and the command that fixes it."""
    ranges = {"/etc/subuid": parse_ranges(subuid), "/etc/subgid": parse_ranges(subgid)}
    found = {file: first_range(listed, name, uid) for file, listed in ranges.items()}
    if all(mine is not None and mine.count >= NEEDED_IDS for mine in found.values()):
        return None
    start = free_start([*ranges["/etc/subuid"], *ranges["/etc/subgid"]])
    span = f"{start}-{start + NEEDED_IDS - 1}"
    what = "; ".join(
        f"{file} has no range for {name}" if mine is None else f"{file} gives {name} {mine.count} ids, not {NEEDED_IDS}"
        for file, mine in found.items()
        if mine is None or mine.count < NEEDED_IDS
    )
    return f"{what}: sudo usermod --add-subuids {span} --add-subgids {span} {shlex.quote(name)}"


def sysctl_problem(read: dict[str, str | None]) -> str | None:
    """Which switch disables unprivileged user namespaces (read: each SYSCTLS name's value, None where the kernel
    has no such switch), and the command that enables them."""
    for name, (disabled, enabled) in SYSCTLS.items():
        if (read.get(name) or "").strip() == disabled:
            return f"unprivileged user namespaces are disabled ({name}={disabled}): sudo sysctl {name}={enabled}"
    return None


def _sysctl(name: str) -> str | None:
    try:
        return Path("/proc/sys", *name.split(".")).read_text()
    except OSError:
        return None


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _user() -> tuple[str, int]:
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name, uid
    except KeyError:  # a user id with no name on this host
        return str(uid), uid


def require(why: str) -> None:
    """Everything a user namespace for why needs is here, else a UserError saying how to get it; root needs none."""
    host_checks.require_tool("unshare")
    if os.geteuid() == 0:
        return
    for tool in ("newuidmap", "newgidmap"):
        host_checks.require_tool(tool)
    name, uid = _user()
    missing = sysctl_problem({switch: _sysctl(switch) for switch in SYSCTLS}) or range_problem(
        name, uid, _read("/etc/subuid"), _read("/etc/subgid")
    )
    if missing is None and "--map-auto" not in _unshare_help():
        missing = "this unshare cannot map subordinate ids (--map-auto): install util-linux 2.38 or newer"
    if missing:
        raise UserError(f"{why} as {name}: {missing}")


def problem(why: str) -> str | None:
    """require's message, or None when nothing is missing."""
    try:
        require(why)
    except UserError as error:
        return str(error)
    return None


def _unshare_help() -> str:
    return subprocess.run(["unshare", "--help"], capture_output=True, text=True).stdout


def _user_flags() -> list[str]:
    return [] if os.geteuid() == 0 else ["--user", "--map-root-user", "--map-auto"]


def command(*words: str) -> list[str]:
    """words run as the namespace's root, in private mount and pid namespaces."""
    return ["unshare", *_user_flags(), "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child",
            *words]  # fmt: skip


def in_chroot(root: Path, *words: str, binds: tuple[tuple[Path, str], ...] = ()) -> list[str]:
    """words run in a chroot of root with /proc and the usual /dev, and each (host folder, folder in the chroot)
    of binds mounted there, all of it gone when the command ends."""
    mounts = [arg for host, inside in binds for arg in ("--bind", str(host), inside)]
    return command("sh", str(CHROOT_SCRIPT), str(root), *mounts, "--", *words)


def remove(path: Path) -> None:
    """Remove a tree whose owners only the namespace's root can be (another of its ids owns a folder in it)."""
    done = subprocess.run(command("rm", "-rf", "--one-file-system", str(path)), capture_output=True, text=True)
    if done.returncode != 0:
        raise OSError(f"cannot remove {path}: {done.stderr.strip()}")
