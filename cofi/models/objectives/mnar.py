r"""Ratings missing not at random: biased MF that also pulls every unrated pair toward a low rating.

After Steck (2010), "Training and Testing of Recommender Systems on Data Missing Not at Random":
a user does not rate most movies because they would not like them, so an unrated pair is
imputed a low rating ``r_0`` with a small weight ``w_0`` (the ``unobserved_weight``). One model
then both predicts ratings on the scale (rated pairs dominate their own cells) and ranks (a
movie the user would not have watched scores near ``r_0``). With ``p_ij = x_i . w_j + b_j + c_i``
and targets centred at ``r_0`` (``t_ij = y_ij - r_0``, so the imputed target is 0):

.. math::

    J = \tfrac12 \sum_{\text{rated}} (p_{ij} - t_{ij})^2
        + \tfrac{w_0}{2} \sum_{\text{unrated}} p_{ij}^2
        + \tfrac{\lambda}{2} \big(\sum X^2 + \sum W^2 + \sum b^2 + \sum c^2\big)

``r_0`` is the training ratings' mean minus :attr:`MNARObjective.imputation_gap`; it is kept as
every movie's offset, so predictions are ``p_ij + r_0``. The unrated sum is never enumerated:
with ``a_i = (x_i, 1, c_i)`` and ``u_j = (w_j, b_j, 1)``, ``p_ij = a_i . u_j`` and
``sum_all p_ij^2 = sum((A^T A) * (U^T U))``, two ``(n_features + 2)^2`` Gramians.
``regularization="weighted"`` weights each row's penalty by its rating count, as for biased MF.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import tensorflow as tf

from cofi.data.matrices import RatingTriples
from cofi.models.cost import penalty_batch, penalty_dense
from cofi.models.objectives.base import (
    MOVIE_BIAS,
    USER_BIAS,
    Batch,
    Objective,
    Params,
    W,
    X,
)
from cofi.models.objectives.ials import scaled_initial_values


class MNARObjective(Objective):
    name = "mnar"
    variables = (X, W, USER_BIAS, MOVIE_BIAS)
    #: ``r_0 = mean rating - imputation_gap``: the rating an unrated pair is pulled toward.
    imputation_gap: ClassVar[float] = 1.5
    # Chosen on validation ratings carved from the training part (benchmarks/choose_ranking.py):
    # of the weights whose lists beat popularity's, the one that costs the least RMSE.
    defaults: ClassVar[dict[str, float]] = {
        "lambda_": 10.0,
        "unobserved_weight": 0.01,
        "n_features": 64,
    }

    def initial_values(self, n_movies: int, n_users: int) -> dict[str, np.ndarray]:
        return scaled_initial_values(self, n_movies, n_users)

    def centre(self, triples: RatingTriples) -> tuple[RatingTriples, np.ndarray]:
        mean = float(np.mean(triples.rating, dtype=np.float64))
        offset = np.full(triples.n_movies, mean - self.imputation_gap, dtype=np.float32)
        return self.targets(triples, offset), offset

    def _all_pairs(self, params: Params, movie_bias: tf.Tensor, user_bias: tf.Tensor) -> tf.Tensor:
        """``sum_ij p_ij^2`` over every (movie, user) pair, from two Gramians."""
        X_, W_ = params["X"], params["W"]
        movie_ones = tf.ones_like(movie_bias)[:, None]
        user_ones = tf.ones_like(user_bias)[:, None]
        movie_side = tf.concat([X_, movie_ones, movie_bias[:, None]], axis=1)
        user_side = tf.concat([W_, user_bias[:, None], user_ones], axis=1)
        return tf.reduce_sum(
            tf.linalg.matmul(movie_side, movie_side, transpose_a=True)
            * tf.linalg.matmul(user_side, user_side, transpose_a=True)
        )

    def cost(self, params: Params, batch: Batch) -> tf.Tensor:
        X_, W_ = params["X"], params["W"]
        w0 = self.config.unobserved_weight
        user_bias_all = tf.reshape(params["b"], [-1])
        movie_bias_all = params["movie_bias"]
        movie_rows = tf.gather(X_, batch.movie_index)
        user_rows = tf.gather(W_, batch.user_index)
        user_bias = tf.gather(user_bias_all, batch.user_index)
        movie_bias = tf.gather(movie_bias_all, batch.movie_index)
        target = tf.cast(batch.target, X_.dtype)
        prediction = tf.reduce_sum(movie_rows * user_rows, axis=1) + user_bias + movie_bias
        # Every pair counts w0 * p^2 once (the Gramians); rated pairs trade it for (p - t)^2.
        observed = tf.reduce_sum((prediction - target) ** 2 - w0 * prediction**2)
        penalty = penalty_batch(
            self.config.regularization,
            [X_, W_, params["b"], movie_bias_all],
            [movie_rows, user_rows, user_bias, movie_bias],
            batch.weight,
        )
        return (
            0.5 * w0 * self._all_pairs(params, movie_bias_all, user_bias_all)
            + batch.weight * 0.5 * observed
            + (self.config.lambda_ / 2) * penalty
        )

    def dense_cost(self, params: Params, Y: tf.Tensor, R: tf.Tensor) -> tf.Tensor:
        X_ = params["X"]
        Y, R = tf.cast(Y, X_.dtype), tf.cast(R, X_.dtype)
        w0 = self.config.unobserved_weight
        prediction = (
            tf.linalg.matmul(X_, params["W"], transpose_b=True)
            + params["b"]
            + params["movie_bias"][:, None]
        )
        confidence = w0 * (1.0 - R) + R
        movie_counts, user_counts = tf.reduce_sum(R, axis=1), tf.reduce_sum(R, axis=0)
        penalty = penalty_dense(
            self.config.regularization,
            [
                (X_, movie_counts),
                (params["W"], user_counts),
                (tf.reshape(params["b"], [-1]), user_counts),
                (params["movie_bias"], movie_counts),
            ],
        )
        return (
            0.5 * tf.reduce_sum(confidence * (prediction - Y * R) ** 2)
            + (self.config.lambda_ / 2) * penalty
        )
