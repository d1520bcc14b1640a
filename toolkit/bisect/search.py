"""The search itself, apart from how a commit is judged: the commits after the good end up to the bad one, oldest
first, narrowed by halves as `git bisect` does. A commit that cannot be judged (its build failed) is skipped and
the search goes on around it; when only skipped commits stand between a good and a bad one, the first bad commit
is one of them or the bad one, and the search says so."""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace


class Judgement(str, enum.Enum):
    GOOD = "good"
    BAD = "bad"
    SKIP = "skip"


@dataclass(frozen=True)
class Range:
    """What is known of commits[0..n-1] (the last one bad, the good end just before the first): the newest good
    index (-1: the good end), the oldest bad one, and the indices skipped."""

    size: int
    good: int
    bad: int
    skipped: frozenset[int] = frozenset()

    @classmethod
    def of(cls, commits: Sequence[object]) -> Range:
        return cls(len(commits), -1, len(commits) - 1)

    def unknown(self) -> list[int]:
        """The indices still to judge, between the newest good and the oldest bad, skipped ones left out."""
        return [index for index in range(self.good + 1, self.bad) if index not in self.skipped]

    def next_probe(self) -> int | None:
        """The index to judge next: the unknown one nearest the middle (the older of two as near); None when done."""
        left = self.unknown()
        if not left:
            return None
        middle = (self.good + self.bad) / 2
        return min(left, key=lambda index: (abs(index - middle), index))

    def after(self, index: int, judgement: Judgement) -> Range:
        if judgement is Judgement.GOOD:
            return replace(self, good=max(self.good, index))
        if judgement is Judgement.BAD:
            return replace(self, bad=min(self.bad, index))
        return replace(self, skipped=self.skipped | {index})

    def steps_left(self) -> int:
        """About how many judgements the search still needs (log2 of what is left, as git bisect estimates)."""
        left = len(self.unknown())
        return math.ceil(math.log2(left + 1)) if left else 0

    def suspects(self) -> list[int]:
        """Once done: the indices the first bad commit is among, oldest first (the oldest bad one alone, unless
        skipped commits stand before it)."""
        return [*(index for index in range(self.good + 1, self.bad) if index in self.skipped), self.bad]
