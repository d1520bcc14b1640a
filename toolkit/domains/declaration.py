"""A domain as commands know it: its name, what it tests, its options and what `--quick` changes.

A domain package declares this in its `__init__`, which loads nothing else, so that every command can offer
the domain's flags without loading its tests; its `domain` module builds the `Domain` the runner uses from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Declaration:
    """What a command line shows of a domain."""

    name: str
    summary: str
    options: type[Any]  # a frozen dataclass of `option()` fields (toolkit/domains/options.py)
    # --quick: the options a quick run changes, and to what (fewer rounds, shorter watches; never a detector)
    quick: Mapping[str, Any] = field(default_factory=dict)
