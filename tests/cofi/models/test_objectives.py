"""The contract every registered objective keeps, checked by adding nothing but its registration.

Like lkpy's component test mixins and implicit's shared test base: for each objective in
``cofi.models.objectives.REGISTRY``, its batch cost equals its dense reference form (value and
gradients), gradients match finite differences, a planted structure is recovered, a model
survives save/load, fold-in and warm start work (or are refused, as the objective declares), and
a non-finite cost stops training.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

import cofi
from cofi.data.matrices import RatingTriples, build_triples
from cofi.errors import CofiError, TrainingError
from cofi.models.config import TrainConfig
from cofi.models.objectives import OBJECTIVE_NAMES, objective_class, objective_for
from cofi.models.objectives.base import Batch, Objective
from cofi.models.trainer import train

ALL = pytest.mark.parametrize("name", OBJECTIVE_NAMES)


def _random_params(objective: Objective, n_movies, n_users, seed) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        variable.name: rng.normal(
            0, 0.7, variable.shape(n_movies, n_users, objective.config.n_features)
        )
        for variable in objective.variables
    }


def _value_and_gradients(cost, values):
    params = {name: tf.Variable(value) for name, value in values.items()}
    with tf.GradientTape() as tape:
        value = cost(params)
    gradients = tape.gradient(value, list(params.values()))
    return float(value), [
        np.zeros(v.shape) if g is None else tf.convert_to_tensor(g).numpy()
        for g, v in zip(gradients, params.values(), strict=True)
    ]


def _full_batch(objective, Y, R) -> tuple[Batch, RatingTriples]:
    movie, user = np.nonzero(R)
    triples = RatingTriples(movie.astype(np.int32), user.astype(np.int32), Y[movie, user], *R.shape)
    objective.prepare(triples)
    batch = Batch(
        tf.constant(movie.astype(np.int32)),
        tf.constant(user.astype(np.int32)),
        tf.constant(Y[movie, user]),
        tf.constant(1.0, tf.float64),
    )
    return batch, triples


@ALL
@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n_movies=st.integers(1, 6),
    n_users=st.integers(1, 5),
    n_features=st.integers(1, 3),
    density=st.floats(0.0, 1.0),
    lambda_=st.floats(0.0, 2.0),
    regularization=st.sampled_from(["uniform", "weighted"]),
    unobserved_weight=st.floats(0.0, 1.0),
    user_weight_power=st.sampled_from([0.0, 0.3, 1.0]),
)
def test_batch_cost_equals_the_dense_reference(
    name,
    seed,
    n_movies,
    n_users,
    n_features,
    density,
    lambda_,
    regularization,
    unobserved_weight,
    user_weight_power,
) -> None:
    config = TrainConfig(
        objective=name,
        n_features=n_features,
        lambda_=lambda_,
        regularization=regularization,
        unobserved_weight=unobserved_weight,
        user_weight_power=user_weight_power,
        dtype="float64",
    )
    objective = objective_for(config)
    rng = np.random.default_rng(seed + 1)
    R = (rng.random((n_movies, n_users)) < density).astype(np.float64)
    Y = rng.normal(size=R.shape) * R
    if name == "ranking":
        Y = R.copy()  # its targets are 1 for every rated pair
    batch, _ = _full_batch(objective, Y, R)
    values = _random_params(objective, n_movies, n_users, seed)
    dense_value, dense_gradients = _value_and_gradients(
        lambda p: objective.dense_cost(p, tf.constant(Y), tf.constant(R)), values
    )
    batch_value, batch_gradients = _value_and_gradients(lambda p: objective.cost(p, batch), values)
    assert batch_value == pytest.approx(dense_value, rel=1e-9, abs=1e-9)
    for g_batch, g_dense in zip(batch_gradients, dense_gradients, strict=True):
        np.testing.assert_allclose(g_batch, g_dense, rtol=1e-8, atol=1e-8)


@ALL
def test_gradients_match_finite_differences(name) -> None:
    config = TrainConfig(objective=name, n_features=2, lambda_=0.3, dtype="float64")
    objective = objective_for(config)
    rng = np.random.default_rng(0)
    R = (rng.random((5, 4)) < 0.6).astype(np.float64)
    Y = R.copy() if name == "ranking" else rng.normal(size=R.shape) * R
    batch, _ = _full_batch(objective, Y, R)
    values = _random_params(objective, 5, 4, 1)

    def cost_of(vals):
        return float(objective.cost({k: tf.constant(v) for k, v in vals.items()}, batch))

    _, gradients = _value_and_gradients(lambda p: objective.cost(p, batch), values)
    h = 1e-6
    for (key, value), gradient in zip(values.items(), gradients, strict=True):
        for index in np.ndindex(value.shape):
            up = {k: v.copy() for k, v in values.items()}
            down = {k: v.copy() for k, v in values.items()}
            up[key][index] += h
            down[key][index] -= h
            numeric = (cost_of(up) - cost_of(down)) / (2 * h)
            assert gradient[index] == pytest.approx(numeric, rel=1e-5, abs=1e-6), (key, index)


def _planted(seed=0, n_movies=40, n_users=50, density=0.45):
    """Ratings from a rank-2 taste matrix plus movie and user effects, rounded to 1..5."""
    rng = np.random.default_rng(seed)
    taste = rng.normal(size=(n_movies, 2)) @ rng.normal(size=(2, n_users))
    effects = rng.normal(0, 0.5, (n_movies, 1)) + rng.normal(0, 0.3, (1, n_users))
    movie, user = np.nonzero(rng.random((n_movies, n_users)) < density)
    rating = np.clip(np.round(3 + taste[movie, user] + effects[movie, user]), 1, 5)
    return pd.DataFrame({"user_id": user + 1, "movie_id": movie + 1, "rating": rating})


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    return _planted()


def _fit(name, ratings, **options):
    settings = {"n_features": 3, "lambda_": 1.0, "iterations": 300, "method": "sparse", **options}
    return cofi.fit(ratings, objective=name, **settings)


def _planted_tastes(seed=0, n_movies=40, n_users=50):
    """Which movies users rate follows two planted tastes: each user rates 70% of the movies of
    their own group and 5% of the others'."""
    rng = np.random.default_rng(seed)
    same = (np.arange(n_movies)[:, None] % 2) == (np.arange(n_users)[None, :] % 2)
    movie, user = np.nonzero(rng.random((n_movies, n_users)) < np.where(same, 0.7, 0.05))
    rating = rng.integers(1, 6, len(movie)).astype(float)
    return pd.DataFrame({"user_id": user + 1, "movie_id": movie + 1, "rating": rating}), same


