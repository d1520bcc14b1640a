"""Merging run folders made per kernel line (one CI job each) into one run."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from kcidb_io.schema import V5_3

from toolkit.errors import UserError
from toolkit.results import merge, schema, store
from toolkit.results.records import RunRecord

REPO = Path(__file__).parents[2]
REAL_RUN = Path(__file__).parent / "fixtures" / "results" / "20261128-032950-a3a1"


def _split(tmp_path: Path) -> list[Path]:
    """The real three-line run as CI would make it: one results folder per job, 5.10 alone, 6.12 with 7.x."""
    data = json.loads((REAL_RUN / "results.json").read_text())
    folders = []
    for job, lines, run_id in (
        ("job-a", ["5.10"], "20261128-032950-aaaa"),
        ("job-b", ["7.x", "6.12"], "20261128-033001-bbbb"),
    ):
        runs = [run for run in data["runs"] if run["kernel_line"] in lines]
        record = RunRecord.from_dict({**data, "run_id": run_id, "runs": runs})
        store.write(tmp_path / job, record)
        for line in lines:
            shutil.copytree(REAL_RUN / line, tmp_path / job / run_id / line)
        folders.append(tmp_path / job / run_id)
    return folders


def test_merged_run_has_every_line_in_catalogue_order_and_each_lines_folder(tmp_path: Path) -> None:
    folders = _split(tmp_path)
    merged = merge.merge(tmp_path / "results", [folders[1], tmp_path / "job-a"], tmp_path / "cache")
    data = json.loads((merged / "results.json").read_text())
    assert schema.problems(data) == []
    assert data["summary"] == {"passed": 5, "failed": 6, "error": 0, "flaky": 0, "skipped": 13, "known": 0}
    assert [run["kernel_line"] for run in data["runs"]] == ["5.10", "6.12", "7.x"]
    assert (data["started"], data["finished"]) == ("2026-11-28T03:29:50+00:00", "2026-11-28T03:32:24+00:00")
    assert sorted(p.name for p in merged.iterdir()) == [
        "5.10", "6.12", "7.x", "junit.xml", "kcidb.json", "report.html", "results.json", "summary.txt",
    ]  # fmt: skip
    assert (merged / "7.x" / "vm" / "console.log").read_bytes() == (
        REAL_RUN / "7.x" / "vm" / "console.log"
    ).read_bytes()
    assert (tmp_path / "results" / "latest").resolve() == merged
    kcidb = V5_3.validate_exactly(json.loads((merged / "kcidb.json").read_text()))
    assert len(kcidb["builds"]) == 3 and kcidb["builds"][0]["log_url"] == (merged / "5.10" / "build.log").as_uri()
    assert '<a href="6.12/vm/commands.log">commands</a>' in (merged / "report.html").read_text()
    assert (merged / "junit.xml").read_text().count("<testsuite ") == 3


def test_the_same_line_twice_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    folders = _split(tmp_path)
    with pytest.raises(UserError, match="both every_record kernel_module/double_free on 5.10: merge runs of different"):
        merge.merge(tmp_path / "results", [folders[0], _copy(folders[0], tmp_path / "again")], tmp_path / "cache")
    assert not (tmp_path / "results").exists()


def _copy(folder: Path, root: Path) -> Path:
    target = root / "20261128-040000-cccc"
    shutil.copytree(folder, target)
    return target


def test_a_folder_that_is_no_run_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="is no run folder"):
        merge.merge(tmp_path / "results", [tmp_path], tmp_path / "cache")
    with pytest.raises(UserError, match="nothing to merge"):
        merge.combine([], "r")


def test_invoke_results_merge_takes_the_folders_as_words_then_prune_keeps_it(tmp_path: Path) -> None:
    folders = _split(tmp_path)
    env = {**os.environ, "VEXFS_RESULTS_DIR": str(tmp_path / "results"), "VEXFS_CACHE_DIR": str(tmp_path / "cache")}
    invoke = [str(REPO / ".venv/bin/invoke"), "--search-root", str(REPO)]
    done = subprocess.run([*invoke, "results.merge", *map(str, folders), "--origin", "ci_lab"], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "merged 3 line run(s) into" in done.stdout and "7.x" in done.stdout
    merged = (tmp_path / "results" / "latest").resolve()
    assert json.loads((merged / "kcidb.json").read_text())["builds"][0]["origin"] == "ci_lab"
    shutil.copytree(folders[0], tmp_path / "results" / "20200101-000000-dddd")
    pruned = subprocess.run([*invoke, "results.prune", "--keep", "1"], env=env, capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert pruned.stdout == "removed run 20200101-000000-dddd\n" and sorted(
        p.name for p in (tmp_path / "results").iterdir()
    ) == [merged.name, "latest"]
