"""A guest step watched while it runs: once the kernel reports the guest stuck after the step's mark (a hung task,
a soft or hard lockup, an RCU stall, a panic) or ended a task (an oops, a general protection fault, a BUG such as a
list corruption's) and its report is complete, the step is given up there, rather than when its timeout runs out. A
task the kernel ended never returns; in an interrupt or on an idle CPU the end can leave the guest half wedged,
its commands never answered.

The console (the guest's serial port, which the provider writes to a file on this host) is read every second
from where it stood when the step began. A machine whose console is elsewhere (a remote libvirt host) shows
nothing new here: its steps end by their timeouts, as they would without the watch.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from toolkit import kernel_log
from toolkit.machines.protocol import Machine

STUCK = frozenset({"hung_task", "soft_lockup", "hard_lockup", "rcu_stall", "panic"})
# die()'s line, "<what>: <error code> [#<how many so far>]": the kernel ended the task it struck
DIED = re.compile(r": [0-9a-f]{4} \[#\d+\]")
POLL_S = 1.0
QUIET_S = 2.0  # a report is complete once the console was quiet this long after it
LONGEST_WAIT_S = 10.0  # or this long after it began (a lockup repeats its report while it lasts)


class ConsoleTail:
    """What a console file gained since an offset, read as it grows."""

    def __init__(self, path: Path, offset: int) -> None:
        self.path = path
        self.offset = offset
        self.text = ""

    def read(self) -> str:
        """Everything the console gained since the first offset."""
        with contextlib.suppress(OSError), open(self.path, "rb") as console:
            console.seek(self.offset)
            grown = console.read()
            self.offset += len(grown)
            self.text += grown.decode(errors="replace")
        return self.text

    def quiet_s(self) -> float:
        """Seconds since the console was last written."""
        try:
            return time.time() - self.path.stat().st_mtime
        except OSError:
            return 0.0


def stuck_reports(text: str, marker: str) -> list[kernel_log.Problem]:
    """The reports in text after marker's line that say the guest is stuck; all of them once the kernel ended a
    task there."""
    if marker not in text:
        return []
    lines = kernel_log.lines_after(text, marker)
    died = any(DIED.search(line) for line in lines)
    return [problem for problem in kernel_log.classify(lines) if died or problem.kind in STUCK]


@contextlib.contextmanager
def watched(machine: Machine, marker: str, offset: int) -> Iterator[None]:
    """Run the block (the step's guest command) with the console watched from offset; once a stuck report after
    marker is complete, the machine's command in flight is interrupted (its `run` raises CommandInterrupted)."""
    done = threading.Event()
    tail = ConsoleTail(machine.console_log, offset)
    watcher = threading.Thread(target=_watch, args=(machine, tail, marker, done), daemon=True,
                               name=f"stuck watch: {marker}")  # fmt: skip
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def _watch(machine: Machine, tail: ConsoleTail, marker: str, done: threading.Event) -> None:
    first_seen: float | None = None
    while not done.wait(POLL_S):
        text = tail.read()
        if first_seen is None and stuck_reports(text, marker):
            first_seen = time.monotonic()
        if first_seen is not None and (tail.quiet_s() >= QUIET_S or time.monotonic() - first_seen >= LONGEST_WAIT_S):
            machine.interrupt()
            return
