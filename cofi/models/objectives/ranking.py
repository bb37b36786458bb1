r"""A one-class objective for top-N lists that also weights unobserved entries.

.. math::

    J = \tfrac12 \sum_{\text{rated}} (x_i \cdot w_j - 1)^2
        + \tfrac{w_0}{2} \sum_{\text{unrated}} (x_i \cdot w_j)^2
        + \tfrac{\lambda}{2}\big(\sum X^2 + \sum W^2\big)

The sum over all unrated pairs is never enumerated: ``sum_all (x_i . w_j)^2`` equals
``sum((X^T X) * (W^T W))`` (two Gramians), so a step costs O((n_movies + n_users) n_features^2)
on top of the observed ratings. Scores are preferences (1 = would rate), not ratings.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from cofi.data.matrices import RatingTriples
from cofi.models.cost import penalty_batch, penalty_dense
from cofi.models.objectives.base import Batch, Objective, Params, W, X, ones_like_targets


class RankingObjective(Objective):
    name = "ranking"
    variables = (X, W)
    predicts_ratings = False
    defaults = {"lambda_": 10.0, "unobserved_weight": 0.2}

    def centre(self, triples: RatingTriples) -> tuple[RatingTriples, np.ndarray]:
        return ones_like_targets(triples), np.zeros(triples.n_movies, dtype=np.float32)

    def targets(self, triples: RatingTriples, offset: np.ndarray) -> RatingTriples:
        return ones_like_targets(triples)

    def cost(self, params: Params, batch: Batch) -> tf.Tensor:
        X_, W_ = params["X"], params["W"]
        w0 = self.config.unobserved_weight
        movie_rows = tf.gather(X_, batch.movie_index)
        user_rows = tf.gather(W_, batch.user_index)
        scores = tf.reduce_sum(movie_rows * user_rows, axis=1)
        gram = tf.reduce_sum(
            tf.linalg.matmul(X_, X_, transpose_a=True) * tf.linalg.matmul(W_, W_, transpose_a=True)
        )
        # Every pair counts w0 * score^2 once (the Gramian); rated pairs trade it for (score - 1)^2.
        observed = tf.reduce_sum((scores - 1.0) ** 2 - w0 * scores**2)
        penalty = penalty_batch(
            self.config.regularization, [X_, W_], [movie_rows, user_rows], batch.weight
        )
        return 0.5 * w0 * gram + batch.weight * 0.5 * observed + (self.config.lambda_ / 2) * penalty

    def dense_cost(self, params: Params, Y: tf.Tensor, R: tf.Tensor) -> tf.Tensor:
        X_, W_ = params["X"], params["W"]
        R = tf.cast(R, X_.dtype)
        w0 = self.config.unobserved_weight
        scores = tf.linalg.matmul(X_, W_, transpose_b=True)
        confidence = w0 + (1.0 - w0) * R
        penalty = penalty_dense(
            self.config.regularization,
            [(X_, tf.reduce_sum(R, axis=1)), (W_, tf.reduce_sum(R, axis=0))],
        )
        return (
            0.5 * tf.reduce_sum(confidence * (R - scores) ** 2)
            + (self.config.lambda_ / 2) * penalty
        )
