"""Training: recovery of a planted low-rank matrix, determinism, dtypes, and divergence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cofi
from cofi.data.matrices import DENSE_CELL_LIMIT, RatingTriples, build_triples
from cofi.errors import CofiError, TrainingError
from cofi.evaluation.holdout import rmse
from cofi.models.config import TrainConfig
from cofi.models.trainer import (
    MINIBATCH_MIN_RATINGS,
    RMSE_CHUNK,
    centred_rmse,
    choose_method,
    train,
)


def planted(n_movies=60, n_users=50, rank=3, density=0.5, seed=0):
    """Ratings from a planted rank-``rank`` matrix plus movie offsets; no noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_movies, rank))
    W = rng.normal(size=(n_users, rank))
    full = X @ W.T / np.sqrt(rank) + rng.normal(3.0, 0.5, size=(n_movies, 1))
    movie, user = np.nonzero(rng.random((n_movies, n_users)) < density)
    frame = pd.DataFrame({"user_id": user + 1, "movie_id": movie + 1, "rating": full[movie, user]})
    return frame, full


@pytest.mark.parametrize("method", ["dense", "sparse", "minibatch"])
def test_recovers_a_planted_low_rank_matrix(method: str) -> None:
    minibatch = method == "minibatch"
    ratings, full = planted()
    train_mask = np.random.default_rng(1).random(len(ratings)) < 0.85
    train_part, test_part = ratings[train_mask], ratings[~train_mask]
    model = cofi.fit(
        # rank 3, plus one feature for the per-movie constant that mean normalization leaves
        train_part,
        objective="biased",
        n_features=4,
        lambda_=0.01,
        learning_rate=0.02 if minibatch else 0.05,
        iterations=1500,
        method=method,
        batch_size=256,
        epochs=300,
        scale=cofi.RatingScale(-100, 100, 0.5),
    )
    predicted = model.predict(test_part["user_id"], test_part["movie_id"])
    held_out = rmse(test_part["rating"], predicted)
    spread = float(np.std(full))
    # mini-batch noise leaves it a little further from the exact optimum
    assert held_out < (0.02 if minibatch else 0.01) * spread, (
        f"held-out RMSE {held_out:.3f} vs rating spread {spread:.3f}"
    )


def test_dense_and_sparse_training_agree() -> None:
    ratings, _ = planted(20, 15, density=0.4)
    dense = cofi.fit(ratings, objective="biased", iterations=30, method="dense", dtype="float64")
    sparse = cofi.fit(ratings, objective="biased", iterations=30, method="sparse", dtype="float64")
    np.testing.assert_allclose(dense.X, sparse.X, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dense.W, sparse.W, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dense.b, sparse.b, rtol=1e-6, atol=1e-8)


def test_same_seed_same_model_other_seed_other_model() -> None:
    ratings, _ = planted(30, 20)
    first = cofi.fit(ratings, objective="biased", iterations=20, seed=3)
    again = cofi.fit(ratings, objective="biased", iterations=20, seed=3)
    other = cofi.fit(ratings, objective="biased", iterations=20, seed=4)
    assert first.model_id == again.model_id
    np.testing.assert_array_equal(first.X, again.X)
    assert other.model_id != first.model_id


def test_float64_on_request() -> None:
    ratings, _ = planted(10, 8)
    assert (
        cofi.fit(ratings, objective="biased", iterations=5, dtype="float64").X.dtype == np.float64
    )
    assert cofi.fit(ratings, objective="biased", iterations=5).X.dtype == np.float32


def test_loss_decreases_and_is_logged_every_n() -> None:
    ratings, _ = planted(30, 20)
    seen = []
    model = cofi.fit(
        ratings,
        objective="biased",
        iterations=50,
        log_every=10,
        callback=lambda i, n, loss: seen.append((i, loss)),
    )
    assert [i for i, _ in seen] == [10, 20, 30, 40, 50]
    assert model.loss_history == seen
    assert seen[-1][1] < seen[0][1]


def test_non_finite_loss_stops_training_with_a_clear_error() -> None:
    triples = RatingTriples(
        np.array([0, 1], np.int32),
        np.array([0, 0], np.int32),
        np.array([1.0, np.inf], np.float32),
        2,
        1,
    )
    with pytest.raises(TrainingError, match="loss became inf at iteration 1"):
        train(triples, TrainConfig(iterations=5))


def test_bad_hyperparameters_fail_at_once() -> None:
    ratings, _ = planted(5, 5)
    with pytest.raises(CofiError, match="n_features"):
        cofi.fit(ratings, objective="biased", n_features=0)
    with pytest.raises(CofiError, match="known names"):
        cofi.fit(ratings, objective="biased", learning_rat=0.1)


