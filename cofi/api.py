"""The public entry point: ``cofi.fit(ratings, ...) -> Model``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cofi.data.matrices import IndexMap, RatingTriples, build_triples, normalize_triples
from cofi.data.schema import RatingScale
from cofi.errors import CofiError
from cofi.models.config import TrainConfig, make_config
from cofi.models.model import Model, seen_csr
from cofi.models.training import ProgressCallback, split_validation, train
from cofi.models.warm import warm_start_parameters


def infer_scale(rating: np.ndarray) -> RatingScale:
    """The scale observed ratings lie on: their range, in half or whole steps."""
    if len(rating) == 0:
        raise CofiError("no ratings")
    if float(rating.min()) == float(rating.max()):
        raise CofiError(
            f"all {len(rating):,} ratings equal {float(rating.min()):g}, so no rating scale can be "
            "inferred; pass scale=cofi.RatingScale(minimum, maximum, step)"
        )
    fractional = not np.allclose(rating, np.round(rating))
    return RatingScale(float(rating.min()), float(rating.max()), 0.5 if fractional else 1.0)


def check_ratings(ratings: pd.DataFrame, purpose: str) -> None:
    """Raise :class:`CofiError` unless ``ratings`` is a usable ratings table.

    It must be a DataFrame with ``user_id``, ``movie_id`` and ``rating``, at least one row, no
    missing rating and no (user, movie) pair twice; errors name the first bad row by position.

    Args:
        ratings: the table.
        purpose: what the ratings are for, for the message of an empty table ("to train on").
    """
    if not isinstance(ratings, pd.DataFrame):
        raise CofiError(f"ratings must be a pandas DataFrame, got {type(ratings).__name__}")
    missing = {"user_id", "movie_id", "rating"} - set(ratings.columns)
    if missing:
        raise CofiError(
            f"ratings lacks column(s) {sorted(missing)}; it has {list(ratings.columns)}"
        )
    if ratings.empty:
        raise CofiError(f"no ratings {purpose}")
    absent = ratings["rating"].isna().to_numpy()
    if absent.any():
        raise CofiError(
            f"ratings row {int(np.flatnonzero(absent)[0])}: missing rating "
            f"({int(absent.sum())} missing rating value(s) in all)"
        )
    duplicated = ratings.duplicated(["user_id", "movie_id"]).to_numpy()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        raise CofiError(
            f"ratings row {row}: user {ratings['user_id'].iloc[row]} rates movie "
            f"{ratings['movie_id'].iloc[row]} twice ({int(duplicated.sum())} duplicate pair(s))"
        )


def fit(
    ratings: pd.DataFrame,
    config: TrainConfig | None = None,
    *,
    scale: RatingScale | None = None,
    movie_ids: np.ndarray | None = None,
    callback: ProgressCallback | None = None,
    warm_start: Model | None = None,
    **hyperparameters,
) -> Model:
    """Train a collaborative-filtering model on a ratings table.

    The ratings are centred as the objective asks (per-movie means for the lab's cost, the global
    mean for the default biased MF; see :mod:`cofi.models.objectives`), then the parameters are fitted
    by Adam on that cost with TensorFlow's autodiff.

    Args:
        ratings: a DataFrame with ``user_id``, ``movie_id`` and ``rating`` (other columns are
            ignored), one row per (user, movie).
        config: a full :class:`~cofi.models.config.TrainConfig` (``cofi.LAB_CONFIG`` for the lab's
            settings); keywords override its fields.
        scale: the rating scale predictions are clipped to; inferred from the ratings if omitted.
        movie_ids: every movie the index should hold (default: the rated ones). Movies without
            ratings get rows but are never recommended.
        callback: receives ``(iteration, iterations, loss)`` as training goes.
        warm_start: a previous model (same objective and ``n_features``) to start from: movies
            and users it knows begin at its parameters, new ones at seeded random values. With
            ``tolerance`` set, training stops once converged, in fewer steps than from scratch.
        **hyperparameters: any :class:`~cofi.models.config.TrainConfig` field: ``n_features``,
            ``lambda_``, ``learning_rate``, ``iterations``, ``seed``, ``init_scale``, ``dtype``,
            ``method``, ``log_every``. Unknown names or bad values raise :class:`CofiError`.

    Returns:
        The trained :class:`~cofi.models.model.Model`.
    """
    config = make_config(config, hyperparameters, warm_start=warm_start is not None)
    check_ratings(ratings, "to train on")
    movies = None
    if movie_ids is not None:
        movies = IndexMap.from_ids(
            np.concatenate([ratings["movie_id"].to_numpy(), np.asarray(movie_ids)])
        )
    triples, movies, users = build_triples(ratings, movies=movies)
    return fit_triples(
        triples, movies, users, config, scale=scale, callback=callback, warm_start=warm_start
    )


def fit_triples(
    triples: RatingTriples,
    movies: IndexMap,
    users: IndexMap,
    config: TrainConfig,
    *,
    scale: RatingScale | None = None,
    callback: ProgressCallback | None = None,
    warm_start: Model | None = None,
) -> Model:
    """:func:`fit` for ratings already in matrix coordinates (raw, not normalized)."""
    scale = scale or infer_scale(triples.rating)
    initial = None
    if warm_start is not None and config.validation_fraction > 0:
        # The set-aside ratings are drawn afresh; the starting model has trained on most of them.
        raise CofiError(
            "warm_start with validation_fraction > 0 would stop early on ratings the starting "
            "model was trained on; use one or the other"
        )
    if warm_start is not None:
        initial = warm_start_parameters(warm_start, movies, users, config)
    # Early-stopping ratings are set aside before centring, so their own values never leak into
    # the movie means (or global mean) the model is centred on.
    fit_part, validation = split_validation(triples, config)
    targets, offset = centre_targets(fit_part, config.objective)
    if validation is not None:
        validation = recentre(validation, offset, config.objective)
    result = train(targets, config, callback=callback, validation=validation, initial=initial)
    indptr, seen = seen_csr(triples)
    return Model(
        X=result.X,
        W=result.W,
        b=result.b,
        movie_mean=offset,
        movie_count=np.bincount(triples.movie_index, minlength=triples.n_movies).astype(np.int32),
        movies=movies,
        users=users,
        seen_indptr=indptr,
        seen_movies=seen,
        # A ranking model scores preference, not stars: its fallback score is 0 (unknown).
        global_mean=0.0
        if config.objective == "ranking"
        else float(np.mean(triples.rating, dtype=np.float64)),
        scale=scale,
        config=config,
        loss_history=result.loss_history,
        movie_bias=result.movie_bias,
    )


def recentre(triples: RatingTriples, offset: np.ndarray, objective: str) -> RatingTriples:
    """Centre ``triples`` by an offset learned elsewhere, as :func:`centre_targets` would."""
    from cofi.models.objectives import VARIANTS

    if VARIANTS[objective].centring == "none":
        rating = np.ones_like(triples.rating, dtype=np.float32)
    else:
        rating = (triples.rating - offset[triples.movie_index]).astype(np.float32)
    return RatingTriples(
        triples.movie_index, triples.user_index, rating, triples.n_movies, triples.n_users
    )


def centre_targets(triples: RatingTriples, objective: str) -> tuple[RatingTriples, np.ndarray]:
    """The training targets of ``objective`` and the per-movie offset added back to predictions.

    ``lab``: ratings minus each movie's mean (:func:`cofi.data.matrices.normalize_triples`);
    ``biased``/``svdpp``: ratings minus the global mean; ``ranking``: 1 for every rating.
    """
    from cofi.models.objectives import VARIANTS

    centring = VARIANTS[objective].centring
    if centring == "movie_mean":
        return normalize_triples(triples)
    if centring == "global_mean":
        mean = float(np.mean(triples.rating, dtype=np.float64))
        offset = np.full(triples.n_movies, mean, dtype=np.float32)
        rating = (triples.rating - mean).astype(np.float32)
    else:
        offset = np.zeros(triples.n_movies, dtype=np.float32)
        rating = np.ones_like(triples.rating, dtype=np.float32)
    centred = RatingTriples(
        triples.movie_index, triples.user_index, rating, triples.n_movies, triples.n_users
    )
    return centred, offset
