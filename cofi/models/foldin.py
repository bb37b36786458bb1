"""Fold-in: fit new users into a trained model without retraining it.

The movie side (``X``, the movie biases and offsets) stays fixed; only the new users' rows of
the objective's user-side variables are fitted, by minimizing the model's own cost over their
ratings with the one trainer (:func:`cofi.models.trainer.optimize`). With ``X`` fixed that cost is
a ridge regression per user, so it is convex and Adam reaches the same optimum a closed form
would; tests check both that and that folded-in users are predicted close to a full retrain that
included them.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cofi.data.checks import check_ratings
from cofi.data.matrices import IndexMap, RatingTriples
from cofi.errors import CofiError
from cofi.models.objectives import objective_for
from cofi.models.trainer import Report, Tolerance, objective_batch, optimize

if TYPE_CHECKING:
    from cofi.models.model import Model

logger = logging.getLogger("cofi")

#: Fold-in checks its cost for convergence every this many steps.
CHECK_EVERY = 25


@dataclasses.dataclass(frozen=True)
class FoldInResult:
    """What :func:`fold_in` did.

    Attributes:
        model: the model with the new users added.
        user_ids: the folded-in users.
        steps: Adam steps taken.
        cost: the final cost over the new users' ratings.
        seconds: wall time of the fit (graph tracing included).
        skipped: ratings set aside because the model does not know their movie.
    """

    model: Model
    user_ids: np.ndarray
    steps: int
    cost: float
    seconds: float
    skipped: int = 0


def fold_in(
    model: Model,
    ratings: pd.DataFrame,
    *,
    iterations: int = 300,
    learning_rate: float = 0.1,
    tolerance: float = 1e-7,
    strict: bool = False,
) -> FoldInResult:
    """Add users that were not in training, fitting only their user-side rows.

    Ratings of movies the model never saw cannot move a user's row (the movie has no features):
    they are set aside, with their count in the log and in ``skipped``, as LensKit and implicit
    do; ``strict=True`` refuses them instead.

    Args:
        model: a trained model; it is not modified.
        ratings: ``user_id``, ``movie_id``, ``rating`` of the new users (other columns ignored).
        iterations: at most this many Adam steps.
        learning_rate: Adam's initial rate; it decays by cosine to 1% over ``iterations``.
        tolerance: stop once the cost falls by less than this share over 25 steps.
        strict: refuse ratings of unknown movies rather than set them aside.

    Returns:
        A :class:`FoldInResult` whose ``model`` predicts and recommends for the new users too.

    Raises:
        CofiError: bad ratings (missing columns, values off the model's scale, duplicates),
            users the model already has, movies it does not know (with ``strict``), or no
            rating of a known movie at all.
    """
    import keras
    import tensorflow as tf

    started = time.perf_counter()
    ratings, skipped = _checked(model, ratings, strict)
    new_users = IndexMap.from_ids(ratings["user_id"].to_numpy())
    triples = RatingTriples(
        model.movies.position_of(ratings["movie_id"].to_numpy()).astype(np.int32),
        new_users.position_of(ratings["user_id"].to_numpy()).astype(np.int32),
        ratings["rating"].to_numpy(np.float32),
        model.n_movies,
        len(new_users),
    )
    objective = objective_for(model.config).for_fold_in()
    targets = objective.targets(triples, model.movie_offset)
    objective.prepare_fold_in(targets, int(model.seen_indptr[-1]), model.n_users)
    dtype = tf.as_dtype(model.X.dtype)
    trainable = {
        variable.name: tf.Variable(
            tf.zeros(variable.shape(model.n_movies, len(new_users), model.X.shape[1]), dtype)
        )
        for variable in objective.fold_in_variables()
    }
    params = {"X": tf.constant(model.X), "movie_bias": tf.constant(model.movie_bias), **trainable}
    batch = objective_batch(
        tf.constant(targets.movie_index),
        tf.constant(targets.user_index),
        tf.constant(targets.rating, dtype=dtype),
        tf.constant(1.0, dtype=dtype),
    )
    optimizer = keras.optimizers.Adam(
        # Keras accepts a schedule here; its annotation says float only
        keras.optimizers.schedules.CosineDecay(learning_rate, iterations, alpha=0.01)  # pyright: ignore[reportArgumentType]
    )
    report = Report(iterations, "fold-in step")
    steps = optimize(
        lambda *tensors: objective.cost(params, objective_batch(*tensors)),
        list(trainable.values()),
        optimizer,
        [tuple(batch)],
        epochs=iterations,
        check_every=CHECK_EVERY,
        callbacks=[report, Tolerance(tolerance)],
        jit_compile=False,
        hint="fold-in diverged; try a lower learning_rate",
    )
    W_new = trainable["W"].numpy()
    b_new = (
        trainable["b"].numpy() if "b" in trainable else np.zeros((1, len(new_users)), W_new.dtype)
    )
    extended = model.with_users(new_users, W_new, b_new, triples)
    seconds = time.perf_counter() - started
    logger.info(
        "folded in %d user(s) from %d rating(s) in %d steps, %.2f s",
        len(new_users), len(ratings), steps, seconds,
    )  # fmt: skip
    return FoldInResult(extended, new_users.ids, steps, report.history[-1][1], seconds, skipped)


def _checked(model: Model, ratings: pd.DataFrame, strict: bool) -> tuple[pd.DataFrame, int]:
    """The ratings to fold in, checked, and how many were set aside (unknown movies)."""
    check_ratings(ratings, "to fold in")
    ratings = ratings[["user_id", "movie_id", "rating"]].reset_index(drop=True)
    for column in ("user_id", "movie_id"):
        if not pd.api.types.is_integer_dtype(ratings[column]):
            raise CofiError(f"ratings {column} must be integers, got {ratings[column].dtype}")
    rating = ratings["rating"].to_numpy(np.float64)
    bad = ~model.scale.contains(rating)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise CofiError(
            f"ratings row {row}: rating {rating[row]:g} is not on the model's scale "
            f"({model.scale.describe()})"
        )
    known = np.unique(ratings["user_id"][model.users.position_of(ratings["user_id"]) >= 0])
    if known.size:
        raise CofiError(
            f"user(s) {known[:5].tolist()} are already in the model; fold-in adds new users "
            "(retrain, warm-started, to add ratings of existing users)"
        )
    is_unknown = model.movies.position_of(ratings["movie_id"].to_numpy()) < 0
    if not is_unknown.any():
        return ratings, 0
    unknown = np.unique(ratings["movie_id"][is_unknown])
    what = f"{unknown.size} movie id(s) are not in the model, e.g. {unknown[:5].tolist()}"
    if strict:
        raise CofiError(what)
    if is_unknown.all():
        raise CofiError(f"none of the ratings to fold in is of a movie the model knows: {what}")
    skipped = int(is_unknown.sum())
    logger.warning("fold-in sets aside %d rating(s): %s", skipped, what)
    return ratings[~is_unknown].reset_index(drop=True), skipped
