"""Hold-out split, metrics and baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cofi
from cofi.errors import CofiError
from cofi.evaluation.holdout import (
    baseline_predictions,
    evaluate,
    format_report,
    mae,
    rmse,
    split_random,
)


def test_metrics_hand_computed() -> None:
    assert rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(np.sqrt(4 / 3))
    assert mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)


def test_split_is_seeded_disjoint_and_complete() -> None:
    ratings = pd.DataFrame(
        {"user_id": np.arange(1000), "movie_id": np.arange(1000) % 7, "rating": 3.0}
    )
    train, test = split_random(ratings, 0.2, seed=11)
    again_train, again_test = split_random(ratings, 0.2, seed=11)
    _, other_test = split_random(ratings, 0.2, seed=12)
    assert len(test) == 200 and len(train) == 800
    assert set(train["user_id"]).isdisjoint(test["user_id"])
    assert set(train["user_id"]) | set(test["user_id"]) == set(range(1000))
    pd.testing.assert_frame_equal(test, again_test)
    pd.testing.assert_frame_equal(train, again_train)
    assert not test["user_id"].equals(other_test["user_id"])
    with pytest.raises(CofiError, match="strictly between 0 and 1"):
        split_random(ratings, 1.0)


def test_baselines_hand_computed() -> None:
    train = pd.DataFrame(
        {"user_id": [1, 2, 3], "movie_id": [10, 10, 20], "rating": [4.0, 2.0, 5.0]}
    )
    test = pd.DataFrame({"user_id": [4, 4], "movie_id": [10, 30], "rating": [3.0, 1.0]})
    predictions = baseline_predictions(train, test)
    np.testing.assert_allclose(predictions["global_mean"], [11 / 3, 11 / 3])
    np.testing.assert_allclose(predictions["movie_mean"], [3.0, 11 / 3])


def test_evaluate_reports_model_and_baselines() -> None:
    rng = np.random.default_rng(0)
    movie, user = np.nonzero(rng.random((30, 40)) < 0.5)
    taste = rng.normal(size=(30, 2)) @ rng.normal(size=(2, 40))
    ratings = pd.DataFrame(
        {
            "user_id": user,
            "movie_id": movie,
            "rating": np.clip(np.round(3 + taste[movie, user]), 1, 5),
        }
    )
    train, test = split_random(ratings, 0.2, seed=0)
    model = cofi.fit(train, objective="biased", n_features=2, lambda_=1.0, iterations=300)
    report = evaluate(model, train, test)
    assert set(report["metrics"]) == {"model", "global_mean", "movie_mean"}
    assert report["n_test"] == len(test) and report["model_id"] == model.model_id
    assert report["beats_baselines"] == {"rmse": True, "mae": True}
    assert "beats both baselines" in format_report(report)


def test_split_stable_keeps_every_rating_on_its_side_as_ratings_arrive() -> None:
    from cofi.evaluation.holdout import split_stable

    rng = np.random.default_rng(0)
    ratings = pd.DataFrame(
        {
            "user_id": rng.integers(1, 300, 20_000),
            "movie_id": rng.integers(1, 500, 20_000),
            "rating": rng.integers(1, 6, 20_000).astype(float),
        }
    ).drop_duplicates(["user_id", "movie_id"])
    train, test = split_stable(ratings, 0.1, seed=4)
    assert len(train) + len(test) == len(ratings)
    assert abs(len(test) / len(ratings) - 0.1) < 0.01
    assert train.merge(test, on=["user_id", "movie_id"]).empty
    # yesterday's ratings (a subset, in another order) land on the same sides
    old = ratings.sample(frac=0.7, random_state=1)
    old_train, old_test = split_stable(old, 0.1, seed=4)
    assert len(old_test.merge(train, on=["user_id", "movie_id"])) == 0
    assert len(old_train.merge(test, on=["user_id", "movie_id"])) == 0
    # the seed changes the split; the same seed repeats it
    assert not split_stable(ratings, 0.1, seed=5)[1].equals(test)
    pd.testing.assert_frame_equal(split_stable(ratings, 0.1, seed=4)[1], test)
    with pytest.raises(CofiError, match="strictly between 0 and 1"):
        split_stable(ratings, 0.0)
