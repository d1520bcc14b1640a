"""Output that never stops a run: once a reader is gone (a closed pipe, a terminal hung up), what the run
would print goes nowhere and the run goes on; its results are in its folder all the same."""

from __future__ import annotations

import io
import sys
from typing import TextIO


class Forgiving(io.TextIOBase):
    """A text stream that drops what it cannot write (EPIPE, EIO, ...) instead of raising."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.lost = False

    def write(self, text: str) -> int:
        if not self.lost:
            try:
                self.stream.write(text)
            except (OSError, ValueError):  # ValueError: the stream was closed
                self.lost = True
        return len(text)

    def flush(self) -> None:
        if not self.lost:
            try:
                self.stream.flush()
            except (OSError, ValueError):
                self.lost = True

    def isatty(self) -> bool:
        return not self.lost and self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.stream.encoding


def forgive_output() -> None:
    """Make this process's stdout and stderr forgiving (once)."""
    if not isinstance(sys.stdout, Forgiving):
        sys.stdout = Forgiving(sys.stdout)
    if not isinstance(sys.stderr, Forgiving):
        sys.stderr = Forgiving(sys.stderr)