def test_a_full_config_passes_through_and_keywords_override_it() -> None:
    ratings, _ = planted(10, 8)
    model = cofi.fit(ratings, cofi.LAB_CONFIG, iterations=3)
    assert model.config == cofi.LAB_CONFIG.model_copy(update={"iterations": 3})
    assert len(model.loss_history) == 1 and model.loss_history[0][0] == 3
    # the lab's objective centres by movie means: a movie's offset is its mean rating
    first = ratings["movie_id"].min()
    i = model.movies.position_of([first])[0]
    mean = ratings.loc[ratings["movie_id"] == first, "rating"].mean()
    assert model.movie_offset[i] == pytest.approx(mean, rel=1e-6)


def test_auto_never_builds_dense_matrices_past_the_limit_and_batches_large_data() -> None:
    config = TrainConfig()
    side = int(DENSE_CELL_LIMIT**0.5) + 1
    assert choose_method(config, side, side, 10) == "sparse"
    assert choose_method(config, 10, 10, MINIBATCH_MIN_RATINGS) == "minibatch"
    assert choose_method(config, 10, 10, MINIBATCH_MIN_RATINGS - 1) == "dense"
    assert choose_method(TrainConfig(method="sparse"), 10, 10, MINIBATCH_MIN_RATINGS) == "sparse"
    # an objective whose dense cost only gathers the rated cells is trained sparse
    assert choose_method(config, 10, 10, 50, dense_form=False) == "sparse"
    assert choose_method(TrainConfig(method="dense"), 10, 10, 50, dense_form=False) == "dense"


@pytest.mark.parametrize("objective", ["autorec", "blend"])
def test_autorec_and_the_blend_train_sparse_where_biased_trains_dense(objective: str) -> None:
    ratings, _ = planted(20, 15, density=0.5)
    triples, _, _ = build_triples(ratings)
    assert train(triples, TrainConfig(objective="biased", iterations=2)).method == "dense"
    config = TrainConfig(objective=objective, n_features=8, iterations=2)
    assert train(triples, config).method == "sparse"


def test_auto_picks_the_same_model_as_the_method_it_names() -> None:
    ratings, _ = planted(20, 15, density=0.5)
    triples, _, _ = build_triples(ratings)
    picked = choose_method(TrainConfig(), triples.n_movies, triples.n_users, len(triples))
    auto = cofi.fit(ratings, objective="biased", iterations=10)
    named = cofi.fit(ratings, objective="biased", iterations=10, method=picked)
    np.testing.assert_array_equal(auto.X, named.X)


def test_fit_rejects_duplicates_and_missing_ratings() -> None:
    ratings = pd.DataFrame({"user_id": [1, 1], "movie_id": [2, 2], "rating": [3.0, 4.0]})
    with pytest.raises(CofiError, match="duplicate"):
        cofi.fit(ratings, objective="biased")
    with pytest.raises(CofiError, match="missing rating"):
        cofi.fit(
            pd.DataFrame({"user_id": [1], "movie_id": [2], "rating": [np.nan]}), objective="biased"
        )


def test_minibatch_is_seeded_and_logs_per_epoch() -> None:
    ratings, _ = planted(30, 20)
    seen = []
    first = cofi.fit(
        ratings,
        objective="biased",
        method="minibatch",
        batch_size=50,
        epochs=4,
        seed=2,
        callback=lambda i, n, loss: seen.append((i, n)),
    )
    again = cofi.fit(
        ratings, objective="biased", method="minibatch", batch_size=50, epochs=4, seed=2
    )
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    np.testing.assert_array_equal(first.W, again.W)
    assert first.loss_history[-1][1] < first.loss_history[0][1]


def test_early_stopping_keeps_the_best_state_and_stops() -> None:
    ratings, _ = planted(40, 30, density=0.6)
    # lambda 0 and many features: the validation error must turn up at some point
    model_args = dict(
        n_features=20, lambda_=0.0, learning_rate=0.1, iterations=400, log_every=10, init_scale=1.0
    )
    from cofi.data.matrices import build_triples

    triples, _, _ = build_triples(ratings)
    result = train(triples, TrainConfig(**model_args, validation_fraction=0.2, patience=2))
    steps = [step for step, _ in result.validation_history]
    rmses = [value for _, value in result.validation_history]
    assert result.best_step == steps[int(np.argmin(rmses))]
    assert steps[-1] < 400, "training should have stopped early"
    assert steps[-1] == result.best_step + 2 * 10
    assert len(result.loss_history) == len(steps)
    # the parameters returned are the best ones, not the last
    from cofi.models.trainer import split_validation

    _, validation = split_validation(triples, TrainConfig(validation_fraction=0.2))
    error = (
        np.einsum("ij,ij->i", result.X[validation.movie_index], result.W[validation.user_index])
        + result.b[0, validation.user_index]
        + result.movie_bias[validation.movie_index]
        - validation.rating
    )
    assert np.sqrt(np.mean(error.astype(np.float64) ** 2)) == pytest.approx(min(rmses), rel=1e-5)


