r"""I-AutoRec (Sedhain et al. 2015): each movie's ratings encoded by a sigmoid layer, decoded per user.

Movie i's code is computed from the (centred) ratings it received and from who gave them,

.. math::

    h_i = \sigma\Big(x_i + \sum_{j \in U(i)} (r_{ij} v_j + p_j)\Big)

with encoder weights ``V: (n_users, n_features)``, presence weights ``P`` (the users who rated
the movie: AutoRec's raw-rating input, where a missing rating is 0, carries this too) and a
per-movie pre-activation ``x_i`` (a hidden bias per movie, regularized). The prediction is
``h_i . w_j + b_j + c_i``: the decoder's weights are the user vectors.

A held-out rating is never in its movie's code, so a training rating is predicted from the code
without it, ``h_i^{-j} = \sigma(x_i + \sum_{k \in U(i), k \ne j} (r_{ik} v_k + p_k))``: AutoRec's
cost as written lets ``r_ij`` reach its own prediction through ``v_j``, which only a large
lambda held back. Over the observed ratings:

.. math::

    J = \tfrac12 \sum_{\text{rated}} (h_i^{-j} \cdot w_j + b_j + c_i - r_{ij})^2
        + \tfrac{\lambda}{2} \big(\sum X^2 + \sum V^2 + \sum P^2 + \sum W^2\big)

On validation ratings (10% of ML-100K u1.base, benchmarks/rating_accuracy.py) the left-out code
took AutoRec from 0.9157 to 0.9067 at lambda 50 (0.9205 at 20, 0.9143 at 80). The biases
``b, c`` are not penalized, as in AutoRec. The code needs every rating of a movie, so
the objective trains full-batch only. A saved model keeps the codes ``h_i`` as its ``X`` (the
same form of prediction as biased MF), so fold-in fits a new user's ``w_j, b_j`` against them as
biased MF does, and a warm start is refused (the codes cannot be split back into ``x_i``, ``V``
and ``P``).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import tensorflow as tf

from cofi.data.matrices import RatingTriples
from cofi.models.cost import penalty_batch
from cofi.models.objectives.base import (
    MOVIE_BIAS,
    USER_BIAS,
    Batch,
    Objective,
    Params,
    Variable,
    W,
    X,
)
from cofi.models.objectives.biased import BiasedObjective

ENCODER = Variable("encoder", "user", "factors")
PRESENCE = Variable("presence", "user", "factors")


class AutoRecObjective(Objective):
    """I-AutoRec as a cost over observed ratings (see the module docstring)."""

    name = "autorec"
    variables = (X, W, ENCODER, PRESENCE, USER_BIAS, MOVIE_BIAS)
    minibatch = False
    warm_starts = False
    dense_form = False
    #: Chosen on validation ratings (10% of ML-100K u1.base; benchmarks/rating_accuracy.py).
    defaults: ClassVar[dict[str, float]] = {
        "n_features": 100,
        "lambda_": 50.0,
        "learning_rate": 0.02,
        "iterations": 300,
    }

    def prepare(self, triples: RatingTriples) -> None:
        self._movies = tf.constant(triples.movie_index)
        self._users = tf.constant(triples.user_index)
        self._ratings = triples.rating

    def codes(self, params: Params, batch: Batch) -> tf.Tensor:
        """(n_movies, n_features) hidden codes of the movies from the ratings of ``batch``."""
        pre_activation, _ = self._pre_activation(params, batch)
        return tf.sigmoid(pre_activation)

    @staticmethod
    def _pre_activation(params: Params, batch: Batch) -> tuple[tf.Tensor, tf.Tensor]:
        """Each movie's pre-activation ``x_i + sum (r_ij v_j + p_j)`` over the ratings of
        ``batch``, and each rating's own term ``r_ij v_j + p_j`` in it."""
        X_ = params["X"]
        own = tf.cast(batch.target, X_.dtype)[:, None] * tf.gather(
            params["encoder"], batch.user_index
        ) + tf.gather(params["presence"], batch.user_index)
        encoded = tf.math.unsorted_segment_sum(own, batch.movie_index, tf.shape(X_)[0])
        return X_ + encoded, own

    def cost(self, params: Params, batch: Batch) -> tf.Tensor:
        X_, W_, V_, P_ = params["X"], params["W"], params["encoder"], params["presence"]
        user_rows = tf.gather(W_, batch.user_index)
        # each rating's own term is taken out of its movie's pre-activation for its code
        pre_activation, own = self._pre_activation(params, batch)
        movie_codes = tf.sigmoid(tf.gather(pre_activation, batch.movie_index) - own)
        error = (
            tf.reduce_sum(movie_codes * user_rows, axis=1)
            + tf.gather(tf.reshape(params["b"], [-1]), batch.user_index)
            + tf.gather(params["movie_bias"], batch.movie_index)
            - tf.cast(batch.target, X_.dtype)
        )
        penalty = penalty_batch(
            self.config.regularization,
            [X_, V_, P_, W_],
            [
                tf.gather(X_, batch.movie_index),
                tf.gather(V_, batch.user_index),
                tf.gather(P_, batch.user_index),
                user_rows,
            ],
            batch.weight,
        )
        return batch.weight * 0.5 * tf.reduce_sum(error**2) + (self.config.lambda_ / 2) * penalty

    def dense_cost(self, params: Params, Y: tf.Tensor, R: tf.Tensor) -> tf.Tensor:
        # A left-out code differs for every rating, so the dense form gathers the rated cells.
        rated = tf.where(R > 0)
        dtype = params["X"].dtype
        batch = Batch(
            tf.cast(rated[:, 0], tf.int32),
            tf.cast(rated[:, 1], tf.int32),
            tf.cast(tf.gather_nd(Y, rated), dtype),
            tf.constant(1.0, dtype),
        )
        return self.cost(params, batch)

    def export(self, params: Params) -> dict[str, np.ndarray]:
        if not hasattr(self, "_movies"):
            raise RuntimeError("AutoRecObjective needs prepare(triples) before export")
        batch = Batch(
            self._movies,
            self._users,
            tf.constant(self._ratings, params["X"].dtype),
            tf.constant(1.0, params["X"].dtype),
        )
        return {
            "X": self.codes(params, batch).numpy(),
            "W": params["W"].numpy(),
            "b": params["b"].numpy(),
            "movie_bias": params["movie_bias"].numpy(),
        }

    def for_fold_in(self) -> Objective:
        return BiasedObjective(self.config)
