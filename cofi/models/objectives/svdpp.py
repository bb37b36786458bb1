r"""SVD++: biased MF whose user vectors also say *which* movies the user rated.

User j's vector is ``u_j = w_j + |N(j)|^{-1/2} sum_{i in N(j)} y_i`` over the movies N(j) the user
rated, with implicit factors ``Y_imp: (n_movies, n_features)`` penalized uniformly. The implicit
sum needs every rating of a user, so it trains full-batch only, and a saved model keeps ``u_j`` as
its ``W``: a warm start cannot split it apart again, and fold-in fits a new user's ``u_j`` as
biased MF does.
"""

from __future__ import annotations

from typing import ClassVar

import tensorflow as tf

from cofi.data.matrices import RatingTriples
from cofi.models.cost import squares
from cofi.models.objectives.base import Objective, Params, Variable
from cofi.models.objectives.biased import BiasedObjective

IMPLICIT = Variable("implicit", "movie", "factors", init=0.1)


class SVDppObjective(BiasedObjective):
    name = "svdpp"
    variables = (*BiasedObjective.variables, IMPLICIT)
    minibatch = False
    warm_starts = False
    # biased's large-data settings were chosen for its mini-batches; svdpp trains full batch.
    large_data_defaults: ClassVar[dict[str, float | str]] = {}

    def prepare(self, triples: RatingTriples) -> None:
        self._movies = tf.constant(triples.movie_index)
        self._users = tf.constant(triples.user_index)
        self._n_users = triples.n_users

    def user_factors(self, params: Params) -> tf.Tensor:
        if not hasattr(self, "_movies"):
            raise RuntimeError("SVDppObjective needs prepare(triples) before its cost")
        gathered = tf.gather(params["implicit"], self._movies)
        sums = tf.math.unsorted_segment_sum(gathered, self._users, self._n_users)
        ones = tf.ones_like(self._movies, dtype=gathered.dtype)
        counts = tf.math.unsorted_segment_sum(ones, self._users, self._n_users)
        return params["W"] + tf.math.rsqrt(tf.maximum(counts, 1.0))[:, None] * sums

    def user_factors_dense(self, params: Params, R: tf.Tensor) -> tf.Tensor:
        norm = tf.math.rsqrt(tf.maximum(tf.reduce_sum(R, axis=0), 1.0))
        return params["W"] + norm[:, None] * tf.linalg.matmul(
            R, params["implicit"], transpose_a=True
        )

    def extra_penalty(self, params: Params) -> tf.Tensor:
        return squares(params["implicit"])

    def for_fold_in(self) -> Objective:
        return BiasedObjective(self.config)
