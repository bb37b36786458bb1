"""What the ials and mnar objectives promise beyond the contract test (test_objectives.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import cofi
from cofi.data.matrices import RatingTriples
from cofi.models.config import TrainConfig
from cofi.models.objectives import objective_for
from cofi.models.objectives.base import Batch

# 1 feature, 2 movies, 1 user: X = [1, 2], W = [1]; movie 0 rated, movie 1 not.
ONE_RATED = tf.constant([[1.0], [0.0]])
BATCH = Batch(tf.constant([0]), tf.constant([0]), tf.constant([4.0]), tf.constant(1.0))


def _objective(name: str, **fields):
    objective = objective_for(TrainConfig(objective=name, n_features=1, **fields))
    objective.prepare(RatingTriples(np.array([0], np.int32), np.array([0], np.int32),
                                    np.array([4.0], np.float32), 2, 1))  # fmt: skip
    return objective


def test_ials_cost_hand_computed() -> None:
    params = {"X": tf.constant([[1.0], [2.0]]), "W": tf.constant([[1.0]])}
    # scores [1, 2]: 1/2 (1 - 1)^2 + w0/2 2^2 = 0.5 with w0 = 0.25, no penalty (one user:
    # its weight is 1 whatever the power)
    plain = _objective("ials", lambda_=0.0, unobserved_weight=0.25)
    assert float(plain.dense_cost(params, 4.0 * ONE_RATED, ONE_RATED)) == pytest.approx(0.5)
    assert float(plain.cost(params, BATCH)) == pytest.approx(0.5)
    # frequency-scaled: movie 0 (1 + 0.25 * 1) 1^2, movie 1 (0 + 0.25 * 1) 2^2, the user
    # (1 + 0.25 * 2) 1^2: 3.75, times lambda / 2 = 1/2
    scaled = _objective("ials", lambda_=1.0, unobserved_weight=0.25, regularization="weighted")
    assert float(scaled.dense_cost(params, 4.0 * ONE_RATED, ONE_RATED)) == pytest.approx(2.375)
    assert float(scaled.cost(params, BATCH)) == pytest.approx(2.375)


def test_ials_user_weights_hand_computed() -> None:
    # 2 movies, 2 users: user 0 rated movie 0; user 1 rated both. X = [1, 2], W = [1, 1].
    params = {"X": tf.constant([[1.0], [2.0]]), "W": tf.constant([[1.0], [1.0]])}
    R = tf.constant([[1.0, 1.0], [0.0, 1.0]])
    objective = objective_for(
        TrainConfig(objective="ials", n_features=1, lambda_=0.0, unobserved_weight=0.25,
                    user_weight_power=1.0)
    )  # fmt: skip
    objective.prepare(RatingTriples(np.array([0, 0, 1], np.int32), np.array([0, 1, 1], np.int32),
                                    np.ones(3, np.float32), 2, 2))  # fmt: skip
    # mean 1.5 ratings a user: weights (1 / 1.5)^-1 = 1.5 and (2 / 1.5)^-1 = 0.75.
    # user 0: (1 - 1)^2 + 0.25 * 2^2 = 1; user 1: (1 - 1)^2 + (2 - 1)^2 = 1.
    # J = 1/2 (1.5 * 1 + 0.75 * 1) = 1.125
    assert float(objective.dense_cost(params, R, R)) == pytest.approx(1.125)
    batch = Batch(tf.constant([0, 0, 1]), tf.constant([0, 1, 1]), tf.ones(3), tf.constant(1.0))
    assert float(objective.cost(params, batch)) == pytest.approx(1.125)


def test_ials_cost_needs_its_user_weights() -> None:
    objective = objective_for(TrainConfig(objective="ials", n_features=1))
    params = {"X": tf.constant([[1.0], [2.0]]), "W": tf.constant([[1.0]])}
    with pytest.raises(RuntimeError, match="prepare"):
        objective.cost(params, BATCH)


def test_a_folded_in_user_is_weighted_against_the_trained_users() -> None:
    # Folded in with the model's own weights, a user gets the vector the cost's optimum gives
    # against the trained users' mean count: with 2 ratings against a mean of 8 the weight is
    # (2 / 8)^-0.5 = 2, as if lambda were halved; with the new user's own mean it would be 1.
    rng = np.random.default_rng(0)
    ratings = pd.DataFrame(
        [
            (user, movie, float(rng.integers(1, 6)))
            for user in range(1, 21)
            for movie in rng.choice(30, 8, replace=False)
        ],
        columns=["user_id", "movie_id", "rating"],
    )
    model = cofi.fit(ratings, objective="ials", n_features=4, iterations=50, lambda_=2.0,
                     unobserved_weight=0.2, user_weight_power=0.5, seed=0, log_every=10**6)  # fmt: skip
    known = model.movies.ids[:2].astype(np.int64)
    new = pd.DataFrame({"user_id": [99, 99], "movie_id": known, "rating": [5.0, 3.0]})
    folded = model.fold_in(new, iterations=2000, tolerance=0.0)
    X = model.X.astype(np.float64)
    positions = model.movies.position_of(known)
    Xr = X[positions]

    def optimum(weight: float) -> np.ndarray:
        # d/dw [weight/2 (sum_rated (x.w - 1)^2 + w0 sum_unrated (x.w)^2) + lambda/2 |w|^2] = 0
        gram = weight * (0.2 * X.T @ X + 0.8 * Xr.T @ Xr) + 2.0 * np.eye(4)
        return np.linalg.solve(gram, weight * Xr.sum(axis=0))

    w = folded.W[folded.users.position_of(np.array([99]))[0]]
    np.testing.assert_allclose(w, optimum(2.0), atol=2e-3)
    assert not np.allclose(w, optimum(1.0), atol=2e-3)


def test_ials_initial_values_shrink_with_the_number_of_features() -> None:
    small = objective_for(TrainConfig(objective="ials", n_features=4)).initial_values(500, 400)
    large = objective_for(TrainConfig(objective="ials", n_features=64)).initial_values(500, 400)
    # std init_scale / sqrt(n_features): the scores' spread does not grow with n_features
    assert np.std(small["X"]) == pytest.approx(0.1 / 2, rel=0.05)
    assert np.std(large["X"]) == pytest.approx(0.1 / 8, rel=0.05)


def test_mnar_cost_hand_computed() -> None:
    params = {
        "X": tf.constant([[1.0], [2.0]]),
        "W": tf.constant([[1.0]]),
        "b": tf.constant([[0.5]]),
        "movie_bias": tf.constant([0.0, -1.0]),
    }
    # p = [1 + 0.5 + 0, 2 + 0.5 - 1] = [1.5, 1.5]; target 2 for movie 0, 0 (imputed) for movie 1:
    # 1/2 (1.5 - 2)^2 + w0/2 1.5^2 = 0.125 + 0.28125 with w0 = 0.25
    objective = _objective("mnar", lambda_=0.0, unobserved_weight=0.25)
    batch = Batch(tf.constant([0]), tf.constant([0]), tf.constant([2.0]), tf.constant(1.0))
    assert float(objective.dense_cost(params, 2.0 * ONE_RATED, ONE_RATED)) == pytest.approx(0.40625)
    assert float(objective.cost(params, batch)) == pytest.approx(0.40625)


def test_mnar_centres_at_the_imputed_rating() -> None:
    objective = _objective("mnar")
    triples = RatingTriples(
        np.array([0, 1], np.int32), np.array([0, 0], np.int32), np.array([3.0, 5.0]), 3, 1
    )
    targets, offset = objective.centre(triples)
    r0 = 4.0 - objective.imputation_gap
    np.testing.assert_allclose(offset, [r0] * 3)
    np.testing.assert_allclose(targets.rating, [3.0 - r0, 5.0 - r0])


def _tastes(seed=0, n_movies=40, n_users=50):
    """Each user rates 70% of the movies of their own group and 5% of the others'; ratings
    are whole stars at random."""
    rng = np.random.default_rng(seed)
    same = (np.arange(n_movies)[:, None] % 2) == (np.arange(n_users)[None, :] % 2)
    movie, user = np.nonzero(rng.random((n_movies, n_users)) < np.where(same, 0.7, 0.05))
    rating = rng.integers(1, 6, len(movie)).astype(float)
    return pd.DataFrame({"user_id": user + 1, "movie_id": movie + 1, "rating": rating}), same


def test_mnar_ranks_by_taste_and_predicts_on_the_scale() -> None:
    ratings, same = _tastes()
    model = cofi.fit(
        ratings, objective="mnar", n_features=3, lambda_=1.0, unobserved_weight=0.1,
        iterations=300, method="sparse",
    )  # fmt: skip
    movie, user = np.meshgrid(np.arange(40), np.arange(50), indexing="ij")
    predicted = model.predict(user.ravel() + 1, movie.ravel() + 1).reshape(40, 50)
    assert predicted.min() >= 1 and predicted.max() <= 5
    rated = np.zeros((40, 50), bool)
    rated[ratings["movie_id"] - 1, ratings["user_id"] - 1] = True
    # an unrated movie of the user's own taste is predicted above one of the other taste
    assert predicted[same & ~rated].mean() > predicted[~same & ~rated].mean() + 0.2


def test_large_data_defaults_apply_from_their_size_on_and_yield_to_given_settings() -> None:
    from cofi.models.config import LARGE_DATA_RATINGS, make_config, objective_defaults

    small = make_config(None, {"objective": "ials"}, n_ratings=LARGE_DATA_RATINGS - 1)
    large = make_config(None, {"objective": "ials"}, n_ratings=LARGE_DATA_RATINGS)
    assert small.n_features == objective_defaults("ials")["n_features"] == 128
    assert (large.n_features, large.batch_size, large.epochs) == (32, 1_000_000, 8)
    assert large.lambda_ == small.lambda_  # only what the large-data defaults name changes
    given = make_config(None, {"objective": "ials", "n_features": 64}, n_ratings=10**8)
    assert given.n_features == 64
    # An objective without large-data defaults is the same at any size.
    assert make_config(None, {"objective": "lab"}, n_ratings=10**8) == make_config(
        None, {"objective": "lab"}
    )
