"""A scratch git repository for the bisect's tests: a module folder with a commit per revision."""

from __future__ import annotations

import subprocess
from pathlib import Path

AUTHOR = ["-c", "user.name=Ada", "-c", "user.email=ada@example.org"]


def git(repo: Path, *words: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *AUTHOR, *words], check=True, capture_output=True, text=True,
                          timeout=60).stdout.strip()  # fmt: skip


def history(repo: Path, count: int) -> list[str]:
    """A repository whose module folder `my mod/` gets one commit per revision (its source says which)."""
    (repo / "my mod").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    commits = []
    for number in range(1, count + 1):
        (repo / "my mod" / "Kbuild").write_text("obj-m := m.o\n")
        (repo / "my mod" / "m.c").write_text(f"/* revision {number} */\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"revision {number}")
        commits.append(git(repo, "rev-parse", "HEAD"))
    return commits
