"""Sweep spaces, their expansion, trial scoring and the choice of the best trial."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cofi.errors import CofiError
from cofi.evaluation.holdout import split_random
from cofi.evaluation.sweep import (
    SweepSpace,
    best_config,
    expand,
    full_config,
    results_frame,
    score_config,
    split_for_validation,
)
from cofi.models.config import MINIBATCH_MIN_RATINGS, OBJECTIVE_DEFAULTS, TrainConfig


def test_grid_gives_every_combination_last_field_fastest() -> None:
    space = SweepSpace(grid={"n_features": [10, 30], "lambda_": [5, 15, 25]})
    configs = expand(space, seed=7)
    assert len(configs) == 6
    assert [(c["n_features"], c["lambda_"]) for c in configs] == [
        (10, 5.0),
        (10, 15.0),
        (10, 25.0),
        (30, 5.0),
        (30, 15.0),
        (30, 25.0),
    ]
    assert all(c["seed"] == 7 for c in configs)
    assert all(isinstance(c["lambda_"], float) for c in configs)  # as TrainConfig reads them
    assert expand(space, seed=7) == configs


def test_a_swept_seed_is_kept() -> None:
    configs = expand(SweepSpace(grid={"seed": [1, 2]}), seed=9)
    assert [c["seed"] for c in configs] == [1, 2]


def test_random_search_is_determined_by_its_seed() -> None:
    space = SweepSpace(
        random={
            "n_features": {"low": 4, "high": 64, "log": True},
            "lambda_": {"low": 0.1, "high": 30.0, "log": True},
            "learning_rate": {"low": 0.01, "high": 0.1},
            "regularization": ["uniform", "weighted"],
        },
        n_samples=12,
    )
    first = expand(space, seed=3)
    assert len(first) == 12
    assert expand(space, seed=3) == first
    assert expand(space, seed=4) != first
    for config in first:
        TrainConfig(**config)
        assert isinstance(config["n_features"], int) and 4 <= config["n_features"] <= 64
        assert 0.1 <= config["lambda_"] <= 30.0
        assert 0.01 <= config["learning_rate"] <= 0.1
        assert config["regularization"] in {"uniform", "weighted"}


@settings(max_examples=50, deadline=None)
@given(
    low=st.floats(1e-3, 10.0),
    span=st.floats(1.0, 1e3),
    seed=st.integers(0, 2**32 - 1),
)
def test_log_uniform_draws_stay_in_their_range(low: float, span: float, seed: int) -> None:
    space = SweepSpace(
        random={"lambda_": {"low": low, "high": low * span, "log": True}}, n_samples=5
    )
    for config in expand(space, seed):
        assert low * (1 - 1e-12) <= config["lambda_"] <= low * span * (1 + 1e-12)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"grid": {"n_feature": [10]}}, r"unknown TrainConfig field\(s\) \['n_feature'\]"),
        ({"grid": {"n_features": [10, 0]}}, r"n_features=0: Input should be greater than"),
        ({"grid": {"lambda_": [5, -1]}}, r"lambda_=-1: Input should be greater than"),
        ({"grid": {"method": ["dense", "fast"]}}, r"method='fast'"),
        ({"grid": {"n_features": []}}, r"no values for \['n_features'\]"),
        ({"grid": {}}, r"the grid is empty"),
        ({"grid": {"n_features": [10]}, "n_samples": 3}, r"n_samples is for random search"),
        ({"random": {"n_features": [10]}}, r"random search needs n_samples"),
        ({"random": {"lambda_": {"low": 0, "high": 1, "log": True}}, "n_samples": 2}, r"low > 0"),
        ({"random": {"lambda_": {"low": 5, "high": 1}}, "n_samples": 2}, r"is above high"),
        ({"random": {"iterations": {"low": 0, "high": 9}}, "n_samples": 2}, r"iterations=0"),
        ({"random": {"learning_rate": {"low": 0.1, "hi": 1}}, "n_samples": 2}, r"hi"),
        ({}, r"exactly one of grid and random"),
        ({"grid": {"n_features": [10]}, "random": {"lambda_": [1]}}, r"exactly one"),
        ({"grid": {"n_features": [10]}, "tries": 3}, r"tries"),
    ],
)
def test_a_bad_space_fails_at_once_with_a_clear_message(space: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SweepSpace(**space)


def test_an_oversized_grid_fails_before_any_training() -> None:
    with pytest.raises(ValidationError, match="combinations, more than"):
        SweepSpace(
            grid={
                name: list(range(1, 12))
                for name in ("n_features", "iterations", "epochs", "patience")
            }
        )


def _results(
    rmse: list[float],
    precision_at_k: list[float] | None = None,
    ndcg_at_k: list[float] | None = None,
    fit_seconds: list[float] | None = None,
) -> pd.DataFrame:
    """A results table of ``len(rmse)`` trials with n_features 10, 20, ...; other scores equal."""
    n = len(rmse)
    rows = [
        {
            "trial": trial,
            "n_features": 10 * (trial + 1),
            "rmse": rmse[trial],
            "mae": 0.8,
            "precision_at_k": precision_at_k[trial] if precision_at_k else 0.1,
            "ndcg_at_k": ndcg_at_k[trial] if ndcg_at_k else 0.1,
            "fit_seconds": fit_seconds[trial] if fit_seconds else 1.0,
        }
        for trial in range(n)
    ]
    # Reversed, to show that the table is put in trial order.
    return results_frame(rows[::-1])


def test_best_config_lower_is_better_for_rmse() -> None:
    results = _results(rmse=[0.95, 0.91, 0.93], precision_at_k=[0.05, 0.01, 0.30])
    best = best_config(results, "rmse")
    assert results["trial"].tolist() == [0, 1, 2]
    assert best["trial"] == 1
    assert best["config"] == {"n_features": 20}
    assert best["metrics"]["rmse"] == 0.91
    assert isinstance(best["config"]["n_features"], int)


def test_best_config_higher_is_better_for_precision_and_ndcg() -> None:
    results = _results(
        rmse=[0.95, 0.91, 0.93], precision_at_k=[0.05, 0.01, 0.30], ndcg_at_k=[0.4, 0.1, 0.2]
    )
    assert best_config(results, "precision_at_k")["trial"] == 2
    assert best_config(results, "ndcg_at_k")["trial"] == 0


def test_best_config_breaks_ties_by_fit_seconds_and_skips_failed_trials() -> None:
    results = _results(rmse=[0.9, 0.9, math.nan], fit_seconds=[3.0, 2.0, 0.1])
    assert best_config(results, "rmse")["trial"] == 1
    with pytest.raises(CofiError, match="unknown metric"):
        best_config(results, "recall")
    with pytest.raises(CofiError, match="no trial has a rmse value"):
        best_config(_results(rmse=[math.nan]), "rmse")


def _planted_ratings(seed: int = 0) -> pd.DataFrame:
    """30 movies x 40 users, about half rated, from a rank-2 taste matrix on a 1..5 scale."""
    rng = np.random.default_rng(seed)
    movie, user = np.nonzero(rng.random((30, 40)) < 0.5)
    taste = rng.normal(size=(30, 2)) @ rng.normal(size=(2, 40))
    return pd.DataFrame(
        {
            "user_id": user + 1,
            "movie_id": movie + 1,
            "rating": np.clip(np.round(3 + taste[movie, user]), 1, 5),
        }
    )


def test_split_for_validation_keeps_every_training_rating_once() -> None:
    train = _planted_ratings()
    fit, validation = split_for_validation(train, 0.2, seed=0)
    assert len(validation) == round(0.2 * len(train))
    both = pd.concat([fit, validation]).sort_values(["user_id", "movie_id"], ignore_index=True)
    pd.testing.assert_frame_equal(
        both, train.sort_values(["user_id", "movie_id"], ignore_index=True)
    )
    again, _ = split_for_validation(train, 0.2, seed=0)
    pd.testing.assert_frame_equal(fit, again)
    # Not the draw of the hold-out split with the same seed.
    _, plain = split_random(train, 0.2, seed=0)
    assert not plain.equals(validation)


def test_score_config_on_planted_ratings_gives_sane_numbers() -> None:
    ratings = _planted_ratings()
    before = ratings.copy()
    fit, validation = split_for_validation(ratings, 0.2, seed=0)
    scores = score_config(
        fit, validation, {"n_features": 2, "lambda_": 1.0, "iterations": 300, "seed": 0}, k=5
    )
    assert set(scores) == {"rmse", "mae", "precision_at_k", "ndcg_at_k", "fit_seconds"}
    assert 0.0 < scores["mae"] <= scores["rmse"] < 1.2  # the ratings span 1..5
    assert 0.0 <= scores["precision_at_k"] <= 1.0
    assert 0.0 <= scores["ndcg_at_k"] <= 1.0
    assert scores["precision_at_k"] > 0  # half of each user's unseen movies are relevant
    assert scores["fit_seconds"] > 0
    # A model with a planted structure to learn beats guessing each movie's mean.
    movie_mean = validation["movie_id"].map(fit.groupby("movie_id")["rating"].mean())
    movie_mean = movie_mean.fillna(fit["rating"].mean())
    assert scores["rmse"] < np.sqrt(np.mean((validation["rating"] - movie_mean) ** 2))
    pd.testing.assert_frame_equal(ratings, before)


def test_score_config_rejects_bad_hyperparameters_and_empty_validation() -> None:
    ratings = _planted_ratings()
    with pytest.raises(CofiError, match="invalid hyperparameters"):
        score_config(ratings, ratings.head(5), {"n_feature": 2})
    with pytest.raises(CofiError, match="validation ratings are empty"):
        score_config(ratings, ratings.head(0), {"n_features": 2})


def test_full_config_is_what_fit_trains_with() -> None:
    assert full_config({"objective": "biased", "n_features": 7}) == TrainConfig(n_features=7)
    # without an objective, the one cofi.fit picks for the size
    assert full_config({"n_features": 7}).objective == "blend"
    assert full_config({"n_features": 7}, n_ratings=MINIBATCH_MIN_RATINGS).objective == "biased"
    # An objective's own defaults fill the fields the sweep leaves out, as in cofi.fit.
    for objective, defaults in OBJECTIVE_DEFAULTS.items():
        filled = full_config({"objective": objective}).model_dump()
        assert {name: filled[name] for name in defaults} == defaults
