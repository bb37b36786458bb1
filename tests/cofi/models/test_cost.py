"""The cost function: hand-computed cases, dense == sparse, autodiff == finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from cofi import cofi_cost, cofi_cost_sparse, normalize_ratings
from cofi.data.matrices import RatingTriples, normalize_triples


def test_hand_computed_two_by_three() -> None:
    # 2 movies, 3 users, 1 feature. Predictions x_i * w_j + b_j:
    # movie 0: [1*1+0, 1*2+1, 1*0+0] = [1, 3, 0]; movie 1: [2*1+0, 2*2+1, 2*0+0] = [2, 5, 0]
    X = np.array([[1.0], [2.0]])
    W = np.array([[1.0], [2.0], [0.0]])
    b = np.array([[0.0, 1.0, 0.0]])
    Y = np.array([[2.0, 3.0, 9.0], [2.0, 4.0, 1.0]])
    R = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    # rated errors: (1-2)=-1, (3-3)=0, (5-4)=1, (0-1)=-1 -> 1/2 * 3 = 1.5
    assert float(cofi_cost(X, W, b, Y, R, 0.0)) == pytest.approx(1.5)
    # regularization: lambda/2 * (sum X^2 = 5 + sum W^2 = 5) = 1.5 * 10 / 2 = 7.5 with lambda 1.5
    assert float(cofi_cost(X, W, b, Y, R, 1.5)) == pytest.approx(1.5 + 7.5)
    movie, user = np.nonzero(R)
    sparse = cofi_cost_sparse(X, W, b, movie, user, Y[movie, user], 1.5)
    assert float(sparse) == pytest.approx(9.0)


def test_weighted_regularization_hand_computed() -> None:
    # Same 2x3 case: movie 0 has 2 ratings, movie 1 has 2; users have 1, 2, 1.
    X = np.array([[1.0], [2.0]])
    W = np.array([[1.0], [2.0], [0.0]])
    b = np.array([[0.0, 1.0, 0.0]])
    Y = np.array([[2.0, 3.0, 9.0], [2.0, 4.0, 1.0]])
    R = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    # penalty: 2*1 + 2*4 (movies) + 1*1 + 2*4 + 1*0 (users) = 19; lambda 2 -> 19
    assert float(cofi_cost(X, W, b, Y, R, 2.0, regularization="weighted")) == pytest.approx(
        1.5 + 19.0
    )
    movie, user = np.nonzero(R)
    sparse = cofi_cost_sparse(X, W, b, movie, user, Y[movie, user], 2.0, regularization="weighted")
    assert float(sparse) == pytest.approx(20.5)
    with pytest.raises(ValueError, match="regularization must be one of"):
        cofi_cost(X, W, b, Y, R, 1.0, regularization="l1")


def test_accepts_numpy_and_tensors_alike() -> None:
    rng = np.random.default_rng(0)
    X, W, b = rng.normal(size=(4, 2)), rng.normal(size=(3, 2)), rng.normal(size=(1, 3))
    Y, R = rng.normal(size=(4, 3)), (rng.random((4, 3)) < 0.5).astype(float)
    from_numpy = cofi_cost(X, W, b, Y, R, 0.7)
    from_tensors = cofi_cost(*(tf.constant(a) for a in (X, W, b, Y, R)), 0.7)
    assert from_numpy.dtype == tf.float64
    assert float(from_numpy) == pytest.approx(float(from_tensors))


def _problem(seed: int, n_movies: int, n_users: int, n_features: int, density: float):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_movies, n_features))
    W = rng.normal(size=(n_users, n_features))
    b = rng.normal(size=(1, n_users))
    R = (rng.random((n_movies, n_users)) < density).astype(np.float64)
    Y = np.round(rng.uniform(0.5, 5.0, size=(n_movies, n_users)) * 2) / 2 * R
    return X, W, b, Y, R


def _value_and_gradients(cost, X, W, b):
    variables = [tf.Variable(X), tf.Variable(W), tf.Variable(b)]
    with tf.GradientTape() as tape:
        value = cost(*variables)
    gradients = [tf.convert_to_tensor(g).numpy() for g in tape.gradient(value, variables)]
    return float(value), gradients


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n_movies=st.integers(1, 7),
    n_users=st.integers(1, 6),
    n_features=st.integers(1, 4),
    density=st.floats(0.0, 1.0),
    lambda_=st.floats(0.0, 3.0),
    regularization=st.sampled_from(["uniform", "weighted"]),
)
def test_dense_and_sparse_agree_in_value_and_gradients(
    seed, n_movies, n_users, n_features, density, lambda_, regularization
) -> None:
    X, W, b, Y, R = _problem(seed, n_movies, n_users, n_features, density)
    movie, user = np.nonzero(R)
    dense = _value_and_gradients(
        lambda X, W, b: cofi_cost(X, W, b, Y, R, lambda_, regularization=regularization), X, W, b
    )
    sparse = _value_and_gradients(
        lambda X, W, b: cofi_cost_sparse(
            X, W, b, movie, user, Y[movie, user], lambda_, regularization=regularization
        ),
        X,
        W,
        b,
    )
    assert sparse[0] == pytest.approx(dense[0], rel=1e-10, abs=1e-10)
    for g_sparse, g_dense in zip(sparse[1], dense[1], strict=True):
        np.testing.assert_allclose(g_sparse, g_dense, rtol=1e-10, atol=1e-10)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16), lambda_=st.floats(0.0, 2.0))
def test_cost_is_never_negative(seed, lambda_) -> None:
    X, W, b, Y, R = _problem(seed, 5, 4, 3, 0.5)
    assert float(cofi_cost(X, W, b, Y, R, lambda_)) >= 0.0


@pytest.mark.parametrize("regularization", ["uniform", "weighted"])
@pytest.mark.parametrize("form", ["dense", "sparse"])
def test_autodiff_gradients_match_finite_differences(form: str, regularization: str) -> None:
    X, W, b, Y, R = _problem(7, 5, 4, 3, 0.6)
    movie, user = np.nonzero(R)
    lambda_ = 0.9

    def cost(X, W, b):
        if form == "dense":
            return cofi_cost(X, W, b, Y, R, lambda_, regularization=regularization)
        return cofi_cost_sparse(
            X, W, b, movie, user, Y[movie, user], lambda_, regularization=regularization
        )

    _, gradients = _value_and_gradients(cost, X, W, b)
    step = 1e-6
    params = [X, W, b]
    for which, gradient in enumerate(gradients):
        numeric = np.zeros_like(params[which])
        for index in np.ndindex(params[which].shape):
            plus = [p.copy() for p in params]
            minus = [p.copy() for p in params]
            plus[which][index] += step
            minus[which][index] -= step
            numeric[index] = (float(cost(*plus)) - float(cost(*minus))) / (2 * step)
        np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-6)


def test_minibatch_weight_scales_only_the_error_term() -> None:
    X, W, b, Y, R = _problem(3, 4, 4, 2, 0.7)
    movie, user = np.nonzero(R)
    full = float(cofi_cost_sparse(X, W, b, movie, user, Y[movie, user], 0.0))
    doubled = float(cofi_cost_sparse(X, W, b, movie, user, Y[movie, user], 0.0, weight=2.0))
    assert doubled == pytest.approx(2 * full)
    regularization = float(
        cofi_cost_sparse(X, W, b, movie[:0], user[:0], Y[movie, user][:0], 1.0, weight=5.0)
    )
    assert regularization == pytest.approx(0.5 * (np.sum(X**2) + np.sum(W**2)))


# normalize_ratings ---------------------------------------------------------------------------


def test_normalize_ratings_hand_computed() -> None:
    Y = np.array([[5.0, 3.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 2.0]])
    R = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 1.0]])
    Ynorm, Ymean = normalize_ratings(Y, R)
    np.testing.assert_allclose(Ymean, [[4.0], [0.0], [1.5]])
    np.testing.assert_allclose(Ynorm, [[1.0, -1.0, 0.0], [0.0, 0.0, 0.0], [-0.5, 0.0, 0.5]])


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n_movies=st.integers(1, 8),
    n_users=st.integers(1, 8),
    density=st.floats(0, 1),
)
def test_normalized_ratings_have_zero_mean_over_rated_entries(
    seed, n_movies, n_users, density
) -> None:
    _, _, _, Y, R = _problem(seed, n_movies, n_users, 1, density)
    Ynorm, Ymean = normalize_ratings(Y, R)
    assert Ymean.shape == (n_movies, 1)
    rated = R.sum(axis=1) > 0
    np.testing.assert_allclose((Ynorm * R).sum(axis=1)[rated], 0.0, atol=1e-9)
    np.testing.assert_array_equal(Ymean[~rated], 0.0)
    np.testing.assert_allclose(Ynorm + Ymean * R, Y)
    # the sparse form agrees with the dense one
    movie, user = np.nonzero(R)
    triples = RatingTriples(
        movie.astype(np.int32),
        user.astype(np.int32),
        Y[movie, user].astype(np.float32),
        n_movies,
        n_users,
    )
    normalized, movie_mean = normalize_triples(triples)
    np.testing.assert_allclose(movie_mean, Ymean[:, 0], rtol=1e-5)
    np.testing.assert_allclose(normalized.rating, Ynorm[movie, user], atol=1e-5)


def test_normalize_ratings_checks_shapes() -> None:
    with pytest.raises(ValueError, match="Y and R must both be"):
        normalize_ratings(np.zeros((2, 3)), np.zeros((3, 2)))


@pytest.mark.parametrize("regularization", ["uniform", "weighted"])
def test_minibatch_costs_average_to_the_full_cost(regularization: str) -> None:
    X, W, b, Y, R = _problem(5, 6, 5, 2, 0.8)
    movie, user = np.nonzero(R)
    rating = Y[movie, user]
    n = len(rating) - len(rating) % 2
    movie, user, rating = movie[:n], user[:n], rating[:n]
    full = float(cofi_cost_sparse(X, W, b, movie, user, rating, 0.7, regularization=regularization))
    halves = [
        float(
            cofi_cost_sparse(
                X,
                W,
                b,
                movie[part],
                user[part],
                rating[part],
                0.7,
                2.0,
                regularization=regularization,
            )
        )
        for part in (slice(0, n // 2), slice(n // 2, n))
    ]
    assert np.mean(halves) == pytest.approx(full)
