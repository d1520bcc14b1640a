"""A module's git history read from a real scratch repository: commits by name, the commits between two ends,
a revision exported; every bad revision refused in one line; the repository never changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.bisect.history import Repository
from toolkit.errors import UserError

from .scratch_git import git, history


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return tmp_path / "the repo"


def test_the_repository_of_a_module_folder_is_its_top_and_the_folder_inside_it(repo: Path) -> None:
    history(repo, 1)
    found = Repository.holding(repo / "my mod")
    assert found.top == repo.resolve() and found.module_path == Path("my mod")
    assert Repository.holding(repo).module_path == Path(".")


def test_a_folder_in_no_repository_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="is not in a git repository .*: bisect reads the module's history; give "
                                        "--module-dir a folder of a git checkout"):  # fmt: skip
        Repository.holding(tmp_path)


def test_a_revision_is_named_by_hash_branch_tag_or_ancestry(repo: Path) -> None:
    commits = history(repo, 3)
    git(repo, "tag", "v1", commits[0])
    found = Repository.holding(repo / "my mod")
    assert [found.commit(name, "--good").sha for name in ("v1", "HEAD~1", "main", commits[2][:8])] == [
        commits[0], commits[1], commits[2], commits[2]]  # fmt: skip
    first = found.commit("v1", "--good")
    assert (first.subject, first.author, first.short) == ("revision 1", "Ada <ada@example.org>", commits[0][:12])


@pytest.mark.parametrize("revision", ["", "   ", "nosuch", "a b/../c", "..", "HEAD..HEAD~1", "-x", "--all",
                                      "HEAD\nHEAD", "a\0b", "x" * 5000, "'; rm -rf /", "HEAD:my mod"])  # fmt: skip
def test_a_revision_that_names_no_commit_is_refused_in_one_line(repo: Path, revision: str) -> None:
    history(repo, 2)
    with pytest.raises(UserError, match="^--good .* (names no commit|is not a commit of)") as refused:
        Repository.holding(repo).commit(revision, "--good")
    assert "\n" not in str(refused.value) and len(str(refused.value)) < 300


def test_the_commits_between_are_those_after_good_up_to_bad_oldest_first(repo: Path) -> None:
    commits = history(repo, 5)
    found = Repository.holding(repo)
    between = found.between(found.commit(commits[1], "--good"), found.commit(commits[4], "--bad"))
    assert [commit.sha for commit in between] == commits[2:]


def test_ends_that_are_one_commit_or_the_wrong_way_round_are_refused(repo: Path) -> None:
    commits = history(repo, 2)
    found = Repository.holding(repo)
    old, new = found.commit(commits[0], "--good"), found.commit(commits[1], "--bad")
    with pytest.raises(UserError, match="--good and --bad both name .*: give an older commit as --good"):
        found.between(new, new)
    with pytest.raises(UserError, match=f"--good {new.short} is not an ancestor of --bad {old.short}"):
        found.between(new, old)


def test_commits_on_a_branch_merged_in_are_between_when_they_descend_from_good(repo: Path) -> None:
    commits = history(repo, 2)
    git(repo, "checkout", "-q", "-b", "side")
    (repo / "my mod" / "side.c").write_text("/* side */\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "side work")
    git(repo, "checkout", "-q", "main")
    (repo / "my mod" / "m.c").write_text("/* revision 3 */\n")
    git(repo, "commit", "-q", "-am", "revision 3")
    git(repo, "merge", "-q", "--no-edit", "side")
    found = Repository.holding(repo)
    between = found.between(found.commit(commits[1], "--good"), found.commit("HEAD", "--bad"))
    assert {commit.subject for commit in between} == {"side work", "revision 3", "Merge branch 'side'"}
    assert between[-1].subject == "Merge branch 'side'"


def test_an_export_holds_the_revisions_tree_and_leaves_the_repository_as_it_was(repo: Path, tmp_path: Path) -> None:
    commits = history(repo, 3)
    (repo / "my mod" / "m.c").write_text("/* an edit not committed */\n")
    before = (git(repo, "status", "--porcelain"), git(repo, "rev-parse", "HEAD"), git(repo, "branch", "--list"),
              git(repo, "worktree", "list"), git(repo, "stash", "list"))  # fmt: skip
    found = Repository.holding(repo / "my mod")
    scratch = tmp_path / "scratch"
    module = found.export(found.commit(commits[0], "--good"), scratch)
    assert module == scratch / "my mod" and (module / "m.c").read_text() == "/* revision 1 */\n"
    module = found.export(found.commit(commits[1], "--good"), scratch)
    assert (module / "m.c").read_text() == "/* revision 2 */\n"
    assert sorted(path.name for path in scratch.parent.iterdir()) == ["scratch", "the repo"]  # no archive left
    after = (git(repo, "status", "--porcelain"), git(repo, "rev-parse", "HEAD"), git(repo, "branch", "--list"),
             git(repo, "worktree", "list"), git(repo, "stash", "list"))  # fmt: skip
    assert after == before
