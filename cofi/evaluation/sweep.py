"""Hyperparameter sweeps: a typed search space, its trials, and how a trial is scored.

A :class:`SweepSpace` is either a grid (every combination of the listed values) or a seeded
random search (``n_samples`` draws, each field from a list of choices or a uniform or
log-uniform range). Every name must be a :class:`~cofi.models.config.TrainConfig` field and every
value must make a valid ``TrainConfig``; a bad space fails when it is built, before any training.

A trial is scored on a validation slice carved out of the *training* ratings
(:func:`split_for_validation`): the sweep never sees the test ratings, so the test RMSE of the
configuration it picks is still an honest estimate.

Scoring (:func:`score_config`): RMSE and MAE of the predicted ratings on the validation pairs,
and precision@k and nDCG@k of each validation user's top-k list of unseen movies, where every
movie the user rated in the validation slice counts as relevant, whatever the rating (the
relevance rule of :func:`cofi.evaluation.metrics.relevant_items` without a threshold).
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cofi.errors import CofiError
from cofi.evaluation.holdout import split_random
from cofi.evaluation.metrics import ranking_report, rating_report
from cofi.models.config import TrainConfig

__all__ = [
    "METRICS",
    "SCORE_COLUMNS",
    "Metric",
    "Range",
    "SweepSpace",
    "best_config",
    "expand",
    "full_config",
    "results_frame",
    "score_config",
    "split_for_validation",
]

Metric = Literal["rmse", "mae", "precision_at_k", "ndcg_at_k"]

#: Each metric a sweep can pick by, and whether a lower value is better.
METRICS: dict[str, bool] = {
    "rmse": True,
    "mae": True,
    "precision_at_k": False,
    "ndcg_at_k": False,
}

#: The columns :func:`score_config` adds beside the configuration's fields.
SCORE_COLUMNS = ("rmse", "mae", "precision_at_k", "ndcg_at_k", "fit_seconds")

#: A grid or sample larger than this is almost surely a typo (a sweep of days, not hours).
MAX_TRIALS = 10_000


class Range(BaseModel):
    """A continuous range to draw one field from: uniform, or log-uniform when ``log``.

    Integer fields (``n_features``, ``iterations``, ...) get the draw rounded to the nearest
    integer.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _check_bounds(self) -> Range:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"range bounds must be finite, got low={self.low}, high={self.high}")
        if self.low > self.high:
            raise ValueError(f"range low={self.low} is above high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got low={self.low}")
        return self


def _is_integer_field(name: str) -> bool:
    return TrainConfig.model_fields[name].annotation is int


def _config_error(values: dict[str, Any], error: ValidationError, where: str) -> str:
    problems = "; ".join(
        f"{'.'.join(str(part) for part in detail['loc'])}={detail.get('input')!r}: {detail['msg']}"
        for detail in error.errors()
    )
    return f"{where}: {values} is not a valid TrainConfig ({problems})"


def _check_names(names: list[str], where: str) -> None:
    unknown = [name for name in names if name not in TrainConfig.model_fields]
    if unknown:
        raise ValueError(
            f"{where} names unknown TrainConfig field(s) {unknown}; "
            f"known: {sorted(TrainConfig.model_fields)}"
        )


def _check_config(values: dict[str, Any], where: str) -> None:
    try:
        TrainConfig(**values)
    except ValidationError as error:
        raise ValueError(_config_error(values, error, where)) from None


