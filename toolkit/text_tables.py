"""Tables for the terminal and summary.txt: rows under headers, every cell as written (no number parsing)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def table(rows: Iterable[Sequence[object]], headers: Sequence[str]) -> str:
    from tabulate import tabulate  # ~20 ms to import: loaded when a table is made, not at every command's start

    return tabulate(rows, headers=list(headers), disable_numparse=True)
