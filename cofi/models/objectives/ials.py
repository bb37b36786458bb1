r"""iALS for top-N lists: one-class least squares with frequency-scaled regularization.

As in Rendle et al. (2021), "Revisiting the Performance of iALS on Item Recommendation
Benchmarks", with ``c_ij = 1 + alpha * r_ij`` the confidence of a rated pair (``alpha = 0``:
every rated pair counts 1), ``w_0`` the ``unobserved_weight``, ``n_i`` movie i's ratings, ``m_j``
user j's and ``a_j = (m_j / \bar m)^{-\beta}`` user j's weight (``beta`` the
``user_weight_power``, ``\bar m`` the mean ``m_j`` of the training users):

.. math::

    J = \tfrac12 \sum_j a_j \Big(\sum_{i \text{ rated by } j} c_{ij} (x_i \cdot w_j - 1)^2
        + w_0 \sum_{i \text{ unrated by } j} (x_i \cdot w_j)^2\Big)
        + \tfrac{\lambda}{2} \Big(\sum_i (n_i + w_0 N_u)^\nu \lVert x_i\rVert^2
                                  + \sum_j (m_j + w_0 N_m)^\nu \lVert w_j\rVert^2\Big)

with ``N_u, N_m`` the numbers of users and movies: a row's penalty grows with the weight of the
terms it takes part in. ``regularization="weighted"`` is ``nu = 1``, ``"uniform"`` ``nu = 0``
(the plain L2 penalty). The unrated sum is never enumerated: ``sum_j a_j sum_i (x_i . w_j)^2`` is
``sum((X^T X) * (W^T diag(a) W))`` (two Gramians); rated pairs trade their ``w_0`` share for
their own term. Initial values have std ``init_scale / sqrt(n_features)``, so the initial
scores' spread does not grow with ``n_features``. Scores are preferences (1 = would rate), not
ratings.

The user weights: every user's list counts the same in P@10, but a user with 1,000 ratings puts
1,000 times the terms of a user with one into the plain cost, so the movie vectors fit the
heaviest users' tastes. ``beta > 0`` evens that out (Mult-VAE's per-user likelihood does the same
by normalizing each user's softmax). A folded-in user is weighted against the trained users'
mean, as the user would have been in training.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import tensorflow as tf

from cofi.data.matrices import RatingTriples
from cofi.models.objectives.base import Batch, Objective, Params, W, X


def frequency_scaled_penalty(
    regularization: str,
    unobserved_weight: float,
    counted: list[tuple[tf.Tensor, tf.Tensor, tf.Tensor]],
) -> tf.Tensor:
    r"""``sum_rows (count + w_0 * n_other)^nu * ||row||^2`` over each ``(variable, counts,
    n_other)``: ``counts`` (n_rows,) each row's ratings, ``n_other`` the size of the other side.

    ``nu`` is 1 for ``regularization="weighted"``, 0 for ``"uniform"``.
    """
    if regularization not in ("uniform", "weighted"):
        raise ValueError(f"regularization must be uniform or weighted, got {regularization!r}")
    total = []
    for variable, counts, n_other in counted:
        squares = (
            tf.reduce_sum(tf.square(variable), axis=1)
            if variable.shape.rank == 2
            else (tf.square(variable))
        )
        if regularization == "uniform":
            total.append(tf.reduce_sum(squares))
        else:
            n_other = tf.cast(n_other, variable.dtype)
            scale = tf.cast(counts, variable.dtype) + unobserved_weight * n_other
            total.append(tf.reduce_sum(scale * squares))
    return tf.add_n(total)


def user_weights(triples: RatingTriples, mean_count: float, power: float, dtype: str) -> tf.Tensor:
    """(n_users,) each user's weight ``(m_j / mean_count)^-power``, ``m_j`` the user's ratings
    in ``triples`` (at least one): light users count more, heavy ones less."""
    counts = np.maximum(np.bincount(triples.user_index, minlength=triples.n_users), 1)
    return tf.constant((counts / max(mean_count, 1.0)) ** -power, dtype=dtype)


def batch_counts(
    batch: Batch, n_movies: tf.Tensor, n_users: tf.Tensor, dtype
) -> tuple[tf.Tensor, tf.Tensor]:
    """Each movie's and user's ratings, from a batch: exact for a full batch (and fold-in's),
    an unbiased estimate (``weight`` times the batch's count) for a mini-batch."""
    ones = tf.ones_like(batch.movie_index, dtype=dtype)
    weight = tf.cast(batch.weight, dtype)
    movie_counts = tf.math.unsorted_segment_sum(ones, batch.movie_index, n_movies) * weight
    user_counts = tf.math.unsorted_segment_sum(ones, batch.user_index, n_users) * weight
    return movie_counts, user_counts


def scaled_initial_values(objective: Objective, n_movies: int, n_users: int) -> dict:
    """The base class's seeded draws, with factor variables scaled by ``1 / sqrt(n_features)``."""
    values = Objective.initial_values(objective, n_movies, n_users)
    shrink = 1.0 / math.sqrt(objective.config.n_features)
    for variable in objective.variables:
        if variable.kind == "factors":
            values[variable.name] = (values[variable.name] * shrink).astype(objective.config.dtype)
    return values


class IALSObjective(Objective):
    name = "ials"
    variables = (X, W)
    predicts_ratings = False
    #: ``alpha`` of the confidence ``1 + alpha * rating`` of a rated pair.
    rating_confidence: ClassVar[float] = 0.0
    # Chosen on validation ratings carved from the training part of ML-100K and ml-latest-small
    # (benchmarks/choose_ranking.py): the frequency-scaled penalty ("weighted") tied the uniform
    # one on ML-100K and lost on ml-latest-small; a rating confidence (alpha 0.1, 0.5) lost; user
    # weights (power 0.3) won on both datasets and on two validation seeds. sequence_weight is
    # not part of the cost: it joins the sequence-neighbour term to the lists (cofi.models.sequence;
    # validation P@10 0.2038 / 0.2310 against 0.1993 / 0.2310, seed 1 0.1998 / 0.2414 against
    # 0.1951 / 0.2376, ml-latest-small / ML-100K).
    defaults: ClassVar[dict[str, float]] = {
        "lambda_": 8.5,
        "unobserved_weight": 0.2,
        "user_weight_power": 0.3,
        "sequence_weight": 0.2,
        "n_features": 128,
        "iterations": 200,
    }
    # At ML-25M's size each 250k mini-batch step at 128 features costs ~0.9 s (two 128 x 128
    # Gramians over every movie and user, and the gathers), ~20 minutes a fit. Measured on 5M
    # synthetic ratings (2 cores): 32 features in batches of 1M for 8 epochs fit in 18 s against
    # 110 s for the defaults, at a validation P@10 of 0.255 against 0.205.
    # The sequence term is off at this size: measured on 25M synthetic ratings (whose order
    # carries no signal, so only its cost), its graph took 41 s and 1.6 GB to build and the
    # lists of 20,000 users 29.1 s instead of 1.9 s; it was never measured on real data this
    # large.
    large_data_defaults: ClassVar[dict[str, float | str]] = {
        "n_features": 32,
        "batch_size": 1_000_000,
        "epochs": 8,
        "sequence_weight": 0.0,
    }

    def initial_values(self, n_movies: int, n_users: int) -> dict[str, np.ndarray]:
        return scaled_initial_values(self, n_movies, n_users)

    def prepare(self, triples: RatingTriples) -> None:
        self.prepare_fold_in(triples, len(triples), triples.n_users)

    def prepare_fold_in(self, triples: RatingTriples, n_ratings: int, n_users: int) -> None:
        # Training weighs its users against their own mean; fold-in weighs the new users against
        # the trained model's (its seen ratings: with validation_fraction > 0 these include the
        # ratings set aside, so that mean is 1 / (1 - fraction) times the one training used).
        self._user_weights = user_weights(
            triples, n_ratings / n_users, self.config.user_weight_power, self.config.dtype
        )

    def _weights(self) -> tf.Tensor:
        if not hasattr(self, "_user_weights"):
            raise RuntimeError(f"{type(self).__name__} needs prepare(triples) before its cost")
        return self._user_weights

    def centre(self, triples: RatingTriples) -> tuple[RatingTriples, np.ndarray]:
        return self.targets(triples, np.zeros(triples.n_movies, np.float32)), np.zeros(
            triples.n_movies, dtype=np.float32
        )

    def targets(self, triples: RatingTriples, offset: np.ndarray) -> RatingTriples:
        # The target is the rating itself: it sets the confidence; every rated pair aims at 1.
        return RatingTriples(
            triples.movie_index,
            triples.user_index,
            triples.rating.astype(np.float32),
            triples.n_movies,
            triples.n_users,
        )

    def _confidence(self, rating: tf.Tensor) -> tf.Tensor:
        return 1.0 + self.rating_confidence * rating

    def cost(self, params: Params, batch: Batch) -> tf.Tensor:
        X_, W_ = params["X"], params["W"]
        w0 = self.config.unobserved_weight
        movie_rows = tf.gather(X_, batch.movie_index)
        user_rows = tf.gather(W_, batch.user_index)
        scores = tf.reduce_sum(movie_rows * user_rows, axis=1)
        confidence = self._confidence(tf.cast(batch.target, X_.dtype))
        weights = tf.cast(self._weights(), X_.dtype)
        gram = tf.reduce_sum(
            tf.linalg.matmul(X_, X_, transpose_a=True)
            * tf.linalg.matmul(W_ * weights[:, None], W_, transpose_a=True)
        )
        # Every pair counts w0 * score^2 once (the Gramian); rated pairs trade it for their own.
        observed = tf.reduce_sum(
            tf.gather(weights, batch.user_index)
            * (confidence * (scores - 1.0) ** 2 - w0 * scores**2)
        )
        n_movies, n_users = tf.shape(X_)[0], tf.shape(W_)[0]
        movie_counts, user_counts = batch_counts(batch, n_movies, n_users, X_.dtype)
        penalty = frequency_scaled_penalty(
            self.config.regularization,
            w0,
            [(X_, movie_counts, n_users), (W_, user_counts, n_movies)],
        )
        return 0.5 * w0 * gram + batch.weight * 0.5 * observed + (self.config.lambda_ / 2) * penalty

    def dense_cost(self, params: Params, Y: tf.Tensor, R: tf.Tensor) -> tf.Tensor:
        X_, W_ = params["X"], params["W"]
        R, Y = tf.cast(R, X_.dtype), tf.cast(Y, X_.dtype)
        w0 = self.config.unobserved_weight
        scores = tf.linalg.matmul(X_, W_, transpose_b=True)
        weights = tf.cast(self._weights(), X_.dtype)[None, :]
        confidence = weights * (w0 * (1.0 - R) + self._confidence(Y) * R)
        penalty = frequency_scaled_penalty(
            self.config.regularization,
            w0,
            [
                (X_, tf.reduce_sum(R, axis=1), tf.shape(W_)[0]),
                (W_, tf.reduce_sum(R, axis=0), tf.shape(X_)[0]),
            ],
        )
        return (
            0.5 * tf.reduce_sum(confidence * (R - scores) ** 2)
            + (self.config.lambda_ / 2) * penalty
        )