class SweepSpace(BaseModel):
    """The configurations a sweep tries: a grid, or a seeded random search.

    Give exactly one of ``grid`` and ``random``.

    Attributes:
        grid: TrainConfig field -> the values to try; the sweep tries every combination.
        random: TrainConfig field -> a list of choices (drawn uniformly) or a :class:`Range`
            such as ``{"low": 1, "high": 100, "log": True}``.
        n_samples: how many configurations a random search draws (random search only).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    grid: dict[str, list[Any]] | None = None
    random: dict[str, list[Any] | Range] | None = None
    n_samples: int | None = Field(default=None, ge=1, le=MAX_TRIALS)

    @model_validator(mode="after")
    def _check_space(self) -> SweepSpace:
        if (self.grid is None) == (self.random is None):
            raise ValueError("give exactly one of grid and random")
        if self.grid is not None:
            self._check_grid(self.grid)
        elif self.random is not None:
            self._check_random(self.random)
        return self

    def _check_grid(self, grid: dict[str, list[Any]]) -> None:
        if self.n_samples is not None:
            raise ValueError("n_samples is for random search; a grid tries every combination")
        if not grid:
            raise ValueError("the grid is empty: name at least one TrainConfig field")
        _check_names(list(grid), "the grid")
        empty = [name for name, values in grid.items() if not values]
        if empty:
            raise ValueError(f"the grid gives no values for {empty}")
        n_trials = math.prod(len(values) for values in grid.values())
        if n_trials > MAX_TRIALS:
            raise ValueError(f"the grid has {n_trials:,} combinations, more than {MAX_TRIALS:,}")
        # Each value alone first, so the message names the one bad value; then every
        # combination, for constraints that span fields.
        for name, values in grid.items():
            for value in values:
                _check_config({name: value}, "the grid")
        for combination in itertools.product(*grid.values()):
            _check_config(dict(zip(grid, combination, strict=True)), "a grid combination")

    def _check_random(self, random: dict[str, list[Any] | Range]) -> None:
        if self.n_samples is None:
            raise ValueError("random search needs n_samples")
        if not random:
            raise ValueError("the random search space is empty: name at least one field")
        _check_names(list(random), "the random search space")
        for name, choices in random.items():
            if isinstance(choices, Range):
                for bound in (choices.low, choices.high):
                    _check_config({name: _cast(name, bound)}, f"a bound of the {name} range")
                if _is_integer_field(name) and round(choices.low) > round(choices.high):
                    raise ValueError(f"{name}: the range holds no integer")
                continue
            if not choices:
                raise ValueError(f"the random search space gives no choices for {name!r}")
            for value in choices:
                _check_config({name: value}, "the random search space")

    @property
    def kind(self) -> Literal["grid", "random"]:
        return "grid" if self.grid is not None else "random"

    @property
    def fields(self) -> list[str]:
        """The TrainConfig fields the space varies, in the order given."""
        return list(self.grid if self.grid is not None else self.random or {})


def _cast(name: str, value: float) -> int | float:
    return int(round(value)) if _is_integer_field(name) else float(value)


def _draw(name: str, choices: list[Any] | Range, rng: np.random.Generator) -> Any:
    if isinstance(choices, Range):
        if choices.log:
            value = math.exp(rng.uniform(math.log(choices.low), math.log(choices.high)))
        else:
            value = rng.uniform(choices.low, choices.high)
        # Rounding an integer field could step just outside a range whose bounds are not whole.
        value = _cast(name, value)
        if _is_integer_field(name):
            value = min(max(value, math.ceil(choices.low)), math.floor(choices.high))
        return value
    picked = choices[int(rng.integers(len(choices)))]
    return picked.item() if isinstance(picked, np.generic) else picked


def expand(space: SweepSpace, seed: int = 0) -> list[dict[str, Any]]:
    """The configurations of ``space``, in a fixed order, as TrainConfig field dicts.

    A grid gives every combination, in ``itertools.product`` order over the fields as listed
    (the last field varies fastest). A random search gives ``n_samples`` draws from
    ``numpy.random.default_rng(seed)``, fields drawn in the order listed. Unless the space
    varies ``seed`` itself, every configuration gets ``seed``: one seed for the whole sweep.

    Args:
        space: the search space.
        seed: seeds the random draws and, unless swept, each configuration's training.

    Returns:
        One dict per trial, holding the swept fields and ``seed``; the same space and seed
        always give the same list.
    """
    if space.grid is not None:
        configs = [
            dict(zip(space.grid, combination, strict=True))
            for combination in itertools.product(*space.grid.values())
        ]
    else:
        # The space's validator makes a random search give both.
        assert space.random is not None and space.n_samples is not None
        random, n_samples = space.random, space.n_samples
        rng = np.random.default_rng(seed)
        configs = [
            {name: _draw(name, choices, rng) for name, choices in random.items()}
            for _ in range(n_samples)
        ]
    typed = []
    for config in configs:
        config.setdefault("seed", seed)
        _check_config(config, "sweep configuration")
        validated = TrainConfig(**config)
        # The values as TrainConfig reads them ("10" -> 10), so the results table is typed.
        typed.append({name: getattr(validated, name) for name in config})
    return typed


def full_config(config: dict[str, Any], n_ratings: int | None = None) -> TrainConfig:
    """The whole configuration ``cofi.fit(ratings, **config)`` trains with, for ``n_ratings``
    ratings (unknown: as for few).

    Fields ``config`` leaves out take ``cofi.fit``'s defaults, which depend on the objective
    (:data:`cofi.models.config.OBJECTIVE_DEFAULTS`) and, without one, the ratings' size
    (:func:`cofi.models.config.default_objective`), so ``TrainConfig(**config)`` is not always
    the same.
    """
    from cofi.models.config import make_config

    return make_config(None, config, n_ratings=n_ratings)


def split_for_validation(
    train: pd.DataFrame, validation_fraction: float, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split training ratings into ``(fit, validation)`` at random, reproducibly.

    The draw uses a stream derived from ``seed`` rather than ``seed`` itself: the hold-out split
    upstream already drew from ``default_rng(seed)``, and reusing that stream would correlate the
    two draws.

    Args:
        train: the training ratings (never the test ratings).
        validation_fraction: share of ``train`` to validate on, in (0, 1).
        seed: the sweep's seed.

    Returns:
        ``(fit, validation)``: every row of ``train`` lands in exactly one, in its original order.
    """
    derived = int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])
    return split_random(train, validation_fraction, seed=derived)


