r"""The collaborative-filtering cost: the only model code cofi writes by hand.

With movie features ``X: (n_movies, n_features)``, user parameters ``W: (n_users, n_features)``
and user biases ``b: (1, n_users)``, over the rated entries (``R[i, j] = 1``):

.. math::

    J = \tfrac12 \sum_{(i,j):R_{ij}=1} (w_j \cdot x_i + b_j - y_{ij})^2
        + \tfrac{\lambda}{2} \Big(\sum X^2 + \sum W^2\Big)

TensorFlow's autodiff takes the derivatives; nothing here computes a gradient.

``regularization="weighted"`` replaces the penalty by one weighted by rating counts,
``lambda/2 (sum_i n_i ||x_i||^2 + sum_j m_j ||w_j||^2)`` with ``n_i`` the ratings of movie i and
``m_j`` those of user j (the "weighted-lambda" of ALS-WR, and what per-rating SGD such as
Surprise's effectively minimizes). Its lambda is per rating, so one value suits 100 thousand and
25 million ratings alike, and a mini-batch estimates it from the rows it touches.
Two faces of the same cost: :func:`cofi_cost` is the lab's dense, masked form (the reference),
:func:`cofi_cost_sparse` sums over the observed (movie, user, rating) triples only, which is what
scales. Tests hold them equal in value and gradients.
"""

from __future__ import annotations

import tensorflow as tf


def _as_tensor(value, dtype: tf.DType) -> tf.Tensor:
    return tf.convert_to_tensor(value, dtype=dtype)


REGULARIZATIONS = ("uniform", "weighted")


def _check_regularization(regularization: str) -> None:
    if regularization not in REGULARIZATIONS:
        raise ValueError(f"regularization must be one of {REGULARIZATIONS}, got {regularization!r}")


def cofi_cost(X, W, b, Y, R, lambda_: float, *, regularization: str = "uniform") -> tf.Tensor:
    """The lab's vectorized cost over dense matrices.

    Args:
        X: (n_movies, n_features) movie features (array or tensor; its dtype is used throughout).
        W: (n_users, n_features) user parameters.
        b: (1, n_users) user biases.
        Y: (n_movies, n_users) ratings (normalized or not); ignored where ``R == 0``.
        R: (n_movies, n_users) 1 where a rating exists, else 0.
        lambda_: regularization strength.
        regularization: "uniform" (the lab's) or "weighted" by rating counts.

    Returns:
        The scalar cost ``J``.
    """
    _check_regularization(regularization)
    X = tf.convert_to_tensor(X)
    dtype = X.dtype
    W, b, Y, R = (_as_tensor(value, dtype) for value in (W, b, Y, R))
    error = (tf.linalg.matmul(X, W, transpose_b=True) + b - Y) * R
    if regularization == "uniform":
        penalty = tf.reduce_sum(X**2) + tf.reduce_sum(W**2)
    else:
        movie_counts = tf.reduce_sum(R, axis=1)
        user_counts = tf.reduce_sum(R, axis=0)
        penalty = tf.reduce_sum(movie_counts * tf.reduce_sum(X**2, axis=1)) + tf.reduce_sum(
            user_counts * tf.reduce_sum(W**2, axis=1)
        )
    return 0.5 * tf.reduce_sum(error**2) + (lambda_ / 2) * penalty


def cofi_cost_sparse(
    X,
    W,
    b,
    movie_index,
    user_index,
    rating,
    lambda_: float,
    weight: float = 1.0,
    *,
    regularization: str = "uniform",
) -> tf.Tensor:
    """The same cost over observed ratings only: ``O(n_ratings * n_features)`` work and memory.

    Args:
        X: (n_movies, n_features) movie features.
        W: (n_users, n_features) user parameters.
        b: (1, n_users) user biases.
        movie_index: (n_ratings,) int row of each observed rating.
        user_index: (n_ratings,) int column of each observed rating.
        rating: (n_ratings,) rating values.
        lambda_: regularization strength.
        weight: multiplies the error term (and the weighted penalty); a mini-batch of ``m``
            out of ``n`` ratings passes ``n / m`` so its cost estimates the full one. 1 for the
            full sum.
        regularization: "uniform" (the lab's) or "weighted" by rating counts.

    Returns:
        The scalar cost ``J``.
    """
    _check_regularization(regularization)
    X = tf.convert_to_tensor(X)
    dtype = X.dtype
    W, b, rating = (_as_tensor(value, dtype) for value in (W, b, rating))
    movie_features = tf.gather(X, movie_index)
    user_parameters = tf.gather(W, user_index)
    user_bias = tf.gather(tf.reshape(b, [-1]), user_index)
    error = tf.reduce_sum(movie_features * user_parameters, axis=1) + user_bias - rating
    if regularization == "uniform":
        penalty = tf.reduce_sum(X**2) + tf.reduce_sum(W**2)
    else:
        # Summing ||x_i||^2 + ||w_j||^2 over the ratings counts each row once per rating.
        penalty = weight * (tf.reduce_sum(movie_features**2) + tf.reduce_sum(user_parameters**2))
    return weight * 0.5 * tf.reduce_sum(error**2) + (lambda_ / 2) * penalty
