"""The user's own workload (--workload FILE): a shell script the guest runs with the module loaded.

Each of concurrency's users runs it round after round, memory_leak's window runs it once and
hang_detection's watch runs it until the watch ends, beside the toolkit's own use of what the
module exposes. It runs as root with `sh`, MODULE and SURFACE (the JSON list of what the module
exposes) in its environment; a run that exits non-zero is a failed operation of the test.
"""

from __future__ import annotations

import stat
from pathlib import Path

GUEST_NAME = "workload.sh"  # in GUEST_DIR
MAX_BYTES = 1 << 20  # a script, not a payload: larger ones are a mistake


def problem(path: Path) -> str | None:
    """What is wrong with path as a workload, saying how to fix it (None: nothing)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return f"--workload {path} does not exist: give a shell script the guest runs with the module loaded"
    except OSError as error:  # a name too long, a folder this user may not look into
        return f"--workload {str(path)[:80]} cannot be used ({error.strerror}): give a shell script"
    if not stat.S_ISREG(info.st_mode):
        return f"--workload {path} is not a file: give a shell script the guest runs with the module loaded"
    try:
        path.open("rb").close()
    except OSError as error:
        return f"--workload {path} cannot be read ({error.strerror}): fix its permissions"
    if info.st_size > MAX_BYTES:
        return f"--workload {path} is {info.st_size} bytes: a workload is a shell script of at most {MAX_BYTES} bytes"
    return None


def counts(output: str) -> tuple[int, int]:
    """Runs of the workload and how many failed, from a script's `workload_ok` / `workload_failed` lines (bare, or
    counted by `uniq -c`)."""
    done = {"workload_ok": 0, "workload_failed": 0}
    for line in output.splitlines():
        words = line.split()
        if len(words) == 1 and words[0] in done:
            done[words[0]] += 1
        elif len(words) == 2 and words[1] in done and words[0].isdigit():
            done[words[1]] += int(words[0])
    return done["workload_ok"] + done["workload_failed"], done["workload_failed"]


def said(output: str, name: str) -> str:
    """`12 runs of workload.sh` ("" when it did not run)."""
    runs, _ = counts(output)
    return f"{runs} run{'s' if runs != 1 else ''} of {name}" if runs else ""


def failure(output: str, stderr: str, name: str) -> str | None:
    """`the workload x.sh failed 3 of 12 runs: <its last words>` when a run failed."""
    runs, failed = counts(output)
    if not failed:
        return None
    last = (stderr.strip().splitlines() or [""])[-1]
    return f"the workload {name} failed {failed} of {runs} runs" + (f": {last}" if last else "")
