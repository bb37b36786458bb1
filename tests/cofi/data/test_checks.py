"""check_ratings: repeated (user, movie) pairs, whatever the ids' kind and order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cofi.data.checks import check_ratings
from cofi.errors import CofiError


def ratings(users, movies) -> pd.DataFrame:
    return pd.DataFrame({"user_id": users, "movie_id": movies, "rating": 3.0})


@pytest.mark.parametrize(
    ("users", "movies"),
    [
        ([1, 1, 2, 2], [1, 2, 1, 2]),  # in order
        ([2, 1, 2, 1], [2, 2, 1, 1]),  # out of order
        ([-3, -3, 5], [7, -7, 7]),  # negative ids
        ([2**40, 2**40, 1], [1, 2, 1]),  # beyond int32: the pandas path
        ([1.0, 1.0, 2.0], [1.0, 2.0, 1.0]),  # floats: the pandas path
    ],
)
def test_distinct_pairs_pass(users, movies) -> None:
    check_ratings(ratings(users, movies), "to train on")


@pytest.mark.parametrize(
    ("users", "movies", "row"),
    [
        ([1, 1, 2, 1], [1, 2, 1, 1], 3),
        ([2, 1, 2, 1], [2, 2, 2, 1], 2),
        ([-3, 5, -3], [-7, 7, -7], 2),
        ([2**40, 1, 2**40], [1, 2, 1], 2),
        ([1.0, 2.0, 1.0], [1.0, 2.0, 1.0], 2),
        ([0, 1, 0], [-1, -1, -1], 2),
    ],
)
def test_a_repeated_pair_names_its_first_repeat(users, movies, row) -> None:
    with pytest.raises(CofiError, match=rf"ratings row {row}: user .* twice \(1 duplicate"):
        check_ratings(ratings(users, movies), "to train on")


def test_many_ratings_in_order_pass_and_one_repeat_is_found() -> None:
    rng = np.random.default_rng(0)
    frame = ratings(np.repeat(np.arange(1000), 50), np.tile(np.arange(50), 1000))
    check_ratings(frame, "to train on")
    shuffled = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    check_ratings(shuffled, "to train on")
    repeated = pd.concat([shuffled, shuffled.iloc[[12345]]], ignore_index=True)
    with pytest.raises(CofiError, match=rf"ratings row {len(shuffled)}:"):
        check_ratings(repeated, "to train on")