def score_config(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    config: dict[str, Any],
    k: int = 10,
    min_ratings: int = 1,
) -> dict[str, float]:
    """Fit ``cofi.fit(train, **config)`` and score it on ``validation``.

    Args:
        train: ratings to fit on: ``user_id``, ``movie_id``, ``rating``.
        validation: ratings to score on, disjoint from ``train``.
        config: TrainConfig fields.
        k: length of the recommendation lists judged.
        min_ratings: training ratings a movie needs to be recommended, as in
            :meth:`cofi.models.model.Model.recommend` (the pipeline publishes lists with 5).

    Returns:
        ``rmse`` and ``mae`` of the predictions for the validation pairs; ``precision_at_k``
        and ``ndcg_at_k`` of the top-``k`` unseen movies of every validation user, with all of
        the user's validation movies relevant; ``fit_seconds``, the wall time of ``cofi.fit``
        (TensorFlow's import left out, its graph compilation in).

    Raises:
        CofiError: bad hyperparameters, empty data, or training diverged.
    """
    import cofi
    from cofi.runtime import import_tensorflow

    import_tensorflow()  # here, so that the first trial's clock leaves it out

    if validation.empty:
        raise CofiError("the validation ratings are empty")
    started = time.perf_counter()
    model = cofi.fit(train, **config)
    fit_seconds = time.perf_counter() - started
    predicted = model.predict(validation["user_id"].to_numpy(), validation["movie_id"].to_numpy())
    errors = rating_report(validation["rating"].to_numpy(), predicted)
    lists = model.recommend(user_ids=validation["user_id"].unique(), n=k, min_ratings=min_ratings)
    ranking = ranking_report(lists, validation, k=k)
    return {
        "rmse": errors["rmse"],
        "mae": errors["mae"],
        "precision_at_k": ranking["precision_at_k"],
        "ndcg_at_k": ranking["ndcg_at_k"],
        "fit_seconds": round(fit_seconds, 3),
    }


def results_frame(results: list[dict[str, Any]]) -> pd.DataFrame:
    """The trials as one table, by trial: ``trial``, the config fields, then the scores.

    Args:
        results: one dict per trial with ``trial``, TrainConfig fields and the keys of
            :data:`SCORE_COLUMNS` (an ``error`` key marks a trial that failed).
    """
    if not results:
        raise CofiError("no sweep results")
    frame = pd.DataFrame(results)
    fields = [column for column in frame.columns if column in TrainConfig.model_fields]
    rest = [c for c in frame.columns if c not in fields and c not in SCORE_COLUMNS and c != "trial"]
    scores = [column for column in SCORE_COLUMNS if column in frame.columns]
    columns = ["trial", *fields, *scores, *rest]
    return frame[columns].sort_values("trial", kind="stable").reset_index(drop=True)


def best_config(results: pd.DataFrame, metric: Metric = "rmse") -> dict[str, Any]:
    """The best trial by ``metric``; ties go to the faster fit, then the earlier trial.

    Lower is better for ``rmse`` and ``mae``, higher for ``precision_at_k`` and ``ndcg_at_k``.
    Trials whose metric is NaN (failed, or nothing to rank) are never picked.

    Args:
        results: a :func:`results_frame` table.
        metric: one of :data:`METRICS`.

    Returns:
        ``{"trial": ..., "config": {field: value}, "metrics": {column: value}}`` with plain
        Python values.

    Raises:
        CofiError: unknown metric, or no trial has a value for it.
    """
    if metric not in METRICS:
        raise CofiError(f"unknown metric {metric!r}; known: {list(METRICS)}")
    if metric not in results.columns:
        raise CofiError(f"the results have no {metric!r} column; they have {list(results.columns)}")
    scored = results.loc[results[metric].notna()]
    if scored.empty:
        raise CofiError(f"no trial has a {metric} value to compare")
    ranked = scored.assign(_key=scored[metric] if METRICS[metric] else -scored[metric])
    label = ranked.sort_values(["_key", "fit_seconds", "trial"], kind="stable").index[0]
    fields = [column for column in results.columns if column in TrainConfig.model_fields]
    scores = [column for column in SCORE_COLUMNS if column in results.columns]
    # Read column by column: a row of mixed columns would turn integer fields into floats.
    return {
        "trial": int(results["trial"].loc[label]),
        "config": {name: _plain(results[name].loc[label]) for name in fields},
        "metrics": {name: _plain(results[name].loc[label]) for name in scores},
    }


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds (JSON and pydantic take those)."""
    return value.item() if isinstance(value, np.generic) else value
