"""One run from several: run folders made per kernel line (one CI job each) merged into one folder with one
results.json, summary, JUnit, report and KCIDB export, each line's own subfolder copied in."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from toolkit import kernels
from toolkit.errors import UserError
from toolkit.files import atomic_write
from toolkit.results import kcidb, store
from toolkit.results.records import RunRecord, RunState

KCIDB_FILE = "kcidb.json"


def run_folder(path: Path) -> Path:
    """The run folder a path names: the folder itself, or the run its `latest` link points at."""
    for candidate in (path, path / store.LATEST):
        if (candidate / "results.json").is_file():
            return candidate.resolve()
    raise UserError(f"{path} is no run folder (no results.json, no latest run in it): give results/<run-id> folders")


def _joined(values: Sequence[str]) -> str:
    return ", ".join(dict.fromkeys(value for value in values if value))


def combine(records: Sequence[RunRecord], run_id: str) -> RunRecord:
    """The runs of every record in one record, ordered by kernel line; a line, domain and subject twice is an error."""
    if not records:
        raise UserError("nothing to merge: give the run folders, `invoke results.merge DIR...`")
    seen: dict[tuple[str, str, str], str] = {}
    for record in records:
        for run in record.runs:
            key = (run.kernel_line, run.domain, run.subject.name)
            if key in seen:
                raise UserError(
                    f"runs {seen[key]} and {record.run_id} both every_record {run.domain}/{run.subject.name} on "
                    f"{run.kernel_line}: merge runs of different kernel lines"
                )
            seen[key] = record.run_id
    order = {line.name: index for index, line in enumerate(kernels.every_line())}
    runs = sorted((run for record in records for run in record.runs),
                  key=lambda r: (order.get(r.kernel_line, len(order)), r.kernel_line, r.domain, r.subject.name))  # fmt: skip
    keys = dict.fromkeys(key for record in records for key in record.host)
    return RunRecord(
        run_id=run_id,
        started=min(record.started for record in records),
        finished=max(record.finished for record in records),
        toolkit_version=_joined([record.toolkit_version for record in records]),
        host={key: _joined([str(record.host.get(key, "")) for record in records]) for key in keys},
        runs=tuple(runs),
        state=next(state for state in MERGED_STATE if state in {record.state for record in records}),
        plan=tuple(planned for record in records for planned in record.plan),
    )


# A merged run stands where the least finished of its runs stands.
MERGED_STATE = (RunState.ABANDONED, RunState.INTERRUPTED, RunState.RUNNING, RunState.FINISHED)


def merge(results_root: Path, paths: Sequence[Path], cache_dir: Path, origin: str = kcidb.ORIGIN) -> Path:
    """A new run in results_root from the run folders at paths (their line subfolders copied); its folder."""
    folders = list(dict.fromkeys(run_folder(path) for path in paths))
    records = [store.load(folder.parent, folder.name) for folder in folders]
    record = combine(records, store.new_run_id())
    kcidb.document(record, origin)  # a bad origin is refused before anything is written
    owners: dict[str, Path] = {}
    for folder in folders:
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()):
            if sub.name in owners:
                raise UserError(
                    f"{owners[sub.name]} and {folder} both have a {sub.name}/ folder: merge different lines"
                )
            owners[sub.name] = folder
    target = store.run_dir(results_root, record.run_id)
    for name, folder in owners.items():
        shutil.copytree(folder / name, target / name, symlinks=True)
    store.write(results_root, record)
    atomic_write(target / KCIDB_FILE, kcidb.export(record, origin, kcidb.facts(record, target, cache_dir)))
    return target
