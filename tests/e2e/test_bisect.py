"""`invoke bisect` on a real VM (6.1; 7.x too in the full suite): over a module's git history whose fifth commit
adds a leak, memory_leak alone finds that commit, and the user's checkout is left as it was."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from toolkit.config import Settings

pytestmark = pytest.mark.e2e

REPO = Path(__file__).parents[2]
MODULES = Path(__file__).parent / "modules"
AUTHOR = ["-c", "user.name=Ada Bisect", "-c", "user.email=ada@example.org"]


def _git(repo: Path, *words: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *AUTHOR, *words], check=True, capture_output=True, text=True,
                          timeout=60).stdout.strip()  # fmt: skip


def _commit(repo: Path, subject: str) -> str:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", subject)
    return _git(repo, "rev-parse", "HEAD")


def _edit(source: Path, number: int) -> None:
    with source.open("a") as text:
        text.write(f"/* harmless edit {number} */\n")


def leak_history(repo: Path) -> list[str]:
    """A git repository whose module folder drv/ holds the clean fixture for four commits (the first as it is,
    three harmless edits), the leaky one from the fifth (which swaps it in) and through three more harmless edits;
    the eight commits' hashes, oldest first."""
    module = repo / "drv"
    shutil.copytree(MODULES / "clean", module)
    _git(repo, "init", "-q")
    commits = [_commit(repo, "drv: a module that frees what it allocates")]
    for number in (2, 3, 4):
        _edit(module / "clean.c", number)
        commits.append(_commit(repo, f"drv: harmless edit {number}"))
    (module / "clean.c").unlink()
    shutil.copytree(MODULES / "leaky", module, dirs_exist_ok=True, copy_function=shutil.copyfile)  # new times:
    # a Kbuild of the same size and time would look unchanged to git
    commits.append(_commit(repo, "drv: keep four buffers from load on"))
    for number in (6, 7, 8):
        _edit(module / "leaky.c", number)
        commits.append(_commit(repo, f"drv: harmless edit {number}"))
    return commits


def test_bisect_names_the_fifth_commit_which_adds_the_leak(line_vm: tuple[Settings, str], tmp_path: Path) -> None:
    on_line, vm = line_vm
    repo = tmp_path / "my module"
    repo.mkdir()
    commits = leak_history(repo)
    results = tmp_path / "results"
    done = subprocess.run(
        [str(REPO / ".venv/bin/invoke"), "bisect", "-m", str(repo / "drv"), "--good", commits[0], "--bad", "HEAD",
         "--only", "memory_leak", "--quick", "--kernel", on_line.kernel, "--name", vm],
        cwd=REPO, capture_output=True, text=True, timeout=1800,
        env={**os.environ, "VEXFS_RESULTS_DIR": str(results)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"first bad commit: {commits[4]} drv: keep four buffers from load on" in done.stdout
    assert "author: Ada Bisect <ada@example.org>" in done.stdout
    [folder] = results.glob("bisect-*")
    found = json.loads((folder / "bisect.json").read_text())
    assert found["state"] == "finished" and found["first_bad"]["sha"] == commits[4]
    assert "leaky_init" in found["title"]
    assert found["tests"] == ["build", "load", "unload", "memory_leak"] and found["commits"] == 7
    steps = [(step["role"], step["commit"]["sha"], step["judgement"]) for step in found["steps"]]
    assert steps == [
        ("bad end", commits[7], "bad"),
        ("good end", commits[0], "good"),
        ("probe", commits[3], "good"),
        ("probe", commits[5], "bad"),
        ("probe", commits[4], "bad"),
    ]
    assert all(step["reason"].startswith("memory_leak failed") for step in found["steps"] if step["judgement"] == "bad")
    for step in found["steps"]:  # each step a normal run, its report beside its results
        assert (results / step["run_id"] / "report.html").is_file()
    assert (folder / "bisect.txt").read_text().startswith(f"first bad commit: {commits[4]}")
    assert "step 3/~3" in done.stderr
    assert _git(repo, "status", "--porcelain") == "" and _git(repo, "rev-parse", "HEAD") == commits[7]
    assert len(_git(repo, "worktree", "list").splitlines()) == 1
    assert not (on_line.cache_dir / "bisect" / vm).exists(), "the scratch folder goes with the bisect"
