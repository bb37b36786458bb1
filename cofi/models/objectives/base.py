r"""The objective interface: what a model variant declares, and nothing about how it is trained.

An objective declares its trainable variables and their initialisation, how targets are centred
and predictions formed (``x_i . w_j + b_j + c_i + offset_i`` for every objective here), whether it
predicts ratings or preference scores, which variables fold-in fits, and ONE cost over a batch of
observed ratings (plus any all-pairs term), with its dense masked form over ``Y, R: (n_movies,
n_users)`` as the reference that tests hold equal to it. :mod:`cofi.models.trainer` minimizes the
cost, whatever the objective.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal, NamedTuple

import numpy as np
import tensorflow as tf

from cofi.data.matrices import RatingTriples, normalize_triples

if TYPE_CHECKING:
    from cofi.models.config import TrainConfig

Params = Mapping[str, tf.Tensor]
"""Variables (or constants) by name: ``X``, ``W``, ``b``, ``movie_bias``, and any of the objective's own."""


@dataclass(frozen=True)
class Variable:
    """One trainable variable.

    Attributes:
        name: its key in the parameters.
        side: "movie" (one row per movie) or "user" (one per user).
        kind: "factors" (``(n, n_features)``) or "bias" (movie: ``(n_movies,)``; user:
            ``(1, n_users)``, the lab's orientation).
        init: the std of its seeded normal initial values as a multiple of
            ``config.init_scale``; 0 starts it at zeros.
    """

    name: str
    side: Literal["movie", "user"]
    kind: Literal["factors", "bias"]
    init: float = 1.0

    def shape(self, n_movies: int, n_users: int, n_features: int) -> tuple[int, ...]:
        n = n_movies if self.side == "movie" else n_users
        if self.kind == "factors":
            return (n, n_features)
        return (n,) if self.side == "movie" else (1, n)


X = Variable("X", "movie", "factors")
W = Variable("W", "user", "factors")
USER_BIAS = Variable("b", "user", "bias", init=0.0)
MOVIE_BIAS = Variable("movie_bias", "movie", "bias", init=0.0)


class Batch(NamedTuple):
    """Observed ratings, as tensors: all of them (full batch) or a mini-batch.

    Attributes:
        movie_index: (batch,) int32 movie rows.
        user_index: (batch,) int32 user rows.
        target: (batch,) centred targets (see :meth:`Objective.centre`).
        weight: scalar n_ratings / batch, so a mini-batch's cost estimates the full cost.
    """

    movie_index: tf.Tensor
    user_index: tf.Tensor
    target: tf.Tensor
    weight: tf.Tensor


