r"""The lab's collaborative-filtering cost, and the penalty every objective shares.

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
scales. Tests hold them equal in value and gradients. Every objective in
:mod:`cofi.models.objectives` takes its penalty from :func:`penalty_dense` and
:func:`penalty_batch`, so the uniform and weighted penalties are written here once.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

REGULARIZATIONS = ("uniform", "weighted")


def _check_regularization(regularization: str) -> None:
    if regularization not in REGULARIZATIONS:
        raise ValueError(f"regularization must be one of {REGULARIZATIONS}, got {regularization!r}")


def squares(*tensors) -> tf.Tensor:
    """The sum of the squares of every entry of ``tensors``."""
    return tf.add_n([tf.reduce_sum(tf.square(tensor)) for tensor in tensors])


def _row_squares(tensor: tf.Tensor) -> tf.Tensor:
    """Squared norm of each row of a matrix; the squares of a vector."""
    return tf.reduce_sum(tf.square(tensor), axis=1) if tensor.shape.rank == 2 else tf.square(tensor)


def penalty_dense(regularization: str, counted: Sequence[tuple[tf.Tensor, tf.Tensor]]) -> tf.Tensor:
    """The L2 penalty over whole variables, each paired with its rows' rating counts.

    Args:
        regularization: "uniform" sums every square; "weighted" weights each row's squares
            by its rating count.
        counted: ``(variable, counts)`` pairs; ``variable`` is (n_rows, width) or (n_rows,),
            ``counts`` (n_rows,) the ratings of each row (movie or user).
    """
    _check_regularization(regularization)
    if regularization == "uniform":
        return squares(*(variable for variable, _ in counted))
    return tf.add_n(
        [tf.reduce_sum(counts * _row_squares(variable)) for variable, counts in counted]
    )


def penalty_batch(
    regularization: str, variables: Sequence[tf.Tensor], rows: Sequence[tf.Tensor], weight
) -> tf.Tensor:
    """The same penalty estimated from one batch of ratings.

    Args:
        regularization: as in :func:`penalty_dense`.
        variables: the whole variables (for "uniform").
        rows: their rows gathered once per rating of the batch (for "weighted": a row is then
            counted once per rating, i.e. by its rating count).
        weight: n_ratings / batch size, so a mini-batch estimates the full penalty.
    """
    _check_regularization(regularization)
    if regularization == "uniform":
        return squares(*variables)
    return weight * squares(*rows)


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
    X = tf.convert_to_tensor(X)
    W, b, Y, R = (tf.convert_to_tensor(value, dtype=X.dtype) for value in (W, b, Y, R))
    error = (tf.linalg.matmul(X, W, transpose_b=True) + b - Y) * R
    penalty = penalty_dense(
        regularization, [(X, tf.reduce_sum(R, axis=1)), (W, tf.reduce_sum(R, axis=0))]
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
    weight: float | tf.Tensor = 1.0,
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
    X = tf.convert_to_tensor(X)
    W, b, rating = (tf.convert_to_tensor(value, dtype=X.dtype) for value in (W, b, rating))
    movie_rows = tf.gather(X, movie_index)
    user_rows = tf.gather(W, user_index)
    user_bias = tf.gather(tf.reshape(b, [-1]), user_index)
    error = tf.reduce_sum(movie_rows * user_rows, axis=1) + user_bias - rating
    penalty = penalty_batch(regularization, [X, W], [movie_rows, user_rows], weight)
    return weight * 0.5 * tf.reduce_sum(error**2) + (lambda_ / 2) * penalty