def test_early_stopping_ratings_do_not_leak_into_the_centring() -> None:
    from cofi.data.matrices import build_triples, normalize_triples
    from cofi.models.trainer import split_validation

    ratings, _ = planted(20, 15, density=0.6)
    config = dict(objective="lab", iterations=20, validation_fraction=0.3, log_every=5)
    model = cofi.fit(ratings, **config)
    triples, _, _ = build_triples(ratings)
    fit_part, validation = split_validation(triples, TrainConfig(**config))
    _, fit_means = normalize_triples(fit_part)
    _, all_means = normalize_triples(triples)
    np.testing.assert_allclose(model.movie_offset, fit_means, rtol=1e-6)
    assert not np.allclose(model.movie_offset, all_means)
    assert len(validation) == round(0.3 * len(triples))


def test_minibatches_hold_every_rating_once_sorted_by_user_and_seeded() -> None:
    from cofi.models.trainer import _batches

    rng = np.random.default_rng(0)
    n = 1003
    triples = RatingTriples(
        rng.integers(0, 40, n).astype(np.int32),
        rng.integers(0, 30, n).astype(np.int32),
        np.arange(n, dtype=np.float32),  # the rating names the rating
        40,
        30,
    )
    config = TrainConfig(method="minibatch", batch_size=100)

    def draw(seed: int):
        return _batches(triples, config, "minibatch", "float32", np.random.default_rng(seed))

    batches = draw(1)
    sizes = [len(batch[0]) for batch in batches]
    assert len(batches) == 11 and max(sizes) - min(sizes) <= 1 and sum(sizes) == n
    ids = np.concatenate([batch[2].numpy() for batch in batches]).astype(int)
    np.testing.assert_array_equal(np.sort(ids), np.arange(n))
    for movie, user, rating, weight in batches:
        assert np.all(np.diff(user.numpy()) >= 0), "a batch is sorted by user"
        np.testing.assert_array_equal(
            movie.numpy(), triples.movie_index[rating.numpy().astype(int)]
        )
        np.testing.assert_array_equal(user.numpy(), triples.user_index[rating.numpy().astype(int)])
        assert float(weight) == pytest.approx(n / len(movie))
    again = draw(1)
    for first, second in zip(batches, again, strict=True):
        np.testing.assert_array_equal(first[2].numpy(), second[2].numpy())
    assert not np.array_equal(batches[0][2].numpy(), draw(2)[0][2].numpy())


def test_gathered_rows_reach_adam_as_one_summed_dense_gradient() -> None:
    """The step densifies the tape's gradient before Adam. A row gathered twice gets two slices;
    given them as IndexedSlices, Keras 3's Adam sums them for the first moment but squares them
    one by one for the second (10 here, not 16) and densifies twice, which cost a third of a
    mini-batch step. Summed first, Adam's first step moves every row by the learning rate."""
    import keras
    import tensorflow as tf

    from cofi.models.trainer import optimize

    variable = tf.Variable(tf.zeros((2,)))

    def cost(index, target):
        return 0.5 * tf.reduce_sum((tf.gather(variable, index) - target) ** 2)

    batch = (tf.constant([0, 0, 1]), tf.constant([1.0, 3.0, -2.0]))
    optimize(cost, [variable], keras.optimizers.Adam(0.1), [batch], epochs=1)
    # gradient slices (-1, -3) for row 0, summed to -4, and 2 for row 1
    np.testing.assert_allclose(variable.numpy(), [0.1, -0.1], rtol=1e-5)


def test_biased_large_data_defaults_start_with_mini_batches_and_leave_smaller_data_alone() -> None:
    from cofi.models.config import LARGE_DATA_RATINGS, make_config

    small = make_config(None, {"objective": "biased"}, n_ratings=MINIBATCH_MIN_RATINGS - 1)
    large = make_config(None, {"objective": "biased"}, n_ratings=MINIBATCH_MIN_RATINGS)
    assert small == TrainConfig(objective="biased")
    assert make_config(None, {}, n_ratings=LARGE_DATA_RATINGS) == large
    assert (large.regularization, large.lambda_, large.batch_size, large.epochs) == (
        "weighted",
        0.03,
        125_000,
        5,
    )
    mine = make_config(
        None, {"objective": "biased", "lambda_": 0.1}, n_ratings=MINIBATCH_MIN_RATINGS
    )
    assert mine.lambda_ == 0.1 and mine.regularization == "weighted"


