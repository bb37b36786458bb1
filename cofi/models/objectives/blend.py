r"""The average of two rating models trained side by side: I-AutoRec and SVD++.

Their variables are disjoint and the cost is the sum of theirs,

.. math::

    J = J_{\text{AutoRec}}(\theta_A; \lambda) + J_{\text{SVD++}}(\theta_S; s\lambda),

so one Adam run trains both as if apart; the prediction is their weighted mean
``a * AutoRec + (1 - a) * SVD++``. Both are of the form ``x_i . w_j + b_j + c_i``, so the mean
is too, with ``x_i = [a h_i, (1 - a) x^S_i]`` and ``w_j = [w^A_j, u^S_j]``: a saved model keeps it
in its ``n_features`` columns, the first ``n_features - n_features // 4`` AutoRec's and the rest
SVD++'s. The two err differently (one reads movies' rating columns, the other users' factors and
the movies they rated), so the mean beats both on validation ratings. Full batch only, no warm
start, fold-in as biased MF against the saved ``X``, as for both parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import tensorflow as tf

from cofi.data.matrices import RatingTriples
from cofi.models.objectives.autorec import AutoRecObjective
from cofi.models.objectives.base import Batch, Objective, Params, Variable
from cofi.models.objectives.biased import BiasedObjective
from cofi.models.objectives.svdpp import SVDppObjective

#: The parts, in this order: their variables, widths and weights are listed part by part.
AUTOREC, SVDPP = 0, 1

#: The SVD++ part's variables are named with this prefix; the AutoRec part keeps its names.
SVDPP_PREFIX = "svdpp_"


def part_widths(n_features: int) -> tuple[int, int]:
    """Columns of each part's factors, (AutoRec, SVD++): a quarter of ``n_features`` (rounded
    down) for SVD++, the rest for AutoRec (a part of width 0 keeps only its biases)."""
    svdpp = n_features // 4
    return n_features - svdpp, svdpp


@dataclass(frozen=True)
class PartVariable(Variable):
    """A variable of one part (:data:`AUTOREC` or :data:`SVDPP`), its factors as wide as
    :func:`part_widths` says."""

    part: int = AUTOREC

    def shape(self, n_movies: int, n_users: int, n_features: int) -> tuple[int, ...]:
        return super().shape(n_movies, n_users, part_widths(n_features)[self.part])


def _part_variables(objective: type[Objective], part: int, prefix: str) -> tuple[Variable, ...]:
    return tuple(
        PartVariable(prefix + v.name, v.side, v.kind, v.init, part=part)
        for v in objective.variables
    )


class BlendObjective(Objective):
    """The weighted mean of I-AutoRec and SVD++ (see the module docstring)."""

    name = "blend"
    variables = (
        *_part_variables(AutoRecObjective, AUTOREC, ""),
        *_part_variables(SVDppObjective, SVDPP, SVDPP_PREFIX),
    )
    minibatch = False
    warm_starts = False
    #: AutoRec's share ``a`` of the prediction.
    AUTOREC_WEIGHT: ClassVar[float] = 0.55
    #: SVD++'s lambda as a share ``s`` of ``lambda_`` (AutoRec's).
    SVDPP_LAMBDA_SHARE: ClassVar[float] = 0.4
    #: These and the weights above were chosen on validation ratings (two seeded 10% parts of
    #: ML-100K u1.base, and ml-latest-small's; benchmarks/rating_accuracy.py): ``a`` in 0.5..0.7
    #: and ``s`` in 0.2..0.6 moved the validation RMSE by 0.003 at most.
    defaults: ClassVar[dict[str, float]] = {
        "n_features": 132,
        "lambda_": 50.0,
        "learning_rate": 0.02,
        "iterations": 300,
    }

    def __init__(self, config) -> None:
        super().__init__(config)
        autorec_width, svdpp_width = part_widths(config.n_features)
        # model_copy skips validation: a part of width 0 is allowed here.
        self.autorec = AutoRecObjective(config.model_copy(update={"n_features": autorec_width}))
        self.svdpp = SVDppObjective(
            config.model_copy(
                update={
                    "n_features": svdpp_width,
                    "lambda_": config.lambda_ * self.SVDPP_LAMBDA_SHARE,
                }
            )
        )

    @staticmethod
    def _svdpp_params(params: Params) -> dict[str, tf.Tensor]:
        return {
            name.removeprefix(SVDPP_PREFIX): value
            for name, value in params.items()
            if name.startswith(SVDPP_PREFIX)
        }

    def prepare(self, triples: RatingTriples) -> None:
        self.autorec.prepare(triples)
        self.svdpp.prepare(triples)

    def cost(self, params: Params, batch: Batch) -> tf.Tensor:
        return self.autorec.cost(params, batch) + self.svdpp.cost(self._svdpp_params(params), batch)

    def dense_cost(self, params: Params, Y: tf.Tensor, R: tf.Tensor) -> tf.Tensor:
        return self.autorec.dense_cost(params, Y, R) + self.svdpp.dense_cost(
            self._svdpp_params(params), Y, R
        )

    def export(self, params: Params) -> dict[str, np.ndarray]:
        a = self.AUTOREC_WEIGHT
        first, second = self.autorec.export(params), self.svdpp.export(self._svdpp_params(params))
        return {
            "X": np.concatenate([a * first["X"], (1 - a) * second["X"]], axis=1),
            "W": np.concatenate([first["W"], second["W"]], axis=1),
            "b": a * first["b"] + (1 - a) * second["b"],
            "movie_bias": a * first["movie_bias"] + (1 - a) * second["movie_bias"],
        }

    def for_fold_in(self) -> Objective:
        return BiasedObjective(self.config)