@ALL
def test_recovers_a_planted_structure(name, planted) -> None:
    if objective_class(name).predicts_ratings:
        train_part, test_part = cofi.split_random(planted, 0.2, seed=1)
        model = _fit(name, train_part)
        predicted = model.predict(test_part["user_id"], test_part["movie_id"])
        movie_mean = test_part["movie_id"].map(train_part.groupby("movie_id")["rating"].mean())
        baseline = np.sqrt(np.mean((test_part["rating"] - movie_mean.fillna(3.0)) ** 2))
        error = np.sqrt(np.mean((test_part["rating"] - predicted) ** 2))
        assert error < 0.8 * baseline, f"RMSE {error:.3f} against the movie mean's {baseline:.3f}"
    else:
        # a one-class model scores the unrated movies of a user's own taste above the others
        ratings, same = _planted_tastes()
        model = _fit(name, ratings)
        movie, user = np.meshgrid(np.arange(40), np.arange(50), indexing="ij")
        scores = model.predict(user.ravel() + 1, movie.ravel() + 1).reshape(40, 50)
        rated = np.zeros((40, 50), bool)
        rated[ratings["movie_id"] - 1, ratings["user_id"] - 1] = True
        own, other = scores[same & ~rated], scores[~same & ~rated]
        assert own.mean() > other.mean() + 0.2, (own.mean(), other.mean())