def test_without_an_objective_cofi_fit_picks_blend_for_few_ratings_and_biased_for_many() -> None:
    from cofi.models.config import (
        MINIBATCH_MIN_RATINGS,
        default_objective,
        make_config,
        objective_defaults,
    )

    assert default_objective(None) == default_objective(MINIBATCH_MIN_RATINGS - 1) == "blend"
    assert default_objective(MINIBATCH_MIN_RATINGS) == "biased"
    few = make_config(None, {}, n_ratings=MINIBATCH_MIN_RATINGS - 1)
    assert few == TrainConfig(**{**objective_defaults("blend"), "objective": "blend"})
    many = make_config(None, {"objective": None}, n_ratings=MINIBATCH_MIN_RATINGS)
    assert many.objective == "biased"
    # a named objective is kept, and a full config is used as it is
    assert make_config(None, {"objective": "svdpp"}, n_ratings=10).objective == "svdpp"
    assert make_config(TrainConfig(), {}, n_ratings=10).objective == "biased"
    # warm-start settings only for an objective that can be warm-started
    assert make_config(None, {}, warm_start=True, n_ratings=10).tolerance == 0.0
    assert make_config(None, {"objective": "biased"}, warm_start=True).tolerance > 0
    ratings, _ = planted()
    model = cofi.fit(ratings, n_features=4, iterations=3)
    assert model.config.objective == "blend"
    # a warm start goes on with the starting model's objective
    biased = cofi.fit(ratings, objective="biased", n_features=4, iterations=3)
    assert cofi.fit(ratings, n_features=4, iterations=3, warm_start=biased).config.objective == (
        "biased"
    )


def test_a_monitor_records_held_out_rmse_per_check_and_changes_nothing() -> None:
    ratings, _ = planted()
    held_out = ratings.sample(frac=0.2, random_state=0)
    train_part = ratings.drop(held_out.index)
    # a pair the model cannot score (unknown user) is left out, not an error
    stranger = pd.DataFrame({"user_id": [10**6], "movie_id": [held_out["movie_id"].iloc[0]],
                             "rating": [3.0]})  # fmt: skip
    plain = cofi.fit(train_part, objective="biased", n_features=3, iterations=60, log_every=10)
    watched = cofi.fit(
        train_part,
        objective="biased",
        n_features=3,
        iterations=60,
        log_every=10,
        monitor=pd.concat([held_out, stranger]),
    )
    assert watched.model_id == plain.model_id and plain.validation_history == []
    steps = [step for step, _ in watched.validation_history]
    assert steps == [step for step, _ in watched.loss_history]
    errors = [error for _, error in watched.validation_history]
    assert errors[-1] < errors[0]
    predicted = watched.predict(held_out["user_id"], held_out["movie_id"])
    # the last check is before the last step's update: close to, not equal to, the final RMSE
    assert abs(errors[-1] - rmse(held_out["rating"].to_numpy(), predicted)) < 0.05


def test_the_chunked_validation_rmse_is_the_rmse_of_every_rating() -> None:
    rng = np.random.default_rng(3)
    n_movies, n_users, n = 40, 30, 2 * RMSE_CHUNK + 17  # two whole chunks and a part
    values = {
        "X": rng.normal(size=(n_movies, 4)).astype(np.float32),
        "W": rng.normal(size=(n_users, 4)).astype(np.float32),
        "b": rng.normal(size=(1, n_users)).astype(np.float32),
        "movie_bias": rng.normal(size=n_movies).astype(np.float32),
    }
    triples = RatingTriples(
        rng.integers(0, n_movies, n).astype(np.int32),
        rng.integers(0, n_users, n).astype(np.int32),
        rng.normal(size=n).astype(np.float32),
        n_movies,
        n_users,
    )
    movie, user = triples.movie_index, triples.user_index
    predicted = (
        (values["X"][movie] * values["W"][user]).sum(axis=1)
        + values["b"][0, user]
        + values["movie_bias"][movie]
    )
    assert centred_rmse(values, triples) == pytest.approx(rmse(triples.rating, predicted), 1e-6)
    empty = RatingTriples(movie[:0], user[:0], triples.rating[:0], n_movies, n_users)
    assert np.isnan(centred_rmse(values, empty))
