"""results.*: what runs found, shown, exported, compared, merged and pruned."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from invoke import Context
from invoke.exceptions import Exit

from toolkit.commands import collection, command, positional
from toolkit.errors import UserError
from toolkit.results.formats import EXPORT_FORMATS, KCIDB_ORIGIN
from toolkit.tasks.flag_help import JSON_HELP

if TYPE_CHECKING:
    from toolkit.results.records import RunRecord

RUN_HELP = "run id (default: the latest)"


@command(help={"run": RUN_HELP, "json": JSON_HELP})
def results_show(c: Context, run: str | None = None, json: bool = False) -> None:
    """Print a run's kernel x test table and its detailed table."""
    from toolkit.results import reports
    from toolkit.results import store as results_store
    from toolkit.tasks.common import print_json, settings
    from toolkit.user_folders import RESULTS

    record = results_store.load(settings(c, reads=[RESULTS]).results_dir, run)
    if json:
        print_json(reports.overview(record))
        return
    print(reports.matrix(record) + "\n\n" + reports.table(record))


@command(
    help={
        "format": f"one of {', '.join(EXPORT_FORMATS)}",
        "run": RUN_HELP,
        "output": "file to write (default: standard output)",
        "origin": f"kcidb: the CI system's name, the prefix of every id (default {KCIDB_ORIGIN})",
    }
)
def results_export(
    c: Context, format: str = "json", run: str | None = None, output: str | None = None, origin: str = KCIDB_ORIGIN
) -> None:
    """Export a run as JSON, JUnit XML, CSV, a table, HTML or KernelCI KCIDB v5 JSON."""
    from toolkit.files import write_output
    from toolkit.results import kcidb, reports
    from toolkit.results import store as results_store
    from toolkit.tasks.common import settings
    from toolkit.user_folders import CACHE, RESULTS

    if format not in EXPORT_FORMATS:
        raise UserError(f"unknown format {format!r}: choose one of {', '.join(EXPORT_FORMATS)}")
    found = settings(c, reads=[RESULTS, CACHE])
    record = results_store.load(found.results_dir, run)
    if format == "kcidb":
        text = kcidb.export(record, origin, kcidb.facts(record, found.results_dir / record.run_id, found.cache_dir))
    else:
        text = reports.FORMATS[format](record)
    if output:
        write_output(Path(output), text)
    else:
        sys.stdout.write(text)


def _regressions(before: RunRecord, after: RunRecord) -> list[list[str]]:
    """The diff rows of tests that passed (or were fixed?) before and failed, errored or were flaky after."""
    from toolkit.results import reports
    from toolkit.results.records import FAILING, FIXED, Status

    broken = {status.value for status in FAILING}
    rows = reports.diff(before, after)
    return [row for row in rows if row[3] in (Status.PASSED.value, FIXED) and row[4].partition(" ")[0] in broken]


@command(
    help={
        "run_a": "the earlier run id (or give it first, without the flag)",
        "run_b": "the later run id (default: the latest; or give it second)",
    }
)
@positional("run_a", "run_b")
def results_diff(c: Context, run_a: str | None = None, run_b: str | None = None) -> None:
    """What changed between two runs, test by kernel line: `invoke results.diff RUN_A [RUN_B]`.

    Exits 1 when a test that passed in RUN_A failed, errored or was flaky in RUN_B (a gate for CI), else 0.
    """
    from toolkit.results import reports
    from toolkit.results import store as results_store
    from toolkit.tasks.common import settings
    from toolkit.user_folders import RESULTS

    if not run_a:
        raise UserError("no run to compare: `invoke results.diff RUN_A [RUN_B]` (RUN_B: the latest)")
    root = settings(c, reads=[RESULTS]).results_dir
    before, after = results_store.load(root, run_a), results_store.load(root, run_b)
    print(reports.diff_table(before, after))
    regressions = _regressions(before, after)
    if regressions:
        print(f"{len(regressions)} test(s) went from passed to failed, error or flaky")
    raise Exit(code=1 if regressions else 0)


@command(
    help={
        "dirs": "run folders (results/<run-id>, or a results folder: its latest run), or give them without the flag",
        "origin": f"the KCIDB origin of the merged run's kcidb.json (default {KCIDB_ORIGIN})",
    },
    iterable=["dirs"],
)
@positional("dirs", repeat_last=True)
def results_merge(c: Context, dirs: list[str] | None = None, origin: str = KCIDB_ORIGIN) -> None:
    """Merge run folders made per kernel line (one CI job each) into one run: `invoke results.merge DIR...`."""
    from toolkit.results import merge as run_merge
    from toolkit.results import reports
    from toolkit.results import store as results_store
    from toolkit.tasks.common import settings
    from toolkit.user_folders import CACHE, RESULTS

    paths = [Path(d) for d in dirs or []]
    if not paths:
        raise UserError("no run folders: `invoke results.merge DIR...` (e.g. one results/<run-id> per kernel line)")
    found = settings(c, reads=[CACHE], writes=[RESULTS])
    path = run_merge.merge(found.results_dir, paths, found.cache_dir, origin)
    record = results_store.load(found.results_dir, path.name)
    print(reports.matrix(record) + "\n\n" + reports.table(record))
    print(f"merged {len(record.runs)} line run(s) into {path} (with {run_merge.KCIDB_FILE})")


@command(help={"keep": "how many of the newest runs to keep (at least 1)"})
def results_prune(c: Context, keep: int = 10) -> None:
    """Remove older runs (all but the newest --keep N, never the one `latest` points at) and what killed runs left."""
    from toolkit.results import store as results_store
    from toolkit.tasks.common import settings
    from toolkit.user_folders import RESULTS

    removed = results_store.prune(settings(c, writes=[RESULTS]).results_dir, keep)
    print("\n".join(f"removed {what}" for what in removed) or "nothing to remove")


ns = collection("results", results_show, results_export, results_diff, results_merge, results_prune)
