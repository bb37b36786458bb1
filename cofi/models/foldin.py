"""Fold-in: fit new users into a trained model without retraining it.

The movie side (``X``, the movie biases and offsets) stays fixed; only the new users' ``w_j`` and
``b_j`` are fitted, by minimizing the model's own cost (:mod:`cofi.models.objectives`) over their ratings
with ``tf.GradientTape`` and Adam. With ``X`` fixed that cost is a ridge regression per user, so
it is convex and Adam reaches the same optimum a closed form would; tests check both that and
that folded-in users are predicted close to a full retrain that included them.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np
import pandas as pd

from cofi.data.matrices import IndexMap, RatingTriples
from cofi.errors import CofiError
from cofi.models.model import Model

logger = logging.getLogger("cofi")


@dataclasses.dataclass(frozen=True)
class FoldInResult:
    """What :func:`fold_in` did.

    Attributes:
        model: the model with the new users added.
        user_ids: the folded-in users.
        steps: Adam steps taken.
        cost: the final cost over the new users' ratings.
        seconds: wall time of the fit (graph tracing included).
    """

    model: Model
    user_ids: np.ndarray
    steps: int
    cost: float
    seconds: float


def fold_in(
    model: Model,
    ratings: pd.DataFrame,
    *,
    iterations: int = 300,
    learning_rate: float = 0.1,
    tolerance: float = 1e-7,
) -> FoldInResult:
    """Add users that were not in training, fitting only their ``W`` rows and biases.

    Args:
        model: a trained model; it is not modified.
        ratings: ``user_id``, ``movie_id``, ``rating`` of the new users (other columns ignored).
        iterations: at most this many Adam steps.
        learning_rate: Adam's initial rate; it decays by cosine to 1% over ``iterations``.
        tolerance: stop once the cost falls by less than this share over 25 steps.

    Returns:
        A :class:`FoldInResult` whose ``model`` predicts and recommends for the new users too.

    Raises:
        CofiError: bad ratings (missing columns, values off the model's scale, duplicates),
            users the model already has, or movies it does not know.
    """
    import keras
    import tensorflow as tf

    from cofi.api import recentre
    from cofi.models import objectives as variants

    started = time.perf_counter()
    ratings = _checked(model, ratings)
    new_users = IndexMap.from_ids(ratings["user_id"].to_numpy())
    triples = RatingTriples(
        model.movies.position_of(ratings["movie_id"].to_numpy()).astype(np.int32),
        new_users.position_of(ratings["user_id"].to_numpy()).astype(np.int32),
        ratings["rating"].to_numpy(np.float32),
        model.n_movies,
        len(new_users),
    )
    config = model.config
    # svdpp's saved W already holds its implicit term: a new user's W is fitted as in `biased`.
    objective = "biased" if config.objective == "svdpp" else config.objective
    targets = recentre(triples, model.movie_mean, objective)
    dtype = tf.as_dtype(model.X.dtype)
    n_features = model.X.shape[1]
    params = {
        "X": tf.constant(model.X),
        "movie_bias": tf.constant(model.movie_bias),
        "W": tf.Variable(tf.zeros((len(new_users), n_features), dtype=dtype)),
        "b": tf.Variable(tf.zeros((1, len(new_users)), dtype=dtype)),
    }
    trained = [params["W"], params["b"]] if "b" in variants.VARIANTS[objective].variables else []
    if not trained:
        trained = [params["W"]]
    movie_index = tf.constant(targets.movie_index)
    user_index = tf.constant(targets.user_index)
    rating = tf.constant(targets.rating, dtype=dtype)
    optimizer = keras.optimizers.Adam(
        keras.optimizers.schedules.CosineDecay(learning_rate, iterations, alpha=0.01)
    )

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            cost = variants.sparse_cost(
                objective,
                params,
                movie_index,
                user_index,
                rating,
                lambda_=config.lambda_,
                weight=1.0,
                regularization=config.regularization,
                unobserved_weight=config.unobserved_weight,
            )
        gradients = tape.gradient(cost, trained)
        optimizer.apply_gradients(zip(gradients, trained, strict=True))
        return cost

    check_every, previous, steps, cost = 25, np.inf, 0, np.inf
    for steps in range(1, iterations + 1):
        cost = float(step())
        if not np.isfinite(cost):
            raise CofiError(f"fold-in diverged (cost {cost}); try a lower learning_rate")
        if steps % check_every == 0:
            if previous - cost < tolerance * abs(previous):
                break
            previous = cost
    W_new, b_new = params["W"].numpy(), params["b"].numpy()
    if objective == "ranking":
        b_new = np.zeros_like(b_new)
    extended = _with_users(model, new_users, W_new, b_new, triples)
    seconds = time.perf_counter() - started
    logger.info(
        "folded in %d user(s) from %d rating(s) in %d steps, %.2f s",
        len(new_users),
        len(ratings),
        steps,
        seconds,
    )
    return FoldInResult(extended, new_users.ids, steps, cost, seconds)


def _checked(model: Model, ratings: pd.DataFrame) -> pd.DataFrame:
    from cofi.api import check_ratings

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
    unknown = np.unique(ratings["movie_id"][model.movies.position_of(ratings["movie_id"]) < 0])
    if unknown.size:
        raise CofiError(
            f"{unknown.size} movie id(s) are not in the model, e.g. {unknown[:5].tolist()}"
        )
    return ratings


def _with_users(
    model: Model, new_users: IndexMap, W_new: np.ndarray, b_new: np.ndarray, new: RatingTriples
) -> Model:
    """``model`` with the rows of ``new_users`` added to W, b and the seen-movies index."""
    users = IndexMap.from_ids(np.concatenate([model.users.ids, new_users.ids]))
    old_rows = users.position_of(model.users.ids)
    new_rows = users.position_of(new_users.ids)
    W = np.empty((len(users), model.W.shape[1]), dtype=model.W.dtype)
    b = np.empty((1, len(users)), dtype=model.b.dtype)
    W[old_rows], W[new_rows] = model.W, W_new
    b[0, old_rows], b[0, new_rows] = model.b[0], b_new[0]
    # The seen-movies CSR, rebuilt over the merged user order.
    old_user_of = np.repeat(old_rows, np.diff(model.seen_indptr))
    user_of = np.concatenate([old_user_of, new_rows[new.user_index]])
    movie_of = np.concatenate([model.seen_movies, new.movie_index.astype(np.int32)])
    order = np.argsort(user_of, kind="stable")
    indptr = np.zeros(len(users) + 1, dtype=np.int64)
    np.cumsum(np.bincount(user_of, minlength=len(users)), out=indptr[1:])
    return dataclasses.replace(
        model,
        W=W,
        b=b,
        users=users,
        seen_indptr=indptr,
        seen_movies=movie_of[order],
        model_id="",
    )
