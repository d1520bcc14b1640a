"""A bisect driven end to end over a real scratch repository, each commit judged by a fake judge that reads the
exported tree as a run would build it: the ends checked first, probes by halves, the answer and every step
recorded; and the command line's refusals before anything starts."""

from __future__ import annotations

import io
import json
import signal
from pathlib import Path

import pytest

from toolkit import plans
from toolkit.bisect import bisection
from toolkit.bisect.history import Commit, Repository
from toolkit.bisect.judge import Judged
from toolkit.bisect.record import BisectRecord
from toolkit.bisect.search import Judgement
from toolkit.config import Settings
from toolkit.domains.selection import Selection
from toolkit.errors import UserError
from toolkit.interrupts import Interrupted
from toolkit.program import run_task
from toolkit.progress import Progress

from .scratch_git import history

LEAK_FROM = 5  # the revision whose source the fake judge finds red, and every later one


def _asked(repo: Path, tmp_path: Path, good: str, bad: str) -> bisection.Asked:
    repository = Repository.holding(repo / "my mod")
    settings = Settings(cache_dir=tmp_path / "cache", state_dir=tmp_path / "state", results_dir=tmp_path / "results")
    plan = plans.plan("kernel_module", {"module_dir": repo / "my mod"}, Selection(("memory_leak",)))
    good_commit, bad_commit = repository.commit(good, "--good"), repository.commit(bad, "--bad")
    return bisection.Asked(settings, plan, "vm", repository, good_commit, bad_commit,
                           tuple(repository.between(good_commit, bad_commit)))  # fmt: skip


def _reading(asked: bisection.Asked, scratch: Path, unbuildable: set[int] = frozenset()):  # noqa: ANN202
    """A judge that exports each commit and reads its revision: red from LEAK_FROM on, skipped when unbuildable."""

    def judge(commit: Commit) -> tuple[Judged, str]:
        source = (asked.repository.export(commit, scratch) / "m.c").read_text()
        revision = int(source.split()[2])
        if revision in unbuildable:
            found = Judged(Judgement.SKIP, "build failed - build failed (chroot): error")
        elif revision >= LEAK_FROM:
            found = Judged(Judgement.BAD, "memory_leak failed - leaked 256 bytes", "memory leak in m_init")
        else:
            found = Judged(Judgement.GOOD, "4 passed")
        return found, f"run-{revision}"

    return judge


def _bisect(asked: bisection.Asked, judge, said: io.StringIO) -> list[BisectRecord]:  # noqa: ANN001
    return list(bisection.bisecting(asked, bisection.begun(asked, "bisect-x"), judge, Progress("bisect", said)))


