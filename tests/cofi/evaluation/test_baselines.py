"""EASE (cofi.evaluation.baselines) on cases small enough to do by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cofi.errors import CofiError
from cofi.evaluation.baselines import fit_ease


@pytest.fixture
def two_users() -> pd.DataFrame:
    # user 10 rated movies 5 and 7, user 20 movies 7 and 9 (ratings are not used)
    return pd.DataFrame(
        {"user_id": [10, 10, 20, 20], "movie_id": [5, 7, 7, 9], "rating": [4.0, 1.0, 5.0, 2.0]}
    )


def test_ease_weights_hand_computed(two_users) -> None:
    # X^T X + I = [[2, 1, 0], [1, 3, 1], [0, 1, 2]], whose inverse is
    # P = [[5, -2, 1], [-2, 4, -2], [1, -2, 5]] / 8; B_ij = -P_ij / P_jj off the diagonal.
    model = fit_ease(two_users, lambda_=1.0)
    expected = np.array([[0.0, 0.5, -0.2], [0.4, 0.0, 0.4], [-0.2, 0.5, 0.0]])
    np.testing.assert_allclose(model.weights, expected, atol=1e-12)
    np.testing.assert_array_equal(model.movies.ids, [5, 7, 9])


def test_ease_recommends_the_unrated_movie_by_x_u_b(two_users) -> None:
    before = two_users.copy()
    table = fit_ease(two_users, lambda_=1.0).recommend(n=3)
    # user 10: x_u B = rows 0 + 1 of B = [0.4, 0.5, 0.2]; only movie 9 is unrated
    assert table.columns.tolist() == ["user_id", "rank", "movie_id", "score"]
    assert table["user_id"].tolist() == [10, 20] and table["movie_id"].tolist() == [9, 5]
    np.testing.assert_allclose(table["score"], [0.2, 0.2], rtol=1e-6)
    assert table["rank"].tolist() == [1, 1]
    pd.testing.assert_frame_equal(two_users, before)


def test_ease_lists_follow_the_asked_order_and_skip_unknown_users(two_users) -> None:
    table = fit_ease(two_users, lambda_=1.0).recommend([20, 99, 10, 20], n=1)
    assert table["user_id"].tolist() == [20, 10]


def test_ease_ties_go_to_the_lower_movie_id() -> None:
    ratings = pd.DataFrame({"user_id": [1, 2], "movie_id": [1, 1], "rating": [3.0, 3.0]})
    extra = pd.DataFrame({"user_id": [3, 3, 3], "movie_id": [2, 3, 4], "rating": [1.0] * 3})
    table = fit_ease(pd.concat([ratings, extra]), lambda_=1.0).recommend([1], n=3)
    assert table["movie_id"].tolist() == [2, 3, 4]  # all scored 0


def test_ease_refuses_a_catalog_too_large_and_a_bad_lambda(two_users) -> None:
    with pytest.raises(CofiError, match="at most 2 movies"):
        fit_ease(two_users, max_movies=2)
    with pytest.raises(CofiError, match="must be positive"):
        fit_ease(two_users, lambda_=0.0)
    with pytest.raises(CofiError, match="no ratings to fit EASE on"):
        fit_ease(two_users.iloc[:0])