class Objective(ABC):
    """A model variant: one cost function and what training and prediction need to know.

    Args:
        config: the hyperparameters (``lambda_``, ``regularization``, ``unobserved_weight``,
            ``n_features``, ``init_scale``, ``seed``, ``dtype``) the cost is evaluated with.
    """

    #: The ``objective`` that selects it (see :data:`cofi.models.objectives.REGISTRY`).
    name: ClassVar[str]
    #: Its trainable variables, in the order their initial values are drawn.
    variables: ClassVar[tuple[Variable, ...]]
    #: Whether predictions are ratings (clipped to the scale) or preference scores (unclipped).
    predicts_ratings: ClassVar[bool] = True
    #: Whether a mini-batch's cost estimates the full cost (not when a term sums every rating
    #: of a user).
    minibatch: ClassVar[bool] = True
    #: Whether a saved model's arrays can seed training (not when they fold terms together).
    warm_starts: ClassVar[bool] = True
    #: Hyperparameters that differ from :class:`~cofi.models.config.TrainConfig`'s defaults for
    #: this objective, chosen on validation data.
    defaults: ClassVar[dict[str, float]] = {}
    #: Hyperparameters used over :attr:`defaults` from
    #: :data:`~cofi.models.config.LARGE_DATA_RATINGS` ratings on, where training time, not
    #: accuracy alone, sets them (a user's own settings still win).
    large_data_defaults: ClassVar[dict[str, float | str]] = {}
    #: The number of ratings from which :attr:`large_data_defaults` apply, where it is not
    #: :data:`~cofi.models.config.LARGE_DATA_RATINGS` (None).
    large_data_from: ClassVar[int | None] = None
    #: Whether :meth:`dense_cost` works on the dense matrices as such (elementwise and matmul
    #: over every cell); False where it gathers the rated cells, so ``method="auto"`` never
    #: picks the dense formulation for it (:func:`cofi.models.trainer.choose_method`).
    dense_form: ClassVar[bool] = True

    def __init__(self, config: TrainConfig) -> None:
        self.config = config

    # What it trains ---------------------------------------------------------------------------

    def initial_values(self, n_movies: int, n_users: int) -> dict[str, np.ndarray]:
        """Seeded starting values of :attr:`variables`, in the configured dtype."""
        config = self.config
        rng = np.random.default_rng(config.seed)
        values = {}
        for variable in self.variables:
            shape = variable.shape(n_movies, n_users, config.n_features)
            if variable.init == 0:
                values[variable.name] = np.zeros(shape, dtype=config.dtype)
            else:
                scale = config.init_scale * variable.init
                values[variable.name] = rng.normal(0.0, scale, size=shape).astype(config.dtype)
        return values

    def fold_in_variables(self) -> tuple[Variable, ...]:
        """What fold-in fits for a new user: the user-side variables of :meth:`for_fold_in`."""
        return tuple(v for v in self.for_fold_in().variables if v.side == "user")

    def for_fold_in(self) -> Objective:
        """The objective new users are fitted by, with the movie side held fixed."""
        return self

    # Targets ----------------------------------------------------------------------------------

    def centre(self, triples: RatingTriples) -> tuple[RatingTriples, np.ndarray]:
        """Training targets and the per-movie offset predictions add back: by default the
        ratings minus their global mean."""
        mean = float(np.mean(triples.rating, dtype=np.float64))
        offset = np.full(triples.n_movies, mean, dtype=np.float32)
        return self.targets(triples, offset), offset

    def targets(self, triples: RatingTriples, offset: np.ndarray) -> RatingTriples:
        """``triples`` centred by an ``offset`` learned elsewhere, as :meth:`centre` would."""
        rating = (triples.rating - offset[triples.movie_index]).astype(np.float32)
        return _with_rating(triples, rating)

    # The cost ---------------------------------------------------------------------------------

    def prepare(self, triples: RatingTriples) -> None:  # noqa: B027 - optional hook
        """Called once with every training target before training; most objectives need
        nothing from it."""

    def prepare_fold_in(  # noqa: B027 - optional hook
        self, triples: RatingTriples, n_ratings: int, n_users: int
    ) -> None:
        """Called once before fold-in (on :meth:`for_fold_in`'s objective) with the new users'
        targets and the trained model's numbers of training ratings and users; most objectives
        need nothing from it."""

    @abstractmethod
    def cost(self, params: Params, batch: Batch) -> tf.Tensor:
        """The cost over one batch of observed ratings: the objective's one definition."""

    @abstractmethod
    def dense_cost(self, params: Params, Y: tf.Tensor, R: tf.Tensor) -> tf.Tensor:
        """The same cost over dense ``Y, R: (n_movies, n_users)``: the reference form."""

    # What a Model keeps -----------------------------------------------------------------------

    def export(self, params: Params) -> dict[str, np.ndarray]:
        """``X, W, b: (1, n_users), movie_bias: (n_movies,)`` as NumPy arrays, zeros for what
        the objective does not learn."""
        X_value, W_value = params["X"].numpy(), self.user_factors(params).numpy()
        zeros = {
            "b": np.zeros((1, W_value.shape[0]), X_value.dtype),
            "movie_bias": np.zeros(X_value.shape[0], X_value.dtype),
        }
        exported = {"X": X_value, "W": W_value}
        for name, zero in zeros.items():
            exported[name] = params[name].numpy() if name in params else zero
        return exported

    def user_factors(self, params: Params) -> tf.Tensor:
        """Each user's (n_users, n_features) vector as predictions use it."""
        return params["W"]

    def global_fallback(self, rating: np.ndarray) -> float:
        """What is predicted when neither user nor movie is known."""
        return float(np.mean(rating, dtype=np.float64)) if self.predicts_ratings else 0.0


def _with_rating(triples: RatingTriples, rating: np.ndarray) -> RatingTriples:
    return RatingTriples(
        triples.movie_index, triples.user_index, rating, triples.n_movies, triples.n_users
    )


def centre_by_movie_mean(triples: RatingTriples) -> tuple[RatingTriples, np.ndarray]:
    """The lab's mean normalization: ratings minus each movie's mean (0 for unrated movies)."""
    return normalize_triples(triples)


def ones_like_targets(triples: RatingTriples) -> RatingTriples:
    """Target 1 for every rated pair (one-class objectives)."""
    return _with_rating(triples, np.ones_like(triples.rating, dtype=np.float32))
