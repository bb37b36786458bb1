"""Warm starts: begin training from a previous model's parameters instead of from noise.

When new ratings arrive, most movies and users are the same as yesterday's. Their rows of X, W
and the biases start where the last model left them; new movies and users get the usual seeded
random rows (:func:`cofi.models.training.initial_parameters`). The optimizer itself starts afresh.
"""

from __future__ import annotations

import numpy as np

from cofi.data.matrices import IndexMap
from cofi.errors import CofiError
from cofi.models.config import TrainConfig
from cofi.models.model import Model
from cofi.models.training import initial_parameters


def check_warm_start(model: Model, config: TrainConfig) -> None:
    """Raise :class:`CofiError` unless ``model`` can seed training with ``config``.

    The objective and ``n_features`` must match. ``svdpp`` is refused: a saved SVD++ model holds
    ``W`` with the implicit-feedback term already added, so it cannot be split back apart.
    """
    previous = model.config
    if previous.objective != config.objective or previous.n_features != config.n_features:
        raise CofiError(
            f"cannot warm-start a {config.objective!r} model with {config.n_features} features "
            f"from model {model.model_id} ({previous.objective!r}, {previous.n_features} features)"
        )
    if config.objective == "svdpp":
        raise CofiError(
            "warm start does not support objective 'svdpp': its saved W includes the implicit term"
        )


def warm_start_parameters(
    model: Model, movies: IndexMap, users: IndexMap, config: TrainConfig
) -> dict[str, np.ndarray]:
    """Initial ``X, W, b, movie_bias`` for ``movies`` x ``users`` taken from ``model`` by id.

    Args:
        model: the previous model.
        movies: the new training run's movie index.
        users: the new training run's user index.
        config: the new run's hyperparameters (seed, init_scale, dtype for the fresh rows).

    Returns:
        Arrays shaped for the new index: ``X: (n_movies, n_features)``, ``W: (n_users,
        n_features)``, ``b: (1, n_users)``, ``movie_bias: (n_movies,)``.
    """
    check_warm_start(model, config)
    values = initial_parameters(config, len(movies), len(users))
    movie_from = model.movies.position_of(movies.ids)
    kept_movies = movie_from >= 0
    values["X"][kept_movies] = model.X[movie_from[kept_movies]]
    values["movie_bias"][kept_movies] = model.movie_bias[movie_from[kept_movies]]
    user_from = model.users.position_of(users.ids)
    kept_users = user_from >= 0
    values["W"][kept_users] = model.W[user_from[kept_users]]
    values["b"][0, kept_users] = model.b[0, user_from[kept_users]]
    values.pop("implicit", None)
    return values


def overlap(model: Model, movies: IndexMap, users: IndexMap) -> dict[str, int]:
    """How many of the new index's movies and users the previous model already had."""
    return {
        "movies_kept": int((model.movies.position_of(movies.ids) >= 0).sum()),
        "movies_new": int((model.movies.position_of(movies.ids) < 0).sum()),
        "users_kept": int((model.users.position_of(users.ids) >= 0).sum()),
        "users_new": int((model.users.position_of(users.ids) < 0).sum()),
    }
