"""Index maps: ids to matrix positions and back."""

from __future__ import annotations

import numpy as np

from cofi.data.matrices import TABLE_IDS, IndexMap


def test_positions_by_hand_and_unknown_ids_are_minus_one() -> None:
    index = IndexMap.from_ids(np.array([30, 10, 20, 10]))
    np.testing.assert_array_equal(index.ids, [10, 20, 30])
    np.testing.assert_array_equal(index.position_of([20, 10, 99, 30, -5]), [1, 0, -1, 2, -1])


def test_an_id_beyond_int64_is_unknown_not_an_overflow() -> None:
    index = IndexMap.from_ids(np.array([1, 2, 3]))
    huge = 99999999999999999999
    np.testing.assert_array_equal(index.position_of([3, huge, 1, -huge]), [2, -1, 0, -1])
    np.testing.assert_array_equal(index.position_of([huge]), [-1])


def test_small_and_large_ids_map_the_same_way() -> None:
    # ids below TABLE_IDS go through lookup tables, others through sorting and binary search
    rng = np.random.default_rng(0)
    small = rng.integers(0, 500, 5000)
    for offset in (0, TABLE_IDS, -(10**9)):
        index = IndexMap.from_ids(small + offset)
        np.testing.assert_array_equal(index.ids, np.unique(small) + offset)
        query = np.concatenate([small, [-1, 500, 10**6, -(10**9) - 1]]) + offset
        expected = np.searchsorted(np.unique(small), query - offset)
        known = np.isin(query - offset, small)
        np.testing.assert_array_equal(index.position_of(query), np.where(known, expected, -1))
