"""Progress for long work: what is happening, how far along, how long it took."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import TextIO


class Progress:
    """Prints one line when a step starts and one when it ends, with its duration."""

    def __init__(self, label: str, stream: TextIO = sys.stderr) -> None:
        self.label = label
        self.stream = stream

    def say(self, message: str) -> None:
        print(f"[{self.label}] {message}", file=self.stream, flush=True)

    @contextlib.contextmanager
    def step(self, what: str, index: int | None = None, total: int | None = None) -> Iterator[None]:
        counter = f"({index}/{total}) " if index is not None and total is not None else ""
        self.say(f"{counter}{what} ...")
        started = time.monotonic()
        try:
            yield
        except BaseException:
            self.say(f"{counter}{what} failed after {time.monotonic() - started:.1f} s")
            raise
        self.say(f"{counter}{what} done in {time.monotonic() - started:.1f} s")
