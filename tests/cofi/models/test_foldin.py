"""Fold-in: new users fitted with the movie features fixed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cofi
from cofi.errors import CofiError
from cofi.models.foldin import fold_in


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    """Ratings from a planted rank-3 taste model: 60 movies, 80 users, ~40% rated."""
    rng = np.random.default_rng(3)
    movies, users = rng.normal(size=(60, 3)), rng.normal(size=(80, 3))
    scores = 3 + movies @ users.T + rng.normal(0, 0.3, size=(60, 80))
    movie, user = np.nonzero(rng.random((60, 80)) < 0.4)
    return pd.DataFrame(
        {
            "user_id": user + 1,
            "movie_id": movie + 100,
            "rating": np.clip(np.round(scores[movie, user]), 1, 5),
        }
    )


NEW = [79, 80]  # the users left out of the base model


@pytest.fixture(scope="module")
def base(planted) -> cofi.Model:
    return cofi.fit(
        planted[~planted["user_id"].isin(NEW)],
        objective="biased",
        n_features=3,
        lambda_=1.0,
        iterations=400,
        seed=0,
    )


def test_fold_in_matches_the_ridge_optimum_with_movies_fixed(base, planted) -> None:
    new = planted[planted["user_id"].isin(NEW)]
    result = fold_in(base, new, iterations=2000)
    model = result.model
    assert set(result.user_ids) == set(NEW) and model.n_users == base.n_users + 2
    # With X fixed the biased cost per user is a ridge regression on [x_i, 1]: solve it exactly.
    lam = base.config.lambda_
    for user in NEW:
        rows = new[new["user_id"] == user]
        i = base.movies.position_of(rows["movie_id"])
        A = np.hstack([base.X[i], np.ones((len(i), 1))]).astype(np.float64)
        y = rows["rating"].to_numpy() - base.movie_offset[i] - base.movie_bias[i]
        solution = np.linalg.solve(A.T @ A + lam * np.eye(A.shape[1]), A.T @ y)
        j = model.users.position_of([user])[0]
        np.testing.assert_allclose(model.W[j], solution[:-1], atol=2e-3)
        np.testing.assert_allclose(model.b[0, j], solution[-1], atol=2e-3)


def test_folded_in_users_are_predicted_like_a_full_retrain(base, planted) -> None:
    folded = base.fold_in(planted[planted["user_id"].isin(NEW)])
    full = cofi.fit(planted, objective="biased", n_features=3, lambda_=1.0, iterations=400, seed=0)
    movies = base.movies.ids
    for user in NEW:
        a = folded.predict([user] * len(movies), movies)
        b = full.predict([user] * len(movies), movies)
        assert np.mean(np.abs(a - b)) < 0.2
        assert np.corrcoef(a, b)[0, 1] > 0.95


def test_fold_in_keeps_existing_users_and_does_not_touch_the_model(base, planted) -> None:
    before = base.W.copy()
    folded = base.fold_in(planted[planted["user_id"].isin(NEW)])
    np.testing.assert_array_equal(base.W, before)
    old = planted["user_id"].unique()[:5]
    movie = planted["movie_id"].iloc[:5]
    np.testing.assert_allclose(folded.predict(old, movie), base.predict(old, movie), rtol=1e-6)
    assert folded.model_id != base.model_id
    # the new users' lists never repeat what they rated, and they survive save/load
    table = folded.recommend(NEW, n=5)
    rated = set(zip(planted["user_id"], planted["movie_id"], strict=True))
    assert len(table) == 10 and not any(
        pair in rated for pair in zip(table["user_id"], table["movie_id"], strict=True)
    )


@pytest.mark.parametrize(
    "rows, message",
    [
        ({"user_id": [1], "movie_id": [100], "rating": [4.0]}, "already in the model"),
        (
            {"user_id": [500], "movie_id": [9], "rating": [4.0]},
            r"none of the ratings .* not in the model, e\.g\. \[9\]",
        ),
        ({"user_id": [500], "movie_id": [100], "rating": [7.0]}, "row 0: rating 7 is not on"),
        ({"user_id": [500], "movie_id": [100], "rating": [3.5]}, "row 0: rating 3.5 is not on"),
        (
            {"user_id": [500, 500], "movie_id": [100, 100], "rating": [4.0, 3.0]},
            "row 1: user 500 rates movie 100 twice",
        ),
        ({"user_id": [500], "rating": [4.0]}, "lacks column"),
        ({"user_id": [], "movie_id": [], "rating": []}, "no ratings"),
    ],
)
def test_fold_in_rejects_bad_ratings_clearly(base, rows, message) -> None:
    with pytest.raises(CofiError, match=message):
        base.fold_in(pd.DataFrame(rows))


def test_fold_in_sets_aside_ratings_of_unknown_movies_unless_strict(base, planted, caplog) -> None:
    from cofi.models.foldin import fold_in

    new = planted[planted["user_id"] == NEW[0]]
    unknown = pd.DataFrame({"user_id": [NEW[0]] * 2, "movie_id": [9, 10], "rating": [4.0, 2.0]})
    with caplog.at_level("WARNING", logger="cofi"):
        result = fold_in(base, pd.concat([new, unknown]))
    assert result.skipped == 2
    assert "sets aside 2 rating(s)" in caplog.text
    # The same user as from the known ratings alone: the unknown ones changed nothing.
    alone = fold_in(base, new)
    np.testing.assert_allclose(result.model.W[-1], alone.model.W[-1], rtol=1e-5, atol=1e-6)
    with pytest.raises(CofiError, match=r"2 movie id\(s\) are not in the model"):
        base.fold_in(pd.concat([new, unknown]), strict=True)
