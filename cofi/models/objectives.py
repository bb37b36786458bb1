r"""Model variants: each one is only a cost function over the same training core.

Every variant predicts ``x_i . w_j + b_j + c_i + offset_i`` for movie i and user j (``c`` the
movie biases, ``offset`` what the targets were centred by) and differs in its cost:

- ``lab``: the lab's cost (:func:`cofi.models.cost.cofi_cost`) on ratings minus each movie's mean; no
  movie bias.
- ``biased``: biased matrix factorization: ratings minus the global mean, learned user and movie
  biases ``b`` and ``c``, penalized with the factors.
- ``svdpp``: ``biased`` plus an implicit-feedback term (SVD++): user j's vector is
  ``w_j + |N(j)|^{-1/2} sum_{i in N(j)} y_i`` over the movies N(j) the user rated, so *which*
  movies someone rated informs their taste. Full-batch only (the implicit sum needs every rating
  of a user).
- ``ranking``: a one-class objective for top-N lists that also weights unobserved entries:

  .. math::

      J = \tfrac12 \sum_{\text{rated}} (x_i \cdot w_j - 1)^2
          + \tfrac{w_0}{2} \sum_{\text{unrated}} (x_i \cdot w_j)^2 + \tfrac{\lambda}{2}(\ldots)

  The sum over all unrated pairs is never enumerated: ``sum_all (x_i . w_j)^2`` equals
  ``sum((X^T X) * (W^T W))``, so the sparse form costs O((n_movies + n_users) n_features^2) on top
  of the observed ratings.

The dense forms take ``Y, R: (n_movies, n_users)``; the sparse forms take observed triples and a
``weight`` (n / batch size) so a mini-batch estimates the full cost. Tests hold each variant's
dense and sparse forms equal in value and gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from cofi.models.cost import cofi_cost, cofi_cost_sparse

OBJECTIVES = ("lab", "biased", "svdpp", "ranking")


@dataclass(frozen=True)
class Variant:
    """One entry of the registry.

    Attributes:
        name: the ``objective`` that selects it.
        centring: what the targets are centred by: "movie_mean", "global_mean" or "none"
            (ranking targets are 1 for every rating).
        variables: the tf.Variables it trains, beyond none: names among X, W, b, movie_bias,
            implicit.
        minibatch: whether its cost can be estimated from a mini-batch.
    """

    name: str
    centring: str
    variables: tuple[str, ...]
    minibatch: bool


VARIANTS: dict[str, Variant] = {
    "lab": Variant("lab", "movie_mean", ("X", "W", "b"), True),
    "biased": Variant("biased", "global_mean", ("X", "W", "b", "movie_bias"), True),
    "svdpp": Variant("svdpp", "global_mean", ("X", "W", "b", "movie_bias", "implicit"), False),
    "ranking": Variant("ranking", "none", ("X", "W"), True),
}


def _squares(*tensors) -> tf.Tensor:
    return tf.add_n([tf.reduce_sum(tensor**2) for tensor in tensors])


def user_vectors_dense(p: dict, R) -> tf.Tensor:
    """W, plus the normalized implicit-feedback sum for ``svdpp``: (n_users, n_features)."""
    if "implicit" not in p:
        return p["W"]
    counts = tf.reduce_sum(R, axis=0)
    norm = tf.math.rsqrt(tf.maximum(counts, 1.0))
    return p["W"] + norm[:, None] * tf.linalg.matmul(R, p["implicit"], transpose_a=True)


def user_vectors_sparse(p: dict, movie_index, user_index, n_users: int) -> tf.Tensor:
    """The sparse form of :func:`user_vectors_dense`, summing over the given (all) ratings."""
    if "implicit" not in p:
        return p["W"]
    gathered = tf.gather(p["implicit"], movie_index)
    sums = tf.math.unsorted_segment_sum(gathered, user_index, n_users)
    ones = tf.ones_like(movie_index, dtype=gathered.dtype)
    counts = tf.math.unsorted_segment_sum(ones, user_index, n_users)
    return p["W"] + tf.math.rsqrt(tf.maximum(counts, 1.0))[:, None] * sums


def dense_cost(
    name: str, p: dict, Y, R, lambda_: float, regularization: str, unobserved_weight: float
):
    """The cost of variant ``name`` over dense ``Y, R: (n_movies, n_users)``."""
    X, W = p["X"], p["W"]
    dtype = X.dtype
    Y, R = tf.cast(Y, dtype), tf.cast(R, dtype)
    if name == "lab":
        return cofi_cost(X, W, p["b"], Y, R, lambda_, regularization=regularization)
    if name == "ranking":
        scores = tf.linalg.matmul(X, W, transpose_b=True)
        confidence = unobserved_weight + (1.0 - unobserved_weight) * R
        return 0.5 * tf.reduce_sum(confidence * (R - scores) ** 2) + (lambda_ / 2) * _squares(X, W)
    users = user_vectors_dense(p, R)
    error = (
        tf.linalg.matmul(X, users, transpose_b=True) + p["b"] + p["movie_bias"][:, None] - Y
    ) * R
    if regularization == "uniform":
        penalty = _squares(X, W, p["b"], p["movie_bias"])
    else:
        movie_counts, user_counts = tf.reduce_sum(R, axis=1), tf.reduce_sum(R, axis=0)
        penalty = tf.reduce_sum(movie_counts * (tf.reduce_sum(X**2, axis=1) + p["movie_bias"] ** 2))
        penalty += tf.reduce_sum(user_counts * (tf.reduce_sum(W**2, axis=1) + p["b"][0] ** 2))
    if "implicit" in p:
        penalty += _squares(p["implicit"])
    return 0.5 * tf.reduce_sum(error**2) + (lambda_ / 2) * penalty


def sparse_cost(
    name: str,
    p: dict,
    movie_index,
    user_index,
    rating,
    lambda_: float,
    weight,
    regularization: str,
    unobserved_weight: float,
    users=None,
):
    """The cost of variant ``name`` over observed (movie, user, rating) triples.

    Args:
        users: for ``svdpp``, the (n_users, n_features) user vectors from
            :func:`user_vectors_sparse` over all ratings; ignored otherwise.
    """
    X, W = p["X"], p["W"]
    dtype = X.dtype
    if name == "lab":
        return cofi_cost_sparse(
            X,
            W,
            p["b"],
            movie_index,
            user_index,
            rating,
            lambda_,
            weight,
            regularization=regularization,
        )
    movie_rows = tf.gather(X, movie_index)
    if name == "ranking":
        scores = tf.reduce_sum(movie_rows * tf.gather(W, user_index), axis=1)
        gram = tf.reduce_sum(
            tf.linalg.matmul(X, X, transpose_a=True) * tf.linalg.matmul(W, W, transpose_a=True)
        )
        observed = tf.reduce_sum((scores - 1.0) ** 2 - unobserved_weight * scores**2)
        return (
            0.5 * unobserved_weight * gram
            + weight * 0.5 * observed
            + (lambda_ / 2) * _squares(X, W)
        )
    user_rows = tf.gather(W if users is None else users, user_index)
    user_bias = tf.gather(tf.reshape(p["b"], [-1]), user_index)
    movie_bias = tf.gather(p["movie_bias"], movie_index)
    error = (
        tf.reduce_sum(movie_rows * user_rows, axis=1)
        + user_bias
        + movie_bias
        - tf.cast(rating, dtype)
    )
    if regularization == "uniform":
        penalty = _squares(X, W, p["b"], p["movie_bias"])
    else:
        # the penalty is on W itself; for svdpp user_rows also hold the implicit term
        own = user_rows if users is None else tf.gather(W, user_index)
        penalty = weight * _squares(movie_rows, own, user_bias, movie_bias)
    if "implicit" in p:
        penalty += _squares(p["implicit"])
    return weight * 0.5 * tf.reduce_sum(error**2) + (lambda_ / 2) * penalty