@ALL
def test_save_and_load_round_trip(name, planted, tmp_path) -> None:
    model = _fit(name, planted, iterations=30)
    loaded = cofi.load_model(model.save(tmp_path / "model"))
    assert loaded.model_id == model.model_id and loaded.config == model.config
    users, movies = planted["user_id"][:50], planted["movie_id"][:50]
    np.testing.assert_array_equal(loaded.predict(users, movies), model.predict(users, movies))
    pd.testing.assert_frame_equal(loaded.recommend(n=4), model.recommend(n=4))


@ALL
def test_fold_in_fits_a_new_user_from_their_ratings(name, planted) -> None:
    new_user = 1
    model = _fit(name, planted[planted["user_id"] != new_user])
    own = planted[planted["user_id"] == new_user]
    folded = model.fold_in(own, iterations=500)
    assert folded.users.position_of([new_user])[0] >= 0
    np.testing.assert_array_equal(folded.X, model.X)  # the movie side stays fixed
    fitted = folded.predict(own["user_id"], own["movie_id"])
    unknown = model.predict(own["user_id"], own["movie_id"])  # an unknown user's prediction
    if objective_class(name).predicts_ratings:
        # the user's own ratings are predicted better once they are folded in
        assert np.mean((fitted - own["rating"]) ** 2) < np.mean((unknown - own["rating"]) ** 2)
    else:
        others = np.setdiff1d(planted["movie_id"].unique(), own["movie_id"])
        assert fitted.mean() > folded.predict([new_user] * len(others), others).mean()
    table = folded.recommend([new_user], n=5)
    assert len(table) == 5 and not set(table["movie_id"]) & set(own["movie_id"])


@ALL
def test_warm_start_starts_where_the_model_left_off_or_is_refused(name, planted) -> None:
    model = _fit(name, planted)
    if not objective_class(name).warm_starts:
        with pytest.raises(CofiError, match="warm start does not support"):
            _fit(name, planted, warm_start=model)
        return
    cold = _fit(name, planted, iterations=20, log_every=1, learning_rate=0.02)
    warm = _fit(name, planted, iterations=20, log_every=1, warm_start=model)
    assert warm.loss_history[0][1] < 0.5 * cold.loss_history[0][1]
    # known movies and users start at the previous model's rows
    assert np.abs(warm.X - model.X).max() < np.abs(cold.X - model.X).max()


@ALL
def test_a_non_finite_cost_stops_training_with_a_clear_error(name, planted) -> None:
    triples, _, _ = build_triples(planted)
    config = TrainConfig(objective=name, n_features=3, iterations=5, method="sparse")
    objective = objective_for(config)
    targets, _ = objective.centre(triples)
    # X as wide as the objective's own (a blend's parts share the features)
    shape = objective.initial_values(triples.n_movies, triples.n_users)["X"].shape
    bad = np.full(shape, np.nan, np.float32)
    with pytest.raises(TrainingError, match="loss became nan at iteration 1"):
        train(targets, config, initial={"X": bad})


@ALL
def test_same_seed_same_model(name, planted) -> None:
    first, again = _fit(name, planted, iterations=20), _fit(name, planted, iterations=20)
    other = _fit(name, planted, iterations=20, seed=5)
    assert first.model_id == again.model_id != other.model_id


# What single objectives promise beyond the contract ------------------------------------------


def test_ranking_cost_hand_computed() -> None:
    # 1 feature: X = [1, 2], W = [1]; scores [1, 2]; movie 0 rated, movie 1 not.
    params = {"X": tf.constant([[1.0], [2.0]]), "W": tf.constant([[1.0]])}
    R = tf.constant([[1.0], [0.0]])
    # 1/2 * (1 - 1)^2 + w0/2 * 2^2 with w0 = 0.25 -> 0.5; lambda 0
    objective = objective_for(
        TrainConfig(objective="ranking", lambda_=0.0, unobserved_weight=0.25, n_features=1)
    )
    assert float(objective.dense_cost(params, R, R)) == pytest.approx(0.5)
    batch = Batch(tf.constant([0]), tf.constant([0]), tf.constant([1.0]), tf.constant(1.0))
    assert float(objective.cost(params, batch)) == pytest.approx(0.5)


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
