"""The public entry point: ``cofi.fit(ratings, ...) -> Model``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cofi.data.checks import check_ratings
from cofi.data.matrices import IndexMap, build_triples
from cofi.data.schema import RatingScale
from cofi.errors import CofiError
from cofi.evaluation.splits import timestamps_ns
from cofi.models.config import TrainConfig, make_config
from cofi.models.fitting import fit_triples
from cofi.models.model import Model
from cofi.models.trainer import ProgressCallback


def fit(
    ratings: pd.DataFrame,
    config: TrainConfig | None = None,
    *,
    scale: RatingScale | None = None,
    movie_ids: np.ndarray | None = None,
    callback: ProgressCallback | None = None,
    warm_start: Model | None = None,
    monitor: pd.DataFrame | None = None,
    **hyperparameters,
) -> Model:
    """Train a collaborative-filtering model on a ratings table.

    The ratings are centred as the objective asks (per-movie means for the lab's cost, the global
    mean for the others; see :mod:`cofi.models.objectives`), then the parameters are fitted by
    Adam on that cost with TensorFlow's autodiff.

    Without a ``config`` or an ``objective``, the objective depends on the size
    (:func:`~cofi.models.config.default_objective`): below a million ratings ``blend``
    (I-AutoRec and SVD++ averaged, full batch: the most accurate on validation ratings), from
    there on ``biased`` MF on mini-batches, with its large-data settings; with a
    ``warm_start``, the starting model's objective.

    Args:
        ratings: a DataFrame with ``user_id``, ``movie_id`` and ``rating``, one row per
            (user, movie); an optional ``timestamp`` (datetime or integer seconds) orders each
            user's ratings for the sequence-neighbour term of the lists (``sequence_weight``,
            :mod:`cofi.models.sequence`). Other columns are ignored.
        config: a full :class:`~cofi.models.config.TrainConfig` (``cofi.LAB_CONFIG`` for the
            lab's settings); keywords override its fields.
        scale: the rating scale predictions are clipped to; inferred from the ratings if omitted.
        movie_ids: every movie the index should hold (default: the rated ones). Movies without
            ratings get rows but are never recommended.
        callback: receives ``(iteration, iterations, loss)`` as training goes.
        warm_start: a previous model (same objective and ``n_features``) to start from: movies
            and users it knows begin at its parameters, new ones at seeded random values. With
            ``tolerance`` set, training stops once converged, in fewer steps than from scratch.
        monitor: held-out ratings (``user_id``, ``movie_id``, ``rating``) whose RMSE is recorded
            at every check in ``Model.validation_history``, for a learning curve; training is
            the same with or without it. Ratings of users or movies not in ``ratings`` are left
            out. Ignored for objectives that do not predict ratings.
        **hyperparameters: any :class:`~cofi.models.config.TrainConfig` field: ``n_features``,
            ``lambda_``, ``learning_rate``, ``iterations``, ``seed``, ``init_scale``, ``dtype``,
            ``method``, ``log_every``. Unknown names or bad values raise :class:`CofiError`.

    Returns:
        The trained :class:`~cofi.models.model.Model`.
    """
    if warm_start is not None and config is None and not hyperparameters.get("objective"):
        hyperparameters["objective"] = warm_start.config.objective  # go on with its objective
    config = make_config(
        config, hyperparameters, warm_start=warm_start is not None, n_ratings=len(ratings)
    )
    check_ratings(ratings, "to train on")
    movies = None
    if movie_ids is not None:
        movies = IndexMap.from_ids(
            np.concatenate([ratings["movie_id"].to_numpy(), np.asarray(movie_ids)])
        )
    triples, movies, users = build_triples(ratings, movies=movies)
    held_out = None
    if monitor is not None:
        known = (movies.position_of(monitor["movie_id"].to_numpy()) >= 0) & (
            users.position_of(monitor["user_id"].to_numpy()) >= 0
        )
        held_out, _, _ = build_triples(monitor[known], movies=movies, users=users)
    return fit_triples(
        triples,
        movies,
        users,
        config,
        scale=scale,
        callback=callback,
        warm_start=warm_start,
        monitor=held_out,
        timestamps=_ordering_times(ratings)
        if config.sequence_weight > 0 and "timestamp" in ratings
        else None,
    )


def _ordering_times(ratings: pd.DataFrame) -> np.ndarray:
    """(n,) int64 nanoseconds of ``ratings["timestamp"]``, which order each user's ratings for
    the sequence graph; a missing or unusable time is a :class:`CofiError` naming the row."""
    column = ratings["timestamp"]
    missing = column.isna().to_numpy()
    if missing.any():
        raise CofiError(
            f"ratings to train on: {int(missing.sum()):,} row(s) have no timestamp, the first at "
            f"row {ratings.index[np.flatnonzero(missing)[0]]!r}; drop those rows, or the column"
        )
    if pd.api.types.is_float_dtype(column):  # seconds read as floats (a CSV with gaps, say)
        column = column.astype(np.int64)
    try:
        return timestamps_ns(column)
    except (TypeError, ValueError, OverflowError) as error:
        raise CofiError(
            f"ratings to train on: timestamp cannot order the ratings ({error})"
        ) from None