def test_the_fifth_of_eight_commits_is_found_after_both_ends_and_three_probes(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commits = history(repo, 8)
    asked = _asked(repo, tmp_path, commits[0], "HEAD")
    said = io.StringIO()
    records = _bisect(asked, _reading(asked, tmp_path / "scratch"), said)
    final = records[-1]
    assert [len(record.steps) for record in records] == [1, 2, 3, 4, 5, 5]  # saved after every step, then the answer
    assert final.state == "finished" and final.exit_status() == 0
    assert final.first_bad is not None and final.first_bad.sha == commits[4]
    assert final.title == "memory leak in m_init"
    assert [(step.role, step.commit.sha, step.judgement.value, step.run_id) for step in final.steps] == [
        ("bad end", commits[7], "bad", "run-8"), ("good end", commits[0], "good", "run-1"),
        ("probe", commits[3], "good", "run-4"), ("probe", commits[5], "bad", "run-6"),
        ("probe", commits[4], "bad", "run-5")]  # fmt: skip
    lines = said.getvalue().splitlines()
    assert lines[-1] == f"[bisect] step 3/~3: {commits[4][:12]} revision 5: bad: memory_leak failed - leaked 256 bytes"
    assert final.text().startswith(f"first bad commit: {commits[4]} revision 5\nauthor: Ada <ada@example.org>\n"
                                   "made red by: memory leak in m_init\n")  # fmt: skip


def test_the_record_is_saved_as_json_and_text(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commits = history(repo, 3)
    asked = _asked(repo, tmp_path, commits[0], "HEAD")
    final = _bisect(asked, _reading(asked, tmp_path / "scratch"), io.StringIO())[-1]
    final.save(tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "bisect.json").read_text())
    assert saved["first_bad"] is None and saved["state"] == "finished" and saved["commits"] == 2
    assert saved["conclusion"].startswith(f"--bad {commits[2][:12]} is not red with these tests (4 passed)")
    assert saved["tests"] == ["build", "load", "unload", "memory_leak"]
    assert (tmp_path / "out" / "bisect.txt").read_text().startswith("--bad ")


def test_a_good_end_that_is_red_too_stops_the_bisect_saying_so(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commits = history(repo, 7)
    asked = _asked(repo, tmp_path, commits[5], "HEAD")
    final = _bisect(asked, _reading(asked, tmp_path / "scratch"), io.StringIO())[-1]
    assert len(final.steps) == 2 and final.exit_status() == 1
    assert final.conclusion == (f"--good {commits[5][:12]} is red too (memory_leak failed - leaked 256 bytes): give "
                                "an older --good, where the tests pass")  # fmt: skip


def test_an_end_that_does_not_build_cannot_be_judged(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commits = history(repo, 6)
    asked = _asked(repo, tmp_path, commits[0], "HEAD")
    final = _bisect(asked, _reading(asked, tmp_path / "scratch", unbuildable={6}), io.StringIO())[-1]
    assert final.conclusion.startswith(f"--bad {commits[5][:12]} cannot be judged (build failed - ")
    assert final.exit_status() == 1


def test_commits_that_do_not_build_are_skipped_and_named_when_they_hide_the_answer(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commits = history(repo, 8)
    asked = _asked(repo, tmp_path, commits[0], "HEAD")
    final = _bisect(asked, _reading(asked, tmp_path / "scratch", unbuildable={4}), io.StringIO())[-1]
    assert [commit.sha for commit in final.suspects] == [commits[3], commits[4]] and final.first_bad is None
    assert final.conclusion == (f"the first bad commit is one of 2: {commits[3][:12]}, {commits[4][:12]} (the "
                                "commits before the last could not be judged)")  # fmt: skip
    assert final.exit_status() == 1
    found = _bisect(asked, _reading(asked, tmp_path / "scratch", unbuildable={2, 7}), io.StringIO())[-1]
    assert found.first_bad is not None and found.first_bad.sha == commits[4]


@pytest.mark.parametrize(
    ("words", "said"),
    [
        (["--bad", "HEAD"], "error: --good is missing: give both ends"),
        (["--good", "HEAD"], "error: --bad is missing: give both ends"),
        (["--good", "HEAD~1", "--bad", "HEAD", "--only", "nope"], "error: --only nope: no such test in this run"),
    ],
)
def test_the_command_refuses_what_it_cannot_bisect_in_one_line(
    words: list[str], said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch
) -> None:  # fmt: skip
    monkeypatch.setenv("VEXFS_RESULTS_DIR", str(tmp_path / "results"))
    history(tmp_path / "repo", 2)
    assert run_task(["bisect", "-m", str(tmp_path / "repo" / "my mod"), *words]) == 2
    err = capsys.readouterr().err
    assert err.startswith(said) and err.count("\n") == 1
    assert not (tmp_path / "results").exists()


def test_a_module_outside_any_repository_is_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VEXFS_RESULTS_DIR", str(tmp_path / "results"))
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "Kbuild").write_text("obj-m := m.o\n")
    assert run_task(["bisect", "-m", str(tmp_path / "mod"), "--good", "a", "--bad", "b"]) == 2
    assert "is not in a git repository" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    ("stop", "state", "conclusion"),
    [
        (Interrupted(signal.SIGINT), "interrupted", "interrupted by SIGINT after 1 steps: no answer"),
        (UserError("no disk space"), "stopped", "stopped by an error (no disk space) after 1 steps: no answer"),
    ],
)
def test_a_bisect_stopped_midway_keeps_its_steps_says_why_and_leaves_no_scratch(
    stop: BaseException, state: str, conclusion: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    commits = history(repo, 6)
    asked = _asked(repo, tmp_path, commits[0], "HEAD")
    judged = []

    def judge_until_stopped(asked: bisection.Asked, tree: Path, commit: Commit) -> tuple[Judged, str]:
        if judged:
            raise stop
        judged.append(commit)
        return _reading(asked, tree)(commit)

    monkeypatch.setattr(bisection, "_judged", judge_until_stopped)
    with pytest.raises(type(stop)):
        bisection.run(asked, "bisect-x", Progress("bisect", io.StringIO()))
    saved = json.loads((tmp_path / "results" / "bisect-x" / "bisect.json").read_text())
    assert (saved["state"], saved["conclusion"], len(saved["steps"])) == (state, conclusion, 1)
    assert not (tmp_path / "cache" / bisection.SCRATCH / "vm").exists()
