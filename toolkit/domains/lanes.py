"""Which of a subject's cases run apart, on a second guest restored from the same ready snapshot while the first
guest runs the others: a restore takes a fraction of a second and its memory is mapped privately, and under TCG
a guest keeps about one CPU busy, so two guests end sooner than one running everything in turn.

The split comes from the durations of the subject's cases in its last run on the same line (the edit-verdict
loop runs again and again): the longest cases nothing else needs or takes a hand-off from go apart while that
ends the run sooner. The second guest runs a case only once the first guest's verdicts on its prerequisites say
it may, and runs those prerequisites again before it, each once (its guest state is its own). Without an earlier run of the subject, or with a single case, everything runs on one guest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from toolkit.domains.selection import closure
from toolkit.results.records import RunRecord, SubjectInfo

SECOND_GUEST_S = 2.0  # what starting the second guest and preparing the subject there costs, about
WORTH_S = 5.0  # a second guest is started when the run ends at least this much sooner


def movable(case: Any, chosen: Sequence[Any]) -> bool:
    """Whether case can run apart: no other chosen case needs it or takes a hand-off from it, it takes none
    itself, and its verdict is not of work done once for all (the shared build)."""
    linked = {name for other in chosen for name in (*other.needs, *getattr(other, "uses", ()))}
    return case.name not in linked and not getattr(case, "uses", ()) and getattr(case, "retried", True)


def prerequisites(case: Any, chosen: Sequence[Any]) -> list[Any]:
    """What runs again before case on the second guest: the chosen cases it needs, transitively, in order."""
    linked = closure([case.name], chosen, lambda each: each.needs)
    return [each for each in chosen if each.name in linked - {case.name}]


def apart(chosen: Sequence[Any], durations: Mapping[str, float]) -> tuple[str, ...]:
    """The cases to run on a second guest, longest first, each taken when the run then ends sooner: the longer of
    the two guests' shares (the second's with its start and the prerequisites each case runs again there) shorter
    than before; none without every duration, or when the run would not end WORTH_S sooner."""
    if len(chosen) < 2 or any(case.name not in durations for case in chosen):
        return ()
    alone = first = sum(durations[case.name] for case in chosen)
    second = SECOND_GUEST_S
    taken: list[str] = []
    again: set[str] = set()  # the prerequisites the cases taken run again there (once each)
    for case in sorted((c for c in chosen if movable(c, chosen)), key=lambda c: -durations[c.name]):
        # what the second guest does again first: not the build, whose verdict it only reads
        needed = {p.name for p in prerequisites(case, chosen) if getattr(p, "retried", True)} - again
        cost = durations[case.name] + sum(durations[name] for name in needed)
        if max(first - durations[case.name], second + cost) < (max(first, second) if taken else first):
            taken.append(case.name)
            first -= durations[case.name]
            second += cost
            again |= needed
    return tuple(taken) if alone - max(first, second) >= WORTH_S else ()


def last_durations(earlier: Sequence[RunRecord], line: str, domain: str, subject: SubjectInfo) -> dict[str, float]:
    """Each case's duration in the newest earlier run of this subject and domain on line (none: {})."""
    for record in earlier:
        for run in record.runs:
            same = (run.subject.name, run.subject.source) == (subject.name, subject.source)
            if run.kernel_line == line and run.domain == domain and same:
                return {test.name: test.duration_s for test in run.tests}
    return {}
