"""Progress for long work: what is happening, how long it has taken so far, how it ended.

A step says when it starts and ends; while it (or a test) runs, a heartbeat line every few seconds
says what is still running and for how long. Verdicts are coloured only on a terminal, and never
when NO_COLOR is set: CI logs get plain text.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import TextIO

HEARTBEAT_S = 5.0
# Long work beats less often as it goes on (a 45-minute kernel build is not 540 lines): the interval is
# heartbeat_s for the first minute's worth of beats, then 6x, then, past ten minutes' worth, 12x.
SLOWER_AFTER = ((12, 6), (120, 12))
# ANSI: green, red, bold red, bold yellow (flaky), yellow, magenta (known failures), cyan (known failures that passed)
COLOURS = {"passed": "32", "failed": "31", "error": "31;1", "flaky": "33;1", "skipped": "33", "known": "35",
           "fixed?": "36"}  # fmt: skip


def colours_wanted(stream: TextIO) -> bool:
    """Colour for a terminal, unless NO_COLOR asks for none (https://no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


class Progress:
    """Lines about long work on a stream (stderr), each prefixed with a label: `[6.1 vexfs] ...`."""

    def __init__(self, label: str, stream: TextIO | None = None, heartbeat_s: float = HEARTBEAT_S) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr  # stderr as it is now (streams.forgive_output)
        self.heartbeat_s = heartbeat_s
        self.colour = colours_wanted(self.stream)

    def say(self, message: str) -> None:
        print(f"[{self.label}] {message}", file=self.stream, flush=True)

    def verdict(self, status: str) -> str:
        """A test's status as this stream shows it: coloured on a terminal."""
        colour = COLOURS.get(status)
        return f"\033[{colour}m{status}\033[0m" if self.colour and colour else status

    @contextlib.contextmanager
    def beating(self, what: str) -> Iterator[None]:
        """While the block runs, a line every heartbeat_s saying that `what` still runs, and for how long."""
        started = time.monotonic()
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.next_heartbeat_s(time.monotonic() - started)):
                self.say(f"{what}: running for {time.monotonic() - started:.0f} s")

        heart = threading.Thread(target=beat, name=f"heartbeat {what}", daemon=True)
        heart.start()
        try:
            yield
        finally:
            done.set()
            heart.join()

    def next_heartbeat_s(self, elapsed_s: float) -> float:
        """The wait before the next heartbeat of work that has run for elapsed_s."""
        factor = 1
        for beats, slower in SLOWER_AFTER:
            if elapsed_s >= beats * self.heartbeat_s:
                factor = slower
        return self.heartbeat_s * factor

    @contextlib.contextmanager
    def step(self, what: str, index: int | None = None, total: int | None = None) -> Iterator[None]:
        counter = f"({index}/{total}) " if index is not None and total is not None else ""
        self.say(f"{counter}{what} ...")
        started = time.monotonic()
        try:
            with self.beating(f"{counter}{what}"):
                yield
        except BaseException:
            self.say(f"{counter}{what} failed after {time.monotonic() - started:.1f} s")
            raise
        self.say(f"{counter}{what} done in {time.monotonic() - started:.1f} s")
