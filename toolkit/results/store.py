"""Where runs are written: results/<run-id>/ with results.json, summary.txt, junit.xml; results/latest."""

from __future__ import annotations

import datetime
import json
import os
import re
import secrets
from pathlib import Path

from toolkit.errors import UserError
from toolkit.files import atomic_write, remove_tree
from toolkit.results import reports, schema
from toolkit.results.records import RunRecord

LATEST = "latest"
RUN_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{4}")  # new_run_id's names: they sort by time


def new_run_id(now: datetime.datetime | None = None) -> str:
    moment = now or datetime.datetime.now()
    return f"{moment:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def run_dir(results_root: Path, run_id: str) -> Path:
    """The folder of a run, made now; a UserError when results_root cannot hold it."""
    path = results_root / run_id
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(
            f"cannot make {path} ({error.strerror}): point results_dir in vmtest.toml "
            "(or VEXFS_RESULTS_DIR) at a directory you can write"
        ) from None
    return path


def write(results_root: Path, record: RunRecord) -> Path:
    """Write (or rewrite) a run's files atomically and point results/latest at it."""
    path = run_dir(results_root, record.run_id)
    atomic_write(path / "results.json", json.dumps(record.to_dict(), indent=2) + "\n")
    atomic_write(path / "summary.txt", reports.matrix(record) + "\n\n" + reports.table(record) + "\n")
    atomic_write(path / "junit.xml", reports.junit(record))
    atomic_write(path / "report.html", reports.html(record, lambda relative: (path / relative).is_file()))
    link = results_root / f".{LATEST}.{os.getpid()}"
    link.unlink(missing_ok=True)
    link.symlink_to(record.run_id)
    os.replace(link, results_root / LATEST)
    return path


def load(results_root: Path, run_id: str | None = None) -> RunRecord:
    """A stored run, the latest when run_id is None."""
    name = run_id or LATEST
    path = results_root / name / "results.json"
    if not path.is_file():
        known = sorted(p.parent.name for p in results_root.glob("*/results.json")) if results_root.is_dir() else []
        hint = "run `invoke test.kernel` first" if not known else f"recent runs: {', '.join(known[-5:])}"
        raise UserError(f"no results for run {name!r} in {results_root}: {hint}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{path} is not valid JSON ({error}): the run was cut short; remove that folder") from None
    wrong = schema.problems(data)
    if wrong:
        raise UserError(f"{path} does not follow the result contract ({wrong[0]}): remove or repair it")
    return RunRecord.from_dict(data)


def prune(results_root: Path, keep: int) -> list[str]:
    """Remove the folders of all runs but the newest `keep` and the one `latest` points at; the ids removed."""
    if keep < 1:
        raise UserError(f"--keep must be 1 or more, not {keep}: a run being written is the newest one")
    if not results_root.is_dir():
        return []
    runs = sorted(
        p.name for p in results_root.iterdir() if p.is_dir() and not p.is_symlink() and RUN_ID.fullmatch(p.name)
    )
    latest = results_root / LATEST
    current = Path(os.readlink(latest)).name if latest.is_symlink() else ""
    removed = [run_id for run_id in runs[: max(len(runs) - keep, 0)] if run_id != current]
    for run_id in removed:
        remove_tree(results_root / run_id)
    return removed
