"""The line of a build's output that says what went wrong.

That is the first line naming an error: a compiler's, linker's or modpost's `error:`, apt's
`E: `, or make's own complaint (`Makefile:3: *** invalid syntax in conditional.  Stop.`, `***
No rule to make target ...`). make's closing `*** [target] Error 2` lines only say that
something below them failed; they are quoted only when nothing else is there to quote.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

NAMED_ERROR = re.compile(r"(^|\s)error:|^E: ", re.IGNORECASE)
MAKE_SAYS = re.compile(r"\*\*\* ")
# make's lines that name no error of their own: a recipe that failed below (its error is above it), quoted when
# nothing else is; the wait for other jobs and the removal of a half-made target, never
FAILED_BELOW = re.compile(r"\*\*\* \[[^\]]*\] Error \d+")
BY_THE_WAY = re.compile(r"\*\*\* (Waiting for unfinished jobs|Deleting (intermediate )?file )")


def first_error(lines: Iterable[str]) -> str | None:
    """The first line that names an error; else make's first `*** [target] Error N`; None when neither is there."""
    failed_below = None
    for line in lines:
        text = line.strip()
        if NAMED_ERROR.search(text):
            return text
        if FAILED_BELOW.search(text):
            failed_below = failed_below or text
        elif MAKE_SAYS.search(text) and not BY_THE_WAY.search(text):
            return text
    return failed_below
