"""Model variants: each a cost function; dense and sparse forms agree; each trains and predicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

import cofi
from cofi.errors import TrainingError
from cofi.models import objectives as variants
from cofi.models.objectives import VARIANTS


def _problem(seed, n_movies, n_users, n_features, density):
    rng = np.random.default_rng(seed)
    params = {
        "X": rng.normal(size=(n_movies, n_features)),
        "W": rng.normal(size=(n_users, n_features)),
        "b": rng.normal(size=(1, n_users)),
        "movie_bias": rng.normal(size=n_movies),
        "implicit": rng.normal(size=(n_movies, n_features)) * 0.3,
    }
    R = (rng.random((n_movies, n_users)) < density).astype(np.float64)
    Y = rng.normal(size=(n_movies, n_users)) * R
    return params, Y, R


def _value_and_gradients(name, cost, values):
    params = {key: tf.Variable(values[key]) for key in VARIANTS[name].variables}
    with tf.GradientTape() as tape:
        value = cost(params)
    gradients = tape.gradient(value, list(params.values()))
    return float(value), [tf.convert_to_tensor(g).numpy() for g in gradients]


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(["biased", "svdpp", "ranking"]),
    seed=st.integers(0, 2**16),
    n_movies=st.integers(1, 6),
    n_users=st.integers(1, 5),
    n_features=st.integers(1, 3),
    density=st.floats(0.0, 1.0),
    lambda_=st.floats(0.0, 2.0),
    regularization=st.sampled_from(["uniform", "weighted"]),
    unobserved_weight=st.floats(0.0, 1.0),
)
def test_dense_and_sparse_forms_agree(
    name, seed, n_movies, n_users, n_features, density, lambda_, regularization, unobserved_weight
) -> None:
    if name == "ranking":
        regularization = "uniform"
    values, Y, R = _problem(seed, n_movies, n_users, n_features, density)
    movie, user = np.nonzero(R)
    options = dict(
        lambda_=lambda_, regularization=regularization, unobserved_weight=unobserved_weight
    )

    def dense(params):
        return variants.dense_cost(name, params, Y, R, **options)

    def sparse(params):
        users = (
            variants.user_vectors_sparse(params, movie, user, n_users)
            if "implicit" in params
            else None
        )
        return variants.sparse_cost(
            name, params, movie, user, Y[movie, user], weight=1.0, users=users, **options
        )

    dense_value, dense_gradients = _value_and_gradients(name, dense, values)
    sparse_value, sparse_gradients = _value_and_gradients(name, sparse, values)
    assert sparse_value == pytest.approx(dense_value, rel=1e-9, abs=1e-9)
    for g_sparse, g_dense in zip(sparse_gradients, dense_gradients, strict=True):
        np.testing.assert_allclose(g_sparse, g_dense, rtol=1e-8, atol=1e-8)


def test_ranking_cost_hand_computed() -> None:
    # 1 feature: X = [1, 2], W = [1]; scores [1, 2]; movie 0 rated, movie 1 not.
    params = {"X": tf.constant([[1.0], [2.0]]), "W": tf.constant([[1.0]])}
    R = np.array([[1.0], [0.0]])
    # 1/2 * (1 - 1)^2 + w0/2 * 2^2 with w0 = 0.25 -> 0.5; lambda 0
    value = variants.dense_cost(
        "ranking", params, R, R, lambda_=0.0, regularization="uniform", unobserved_weight=0.25
    )
    assert float(value) == pytest.approx(0.5)


def _ratings(seed=0, n_users=40, n_movies=30):
    rng = np.random.default_rng(seed)
    movie, user = np.nonzero(rng.random((n_movies, n_users)) < 0.4)
    taste = rng.normal(size=(n_movies, 2)) @ rng.normal(size=(2, n_users))
    rating = np.clip(np.round(3 + taste[movie, user] + rng.normal(0, 0.3, len(movie))), 1, 5)
    return pd.DataFrame({"user_id": user + 1, "movie_id": movie + 1, "rating": rating})


@pytest.mark.parametrize("objective", ["lab", "biased", "svdpp"])
def test_rating_objectives_train_and_beat_the_movie_mean(objective) -> None:
    ratings = _ratings()
    train, test = cofi.split_random(ratings, 0.2, seed=1)
    model = cofi.fit(train, objective=objective, n_features=2, lambda_=1.0, iterations=300)
    report = cofi.evaluate(model, train, test)
    assert report["metrics"]["model"]["rmse"] < report["metrics"]["movie_mean"]["rmse"]
    loaded_prediction = model.predict(test["user_id"], test["movie_id"])
    assert ((loaded_prediction >= 1) & (loaded_prediction <= 5)).all()


def test_biased_model_learns_movie_biases_and_falls_back_to_them() -> None:
    ratings = _ratings()
    model = cofi.fit(ratings, objective="biased", n_features=2, lambda_=1.0, iterations=200)
    assert np.abs(model.movie_bias).max() > 0.05
    movie = int(ratings["movie_id"].iloc[0])
    i = model.movies.position_of([movie])[0]
    unknown_user = model.predict([10_000], [movie])[0]
    assert unknown_user == pytest.approx(
        np.clip(model.global_mean + model.movie_bias[i], 1, 5), rel=1e-5
    )


def test_ranking_objective_scores_rated_pairs_high_and_is_not_clipped(tmp_path) -> None:
    ratings = _ratings()
    model = cofi.fit(
        ratings,
        objective="ranking",
        n_features=4,
        lambda_=0.1,
        iterations=300,
        unobserved_weight=0.1,
    )
    rated = model.predict(ratings["user_id"], ratings["movie_id"])
    every = pd.MultiIndex.from_product([range(1, 41), range(1, 31)], names=["user_id", "movie_id"])
    unrated = every.difference(
        pd.MultiIndex.from_frame(ratings[["user_id", "movie_id"]])
    ).to_frame()
    scores_unrated = model.predict(unrated["user_id"], unrated["movie_id"])
    assert rated.mean() > scores_unrated.mean() + 0.2
    assert rated.max() < 5 and rated.min() < 1, (
        "ranking scores are preferences, not clipped ratings"
    )
    loaded = cofi.load_model(model.save(tmp_path / "m"))
    pd.testing.assert_frame_equal(loaded.recommend(n=3), model.recommend(n=3))


def test_svdpp_refuses_mini_batches() -> None:
    with pytest.raises(TrainingError, match="full-batch only"):
        cofi.fit(_ratings(), objective="svdpp", method="minibatch", iterations=2)


def test_objective_defaults_apply_unless_overridden() -> None:
    from cofi.models.config import OBJECTIVE_DEFAULTS, make_config

    ranking = make_config(None, {"objective": "ranking"})
    assert ranking.lambda_ == OBJECTIVE_DEFAULTS["ranking"]["lambda_"]
    assert ranking.unobserved_weight == OBJECTIVE_DEFAULTS["ranking"]["unobserved_weight"]
    assert make_config(None, {"objective": "ranking", "lambda_": 3.0}).lambda_ == 3.0
    assert make_config(cofi.TrainConfig(lambda_=7.0), {"objective": "ranking"}).lambda_ == 7.0
