"""A module's git history, read without changing the repository: its commits by name, the commits between two
of them, a revision's tree exported into a folder the toolkit owns (`git archive`, so the user's HEAD,
branches, index and .git stay as they were)."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from toolkit.errors import UserError

GIT_TIMEOUT_S = 60.0  # a look-up in a repository
ARCHIVE_TIMEOUT_S = 600.0  # a revision's whole tree written out
SHOWN = 80  # characters of a user's revision a message repeats


class GitFailed(Exception):
    """A git command failed or timed out; its message is git's own last line."""


def _git(top: Path, *words: str, timeout: float = GIT_TIMEOUT_S) -> str:
    try:
        done = subprocess.run(["git", "-C", str(top), *words], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise GitFailed(f"git {words[0]} took more than {timeout:g} s") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise GitFailed(lines[-1] if lines else f"git {words[0]} exited {done.returncode}")
    return done.stdout


@dataclass(frozen=True)
class Commit:
    """One commit as a bisect names it."""

    sha: str
    subject: str
    author: str  # name <email>

    @property
    def short(self) -> str:
        return self.sha[:12]

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Commit:
        return cls(data["sha"], data["subject"], data["author"])


FORMAT = "%H%x00%s%x00%an <%ae>"


def _commits(text: str) -> list[Commit]:
    return [Commit(*line.split("\0", 2)) for line in text.splitlines() if line]


@dataclass(frozen=True)
class Repository:
    """The git repository holding a module: its top folder and the module's folder inside it."""

    top: Path
    module_path: Path  # relative to top ("." for a module at the top)

    @classmethod
    def holding(cls, module_dir: Path) -> Repository:
        """The repository module_dir is in; a UserError when git is missing or it is in none."""
        if shutil.which("git") is None:
            raise UserError("git is not installed: install it (Debian: apt-get install git) to bisect")
        try:
            top = Path(_git(module_dir, "rev-parse", "--show-toplevel").strip()).resolve()
        except GitFailed as failed:
            raise UserError(
                f"{module_dir} is not in a git repository ({failed}): bisect reads the module's history; give "
                "--module-dir a folder of a git checkout"
            ) from None
        return cls(top, module_dir.resolve().relative_to(top))

    def commit(self, revision: str, flag: str) -> Commit:
        """The commit a revision names (a hash, branch, tag, HEAD~3); a UserError naming flag when it names none."""
        shown = revision[:SHOWN]
        if not revision.strip() or "\0" in revision:
            raise UserError(f"{flag} {revision!r} names no commit: give a commit, branch or tag of {self.top}")
        try:
            sha = _git(self.top, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}")
        except GitFailed:
            raise UserError(
                f"{flag} {shown!r} is not a commit of {self.top}: give a hash, branch or tag (`git log` lists them)"
            ) from None
        return _commits(_git(self.top, "show", "-s", f"--format={FORMAT}", sha.strip()))[0]

    def between(self, good: Commit, bad: Commit) -> list[Commit]:
        """The commits after good up to bad (bad last) on the paths from one to the other, oldest first; a UserError
        when good is not an older ancestor of bad."""
        if good.sha == bad.sha:
            raise UserError(f"--good and --bad both name {good.short}: give an older commit as --good")
        try:
            _git(self.top, "merge-base", "--is-ancestor", good.sha, bad.sha)
        except GitFailed:
            raise UserError(
                f"--good {good.short} is not an ancestor of --bad {bad.short}: give as --good a commit the bad one "
                f"descends from (`git log {bad.short}` lists them)"
            ) from None
        listed = _git(self.top, "rev-list", "--ancestry-path", "--topo-order", "--reverse", f"--format={FORMAT}",
                      "--no-commit-header", f"{good.sha}..{bad.sha}")  # fmt: skip
        return _commits(listed)

    def export(self, commit: Commit, into: Path) -> Path:
        """The commit's whole tree written into the folder into (emptied first); the module's folder in it."""
        if into.exists():
            shutil.rmtree(into)
        into.mkdir(parents=True)
        archive = into.with_name(f"{into.name}.tar")
        try:
            _git(self.top, "archive", "--format=tar", f"--output={archive}", commit.sha, timeout=ARCHIVE_TIMEOUT_S)
            with tarfile.open(archive) as tree:
                tree.extractall(into, filter="data")
        finally:
            archive.unlink(missing_ok=True)
        return into / self.module_path
