"""The lab's objective: :func:`cofi.models.cost.cofi_cost` on mean-normalized ratings."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from cofi.data.matrices import RatingTriples
from cofi.models.cost import cofi_cost, cofi_cost_sparse
from cofi.models.objectives.base import (
    USER_BIAS,
    Batch,
    Objective,
    Params,
    W,
    X,
    centre_by_movie_mean,
)


class LabObjective(Objective):
    """``J = 1/2 sum_rated (w_j . x_i + b_j - y_ij)^2 + lambda/2 (sum W^2 + sum X^2)`` on ratings
    minus each movie's mean; no movie bias, and ``b`` is not penalized."""

    name = "lab"
    variables = (X, W, USER_BIAS)

    def centre(self, triples: RatingTriples) -> tuple[RatingTriples, np.ndarray]:
        return centre_by_movie_mean(triples)

    def cost(self, params: Params, batch: Batch) -> tf.Tensor:
        return cofi_cost_sparse(
            params["X"],
            params["W"],
            params["b"],
            batch.movie_index,
            batch.user_index,
            batch.target,
            self.config.lambda_,
            batch.weight,
            regularization=self.config.regularization,
        )

    def dense_cost(self, params: Params, Y: tf.Tensor, R: tf.Tensor) -> tf.Tensor:
        return cofi_cost(
            params["X"],
            params["W"],
            params["b"],
            Y,
            R,
            self.config.lambda_,
            regularization=self.config.regularization,
        )
