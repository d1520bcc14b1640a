"""The CI examples (ci/): one job per kernel line of the catalogue, then one job merging their run folders."""

from pathlib import Path

from ruamel.yaml import YAML

from toolkit import kernels

CI = Path(__file__).parents[2] / "ci"
LINES = [line.name for line in kernels.CATALOGUE]


def _load(name: str) -> dict:
    return YAML(typ="safe").load((CI / name).read_text())


def test_github_runs_every_line_in_its_own_job_then_merges_their_folders() -> None:
    jobs = _load("github-actions.yml")["jobs"]
    assert jobs["line"]["strategy"]["matrix"]["line"] == LINES
    steps = [step.get("run", "") for step in jobs["line"]["steps"]]
    assert """.venv/bin/nox -s "kernel-line(line='${{ matrix.line }}')\"""" in steps
    assert jobs["line"]["env"]["VEXFS_RESULTS_DIR"] == "results-${{ matrix.line }}"
    assert jobs["merge"]["needs"] == "line" and jobs["merge"]["if"] == "always()"
    assert ".venv/bin/invoke results.merge results-*/*/" in [step.get("run") for step in jobs["merge"]["steps"]]


def test_gitlab_runs_every_line_in_its_own_job_then_merges_their_folders_and_reports_junit() -> None:
    pipeline = _load("gitlab-ci.yml")
    line, merge = pipeline["kernel-line"], pipeline["merge"]
    assert line["parallel"]["matrix"] == [{"LINE": LINES}]
    assert """.venv/bin/nox -s "kernel-line(line='$LINE')\"""" in line["script"]
    assert line["variables"]["VEXFS_RESULTS_DIR"] == "results-$LINE" and line["artifacts"]["paths"] == [
        "results-$LINE/"
    ]
    assert merge["needs"] == ["kernel-line"] and merge["when"] == "always"
    assert ".venv/bin/invoke results.merge results-*/*/" in merge["script"]
    assert merge["artifacts"]["reports"]["junit"] == "merged/junit.xml"
