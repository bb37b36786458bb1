"""Training hyperparameters: one typed, validated configuration, and the defaults behind it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cofi.errors import CofiError
from cofi.models.objectives import OBJECTIVE_NAMES, objective_class

ObjectiveName = Literal[OBJECTIVE_NAMES]  # type: ignore[valid-type]
"""The registered objectives' names (:data:`cofi.models.objectives.REGISTRY`)."""


class TrainConfig(BaseModel):
    """Hyperparameters of one training run. Unknown fields and bad values fail at once.

    The defaults were chosen on held-out ratings (see README, "Choosing the defaults");
    :data:`LAB_CONFIG` holds the lab's settings.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_features: int = Field(
        default=30, ge=1, le=4096, description="length of each movie/user vector"
    )
    objective: ObjectiveName = Field(  # pyright: ignore[reportInvalidTypeForm]
        default="biased",
        description="the model variant (a cost function): see cofi.models.objectives",
    )
    lambda_: float = Field(default=15.0, ge=0.0, description="L2 regularization strength")
    regularization: Literal["uniform", "weighted"] = Field(
        default="uniform",
        description="the lab's uniform L2 penalty, or one weighted by each row's rating count",
    )
    learning_rate: float = Field(default=0.05, gt=0.0, le=10.0, description="Adam learning rate")
    iterations: int = Field(default=100, ge=1, le=1_000_000, description="optimizer steps")
    init_scale: float = Field(
        default=0.1, gt=0.0, description="std of the normal initial values of X and W"
    )
    seed: int = Field(default=0, ge=0, description="seeds initialization (and any sampling)")
    dtype: Literal["float32", "float64"] = "float32"
    method: Literal["auto", "dense", "sparse", "minibatch"] = Field(
        default="auto",
        description=(
            "dense Y/R matrices, the sparse observed-ratings form (full batch), or shuffled "
            "mini-batches of observed ratings; auto picks by size"
        ),
    )
    unobserved_weight: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="weight of each unrated (user, movie) pair, for objective='ranking'",
    )
    user_weight_power: float = Field(
        default=0.0,
        ge=0.0,
        le=2.0,
        description=(
            "for objective='ials': each user's terms weigh (their ratings / the mean)^-power, "
            "so light users count more; 0 weighs every user alike"
        ),
    )
    sequence_weight: float = Field(
        default=0.0,
        ge=0.0,
        le=10.0,
        description=(
            "share of the sequence-neighbour term in the top-N order (cofi.models.sequence): "
            "movies rated next to the user's movies by others; needs timestamps; 0 turns it off"
        ),
    )
    log_every: int = Field(default=20, ge=1, description="log the loss every this many iterations")
    schedule: Literal["auto", "constant", "cosine"] = Field(
        default="auto",
        description=(
            "learning-rate schedule: constant, or cosine decay to 5% over the run; auto is "
            "constant for full-batch steps and cosine for mini-batches, whose noise needs it"
        ),
    )
    validation_fraction: float = Field(
        default=0.0,
        ge=0.0,
        lt=0.5,
        description=(
            "share of the training ratings set aside (seeded) to stop early: training stops "
            "once their RMSE has not improved for `patience` checks, and keeps the best state"
        ),
    )
    patience: int = Field(default=2, ge=1, description="checks without improvement before stopping")
    batch_size: int = Field(default=250_000, ge=1, description="ratings per step (minibatch only)")
    epochs: int = Field(
        default=15, ge=1, le=100_000, description="passes over the ratings (minibatch only)"
    )
    tolerance: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description=(
            "stop once the cost falls by less than this share between two logged checks "
            "(every log_every iterations, or every epoch); 0 runs every step"
        ),
    )


#: The lab's settings: 100 features, lambda 1, Adam at 0.1 for 200 iterations, unit-normal init.
LAB_CONFIG = TrainConfig(
    objective="lab", n_features=100, lambda_=1.0, learning_rate=0.1, iterations=200, init_scale=1.0
)


def objective_defaults(objective: str) -> dict[str, float]:
    """The hyperparameters objective ``objective`` sets differently from :class:`TrainConfig`'s
    defaults (its class's ``defaults``, chosen on validation data like the global ones)."""
    return dict(objective_class(objective).defaults)


def __getattr__(name: str):
    # OBJECTIVE_DEFAULTS is read from the objective classes, which import TensorFlow: on demand.
    if name == "OBJECTIVE_DEFAULTS":
        return {
            objective: defaults
            for objective in OBJECTIVE_NAMES
            if (defaults := objective_defaults(objective))
        }
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Defaults for a warm start (benchmarks/warm_start.py). Adam starts with fresh moments, so its
#: first steps move every parameter by about the learning rate: at the cold default (0.05) that
#: undoes much of the warm start, at 0.02 it reaches the cold run's cost in half the steps. The
#: tolerance stops training once converged, which is where a warm start saves its time.
WARM_START_DEFAULTS: dict = {"learning_rate": 0.02, "tolerance": 1e-3}


#: From this many ratings on, "auto" trains on mini-batches: a full-batch step costs about as
#: much as a whole mini-batch epoch, and mini-batches converge in far fewer epochs.
MINIBATCH_MIN_RATINGS = 1_000_000

#: ``cofi.fit``'s objective when none is named, below :data:`MINIBATCH_MIN_RATINGS` ratings: the
#: most accurate on validation ratings (benchmarks/rating_accuracy.py --validate), full batch.
SMALL_DATA_OBJECTIVE = "blend"
#: ... and from there on, where training takes mini-batches (blend cannot) and time counts.
LARGE_DATA_OBJECTIVE = "biased"


def default_objective(n_ratings: int | None) -> str:
    """The objective ``cofi.fit`` trains when none is named, for ``n_ratings`` ratings
    (unknown: as for few): :data:`SMALL_DATA_OBJECTIVE` below :data:`MINIBATCH_MIN_RATINGS`,
    :data:`LARGE_DATA_OBJECTIVE` from there on."""
    if n_ratings is not None and n_ratings >= MINIBATCH_MIN_RATINGS:
        return LARGE_DATA_OBJECTIVE
    return SMALL_DATA_OBJECTIVE


#: From this many ratings on, an objective's ``large_data_defaults`` apply (see
#: :attr:`cofi.models.objectives.base.Objective.large_data_defaults`): ML-10M and larger.
LARGE_DATA_RATINGS = 10_000_000


def make_config(
    config: TrainConfig | None,
    hyperparameters: dict,
    *,
    warm_start: bool = False,
    n_ratings: int | None = None,
) -> TrainConfig:
    """``config`` (default ``TrainConfig()``) with ``hyperparameters`` overriding its fields.

    Without a ``config``, the objective is ``hyperparameters["objective"]`` when given (not
    None), else :func:`default_objective` of ``n_ratings``. Its own defaults
    (:func:`objective_defaults`; from its ``large_data_from`` or :data:`LARGE_DATA_RATINGS`
    ``n_ratings`` on, with its large-data defaults over them) and, for a warm start of an
    objective that can be warm-started, :data:`WARM_START_DEFAULTS` come between the global
    defaults and ``hyperparameters``.
    """
    base = (config or TrainConfig()).model_dump()
    hyperparameters = dict(hyperparameters)
    if config is None:
        objective = hyperparameters.get("objective") or default_objective(n_ratings)
        hyperparameters["objective"] = objective
        if objective in OBJECTIVE_NAMES:  # an unknown name is refused by TrainConfig below
            objective_type = objective_class(objective)
            base.update(objective_defaults(objective))
            large_from = objective_type.large_data_from or LARGE_DATA_RATINGS
            if n_ratings is not None and n_ratings >= large_from:
                base.update(objective_type.large_data_defaults)
            if warm_start and objective_type.warm_starts:
                base.update(WARM_START_DEFAULTS)
    try:
        made = TrainConfig(**{**base, **hyperparameters})
    except ValidationError as error:
        raise CofiError(
            f"invalid hyperparameters: {error}\nknown names: {sorted(TrainConfig.model_fields)}"
        ) from None
    check_sequence_weight(made)
    return made


def check_sequence_weight(config: TrainConfig) -> None:
    """Refuse a sequence-neighbour term on an objective that predicts ratings.

    Raises:
        CofiError: ``config.sequence_weight > 0`` and ``config.objective`` predicts ratings.
    """
    if config.sequence_weight > 0 and objective_class(config.objective).predicts_ratings:
        raise CofiError(
            f"sequence_weight orders preference lists; objective {config.objective!r} predicts "
            "ratings, whose lists must stay ratings: use sequence_weight=0 or a ranking objective "
            "(ials, ranking)"
        )
