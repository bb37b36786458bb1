"""Warm starts: begin training from a previous model's parameters instead of from noise.

When new ratings arrive, most movies and users are the same as yesterday's. Their rows of X, W
and the biases start where the last model left them; new movies and users get the objective's
usual seeded random rows. The optimizer itself starts afresh.
"""

from __future__ import annotations

import numpy as np

from cofi.data.matrices import IndexMap
from cofi.errors import CofiError
from cofi.models.config import TrainConfig
from cofi.models.model import Model
from cofi.models.objectives import objective_for


def check_warm_start(model: Model, config: TrainConfig) -> None:
    """Raise :class:`CofiError` unless ``model`` can seed training with ``config``.

    The objective and ``n_features`` must match, and the objective must keep its variables
    apart in a saved model (SVD++ saves ``W`` with its implicit term already added).
    """
    previous = model.config
    if previous.objective != config.objective or previous.n_features != config.n_features:
        raise CofiError(
            f"cannot warm-start a {config.objective!r} model with {config.n_features} features "
            f"from model {model.model_id} ({previous.objective!r}, {previous.n_features} features)"
        )
    if not objective_for(config).warm_starts:
        raise CofiError(
            f"warm start does not support objective {config.objective!r}: its saved W includes "
            "terms that cannot be split apart again"
        )


def warm_start_parameters(
    model: Model, movies: IndexMap, users: IndexMap, config: TrainConfig
) -> dict[str, np.ndarray]:
    """Initial values of the objective's variables for ``movies`` x ``users``, from ``model``.

    Rows of movies and users the model knows are copied by id; the rest are the objective's
    seeded initial values.

    Args:
        model: the previous model.
        movies: the new training run's movie index.
        users: the new training run's user index.
        config: the new run's hyperparameters (seed, init_scale, dtype for the fresh rows).

    Returns:
        Arrays by variable name, shaped for the new index.
    """
    check_warm_start(model, config)
    objective = objective_for(config)
    values = objective.initial_values(len(movies), len(users))
    saved = {"X": model.X, "W": model.W, "b": model.b, "movie_bias": model.movie_bias}
    sides = {
        "movie": model.movies.position_of(movies.ids),
        "user": model.users.position_of(users.ids),
    }
    for variable in objective.variables:
        source = saved.get(variable.name)
        if source is None:
            continue
        origin = sides[variable.side]
        kept = origin >= 0
        if variable.side == "user" and variable.kind == "bias":  # (1, n_users)
            values[variable.name][0, kept] = source[0, origin[kept]]
        else:
            values[variable.name][kept] = source[origin[kept]]
    return values
