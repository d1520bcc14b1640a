"""The search by halves: it finds the first bad commit wherever it is, in about log2 steps, and goes around
commits that cannot be judged."""

from __future__ import annotations

import math

import pytest

from toolkit.bisect.search import Judgement, Range


def _search(size: int, first_bad: int, skipped: frozenset[int] = frozenset()) -> tuple[list[int], list[int]]:
    """(the indices probed, the suspects) of a search over size commits, bad from first_bad on."""
    known = Range.of(range(size))
    probed = []
    while (index := known.next_probe()) is not None:
        probed.append(index)
        judgement = Judgement.SKIP if index in skipped else Judgement.BAD if index >= first_bad else Judgement.GOOD
        known = known.after(index, judgement)
    return probed, known.suspects()


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 20, 100])
def test_the_first_bad_commit_is_found_wherever_it_is_in_about_log2_steps(size: int) -> None:
    for first_bad in range(size):
        probed, suspects = _search(size, first_bad)
        assert suspects == [first_bad]
        assert len(probed) <= math.ceil(math.log2(size)) and len(set(probed)) == len(probed)


def test_eight_commits_whose_fifth_went_bad_take_three_probes_from_the_middle() -> None:
    # the good end is commit 1, so the commits searched are 2..8 at indices 0..6, commit 5 at index 3
    assert _search(7, 3) == ([2, 4, 3], [3])


def test_the_next_probe_is_the_unknown_commit_nearest_the_middle_around_skipped_ones() -> None:
    known = Range(10, -1, 9, frozenset({4}))
    assert known.next_probe() == 3 and known.unknown() == [0, 1, 2, 3, 5, 6, 7, 8]
    assert Range(3, 1, 2).next_probe() is None


def test_a_skipped_commit_away_from_the_answer_costs_a_probe_but_not_the_answer() -> None:
    probed, suspects = _search(7, 5, skipped=frozenset({2}))
    assert suspects == [5] and probed[0] == 2


def test_skipped_commits_just_before_the_first_bad_one_are_suspects_with_it() -> None:
    assert _search(7, 3, skipped=frozenset({2}))[1] == [2, 3]
    assert _search(7, 4, skipped=frozenset({2, 3}))[1] == [2, 3, 4]


def test_when_every_commit_between_is_skipped_the_answer_is_all_of_them_and_the_bad_end() -> None:
    assert _search(4, 3, skipped=frozenset({0, 1, 2}))[1] == [0, 1, 2, 3]


def test_steps_left_is_log2_of_what_is_left() -> None:
    assert [Range.of(range(size)).steps_left() for size in (1, 2, 3, 4, 7, 8)] == [0, 1, 2, 2, 3, 3]
