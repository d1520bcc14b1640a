"""The host's reference for VexFS's k-nearest query, checked against the kernel's own rules and smoke.sh's cases."""

from __future__ import annotations

import struct

import pytest

from toolkit.domains.filesystem import reference


def test_int8_vectors_are_one_byte_per_component_twos_complement() -> None:
    assert reference.encode([-1, 0, 0, 0], "int8").hex() == "ff000000"


def test_int16_vectors_are_little_endian() -> None:
    assert reference.encode([1000, -1000], "int16").hex() == "e80318fc"


def test_a_component_outside_the_type_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit int8"):
        reference.encode([200, 0], "int8")


def test_l2_is_the_squared_distance_and_dot_the_dot_product() -> None:
    assert reference.score([1, 2, 3], [4, 6, 3], "l2") == 9 + 16
    assert reference.score([1, 2, 3], [4, 6, 3], "dot") == 4 + 12 + 9


def test_scores_are_exact_64_bit_integers_for_int16_extremes() -> None:
    assert reference.score([32767, -32768], [-32768, 32767], "l2") == 8589672450


def test_vectors_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="2 and 3 components"):
        reference.score([1, 2], [1, 2, 3], "l2")


def test_an_unknown_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown metric"):
        reference.score([1], [1], "cosine")


def test_l2_ranks_nearest_first_and_breaks_ties_by_inode_number() -> None:
    # smoke.sh: a=(1,0,0,0) c=(2,0,0,0) d=(-1,0,0,0) b=e=(0,1,0,0); b and e tie
    vectors = {10: [1, 0, 0, 0], 12: [2, 0, 0, 0], 13: [-1, 0, 0, 0], 14: [0, 1, 0, 0], 11: [0, 1, 0, 0]}
    assert reference.nearest(vectors, [1, 0, 0, 0], 3, "l2") == [(10, 0), (12, 1), (11, 2)]


def test_dot_ranks_the_largest_product_first() -> None:
    vectors = {10: [1, 0, 0, 0], 12: [2, 0, 0, 0], 13: [-1, 0, 0, 0], 14: [0, 1, 0, 0], 11: [0, 1, 0, 0]}
    assert reference.nearest(vectors, [1, 0, 0, 0], 2, "dot") == [(12, 2), (10, 1)]
    assert reference.nearest(vectors, [1, 2, 0, 0], 1024, "dot") == [(11, 2), (12, 2), (14, 2), (10, 1), (13, -1)]


def test_k_beyond_the_candidates_returns_them_all() -> None:
    assert len(reference.nearest({1: [0], 2: [1]}, [0], 100, "l2")) == 2


@pytest.mark.parametrize("k", [0, reference.MAX_K + 1])
def test_k_out_of_range_is_refused_like_the_kernel(k: int) -> None:
    with pytest.raises(ValueError, match="k must be"):
        reference.nearest({1: [0]}, [0], k, "l2")


def test_the_query_ioctl_number_is_iowr_0xe8_1_of_the_32_byte_query() -> None:
    assert struct.calcsize(reference.QUERY_STRUCT) == 32 and struct.calcsize(reference.RESULT_STRUCT) == 16
    assert reference.IOC_QUERY == 0xC020E801
