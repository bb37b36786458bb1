r"""Biased matrix factorization: the default rating objective.

.. math::

    J = \tfrac12 \sum_{\text{rated}} (x_i \cdot u_j + b_j + c_i - (y_{ij} - \mu))^2
        + \tfrac{\lambda}{2} \big(\sum X^2 + \sum W^2 + \sum b^2 + \sum c^2\big)

with ``u_j = w_j`` (SVD++ adds its implicit term to it), ``mu`` the global mean, ``b`` user and
``c`` movie biases. ``regularization="weighted"`` weights each row's penalty by its rating count.
"""

from __future__ import annotations

from typing import ClassVar

import tensorflow as tf

from cofi.models.config import MINIBATCH_MIN_RATINGS
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


class BiasedObjective(Objective):
    """Biased MF. Subclasses change the user vectors (:meth:`user_factors`,
    :meth:`user_factors_dense`) and add terms (:meth:`extra_penalty`); the cost stays this one."""

    name = "biased"
    variables = (X, W, USER_BIAS, MOVIE_BIAS)
    # Chosen on validation ratings carved from the training part of 5M synthetic ratings (random
    # 90/10, then 90/10 again; 2 cores): the per-rating penalty at 0.03 (0.02 and 0.05 lost),
    # batches of 62,500 (250k took 4 epochs for 0.580, 62.5k 3 epochs for 0.570), 3 epochs
    # (2: 0.590). The uniform default (lambda 15) levels off at 0.606 from 4 epochs on. On the
    # test part (benchmarks/scale.py --direct): 15-16 s and RMSE 0.565 against Surprise SVD's
    # 32 s and 0.586, where the defaults took 22-25 s for 0.607. Once the trainer densified
    # gradients itself (a step 26 ms instead of 38), fewer, larger steps paid: on the same
    # validation ratings 125,000 x 5 epochs gave 0.5651 in 8.1 s (0.77 s an epoch), 62,500 x 3
    # 0.5713 in 6.6-8.2 s, 62,500 x 4 0.5660 in 7.5 s, 125,000 x 4 0.5681, 250,000 x 4 0.5831.
    # (the base annotates values as float; make_config takes any TrainConfig field's value)
    large_data_defaults: ClassVar[dict[str, float | str]] = {
        "regularization": "weighted",
        "lambda_": 0.03,
        "batch_size": 125_000,
        "epochs": 5,
    }
    # They are mini-batch settings, so they start where "auto" trains on mini-batches. On
    # validation ratings carved the same way from 1M and 2M synthetic ratings they beat the
    # defaults too: RMSE 0.603 against 0.651 (1M) and 0.603 against 0.632 (2M).
    large_data_from: ClassVar[int | None] = MINIBATCH_MIN_RATINGS

    def cost(self, params: Params, batch: Batch) -> tf.Tensor:
        X_, W_ = params["X"], params["W"]
        users = self.user_factors(params)
        movie_rows = tf.gather(X_, batch.movie_index)
        user_rows = tf.gather(users, batch.user_index)
        user_bias = tf.gather(tf.reshape(params["b"], [-1]), batch.user_index)
        movie_bias = tf.gather(params["movie_bias"], batch.movie_index)
        target = tf.cast(batch.target, X_.dtype)
        error = tf.reduce_sum(movie_rows * user_rows, axis=1) + user_bias + movie_bias - target
        # The penalty is on W itself, whatever user_factors adds to it; when that is W, its
        # rows are gathered once (a second gather would add a second scatter to the gradient).
        own_rows = user_rows if users is W_ else tf.gather(W_, batch.user_index)
        penalty = penalty_batch(
            self.config.regularization,
            [X_, W_, params["b"], params["movie_bias"]],
            [movie_rows, own_rows, user_bias, movie_bias],
            batch.weight,
        )
        penalty += self.extra_penalty(params)
        return batch.weight * 0.5 * tf.reduce_sum(error**2) + (self.config.lambda_ / 2) * penalty

    def dense_cost(self, params: Params, Y: tf.Tensor, R: tf.Tensor) -> tf.Tensor:
        X_ = params["X"]
        Y, R = tf.cast(Y, X_.dtype), tf.cast(R, X_.dtype)
        users = self.user_factors_dense(params, R)
        prediction = (
            tf.linalg.matmul(X_, users, transpose_b=True)
            + params["b"]
            + params["movie_bias"][:, None]
        )
        error = (prediction - Y) * R
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
        penalty += self.extra_penalty(params)
        return 0.5 * tf.reduce_sum(error**2) + (self.config.lambda_ / 2) * penalty

    def user_factors_dense(self, params: Params, R: tf.Tensor) -> tf.Tensor:
        """:meth:`user_factors` computed from dense ``R``."""
        return params["W"]

    def extra_penalty(self, params: Params) -> tf.Tensor:
        """Penalty on variables beyond X, W and the biases (none here)."""
        return tf.zeros((), params["X"].dtype)
