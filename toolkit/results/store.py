"""Where runs are written: results/<run-id>/ with results.json, summary.txt, junit.xml; results/latest."""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import re
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path

from toolkit.errors import UserError
from toolkit.files import atomic_write, remove_tree
from toolkit.results import reports, schema
from toolkit.results.records import RunRecord, RunState

LATEST = "latest"
STATE_WITHIN = 4096  # a results.json says where its run stands within its first bytes (RunRecord.to_dict)
RUN_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{4}")  # new_run_id's names: they sort by time
EARLIER_READ = 30  # the earlier runs a report's trend is drawn from, newest first


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


def write(results_root: Path, record: RunRecord, earlier: Sequence[RunRecord] = ()) -> Path:
    """Write (or rewrite) a run's files atomically and point results/latest at it; report.html shows the trend of
    each of its rows in the earlier runs given (`earlier_runs`)."""
    path = run_dir(results_root, record.run_id)
    _write_files(path, record, earlier)
    link = results_root / f".{LATEST}.{os.getpid()}"
    link.unlink(missing_ok=True)
    link.symlink_to(record.run_id)
    os.replace(link, results_root / LATEST)
    return path


def _write_files(path: Path, record: RunRecord, earlier: Sequence[RunRecord] = ()) -> None:
    atomic_write(path / "results.json", json.dumps(record.to_dict(), indent=2) + "\n")
    atomic_write(path / "summary.txt", reports.matrix(record) + "\n\n" + reports.table(record) + "\n")
    atomic_write(path / "junit.xml", reports.junit(record))
    page = reports.html(record, lambda relative: (path / relative).is_file(), earlier)
    atomic_write(path / "report.html", page)


def earlier_runs(results_root: Path, run_id: str, limit: int = EARLIER_READ) -> list[RunRecord]:
    """The runs saved in results_root before run_id, newest first, at most limit of them; a folder that cannot be
    read is passed over (a trend is no verdict)."""
    if not results_root.is_dir():
        return []
    names = sorted((p.name for p in results_root.iterdir() if RUN_ID.fullmatch(p.name) and p.name < run_id),
                   reverse=True)  # fmt: skip
    found = (_readable(results_root / name / "results.json") for name in names[:limit])
    return [record for record in found if record is not None]


def _readable(path: Path) -> RunRecord | None:
    try:
        return RunRecord.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


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
    return _standing(RunRecord.from_dict(data), path.parent)


def settle_abandoned(results_root: Path) -> list[str]:
    """Rewrite the files of runs saved as running whose folder nobody holds as abandoned runs (summary.txt and
    report.html say so too); one line for each. `latest` stays where it is."""
    settled = []
    folders = sorted(p for p in results_root.iterdir() if RUN_ID.fullmatch(p.name)) if results_root.is_dir() else []
    for folder in filter(_saved_as_running, folders):
        try:
            record = load(results_root, folder.name)
        except UserError:
            continue
        if record.state is RunState.ABANDONED:
            _write_files(folder, record, earlier_runs(results_root, folder.name))
            settled.append(f"run {folder.name}, left running by a process now gone, marked abandoned")
    return settled


def _saved_as_running(folder: Path) -> bool:
    """Whether the run's results.json says it is running, read from the file's head (not all of every run)."""
    try:
        with open(folder / "results.json", errors="replace") as saved:
            return f'"state": "{RunState.RUNNING.value}"' in saved.read(STATE_WITHIN)
    except OSError:
        return False


def _standing(record: RunRecord, run_dir: Path) -> RunRecord:
    """The run as it stands: one saved as running whose folder nobody holds any more never finished (its process
    was killed or lost its machine), so it is abandoned, the tests it did not reach errors."""
    if record.state is not RunState.RUNNING or _busy(run_dir.resolve()):
        return record
    reason = "not run: the run's process ended without finishing it (killed, or its machine lost)"
    return record.ended(RunState.ABANDONED, reason, record.finished)


@contextlib.contextmanager
def held(run_dir: Path) -> Iterator[None]:
    """Mark a run folder as being written for the block (a lock on the folder, gone with its process)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _busy(run_dir: Path) -> bool:
    """Whether a run still writes the folder (see `held`)."""
    descriptor = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)


def _leftovers(results_root: Path, run_dirs: list[Path]) -> list[str]:
    """What killed runs left in results_root and in the run folders kept (none being written): half-written files
    (an atomic write's temporary file), `latest` links being replaced by a process now gone."""
    left = [path for run_dir in run_dirs for path in sorted(run_dir.glob(".*")) if path.is_file()]
    for link in sorted(results_root.glob(f".{LATEST}.*")):
        pid = link.name.rsplit(".", 1)[-1]
        if not pid.isdigit() or not Path(f"/proc/{pid}").exists():
            left.append(link)
    for path in left:
        path.unlink()
    return [f"{path.relative_to(results_root)}, left half-written by a killed run" for path in left]


def prune(results_root: Path, keep: int) -> list[str]:
    """Remove the folders of all runs but the newest `keep` and the one `latest` points at, and what killed runs
    left: folders of runs that recorded nothing, half-written files. Never a folder a run still writes.
    What was removed, one line each."""
    if keep < 1:
        raise UserError(f"--keep must be 1 or more, not {keep}: a run being written is the newest one")
    if not results_root.is_dir():
        return []
    folders = sorted(
        p for p in results_root.iterdir() if p.is_dir() and not p.is_symlink() and RUN_ID.fullmatch(p.name)
    )
    idle = [folder for folder in folders if not _busy(folder)]
    runs = [folder for folder in folders if (folder / "results.json").is_file()]
    latest = results_root / LATEST
    current = Path(os.readlink(latest)).name if latest.is_symlink() else ""
    old = [folder for folder in runs[: max(len(runs) - keep, 0)] if folder.name != current and folder in idle]
    empty = [folder for folder in idle if folder not in runs]
    for folder in sorted(old + empty):
        remove_tree(folder)
    removed = [f"run {folder.name}" if folder in old else f"run {folder.name} (it recorded nothing)"
               for folder in sorted(old + empty)]  # fmt: skip
    kept = [folder for folder in idle if folder not in old + empty]
    return removed + settle_abandoned(results_root) + _leftovers(results_root, kept)
