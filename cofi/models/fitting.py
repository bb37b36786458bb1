"""From ratings in matrix coordinates to a trained :class:`~cofi.models.model.Model`."""

from __future__ import annotations

import numpy as np

from cofi.data.checks import infer_scale
from cofi.data.matrices import IndexMap, RatingTriples
from cofi.data.schema import RatingScale
from cofi.errors import CofiError
from cofi.models.config import TrainConfig, check_sequence_weight
from cofi.models.model import Model, seen_csr
from cofi.models.objectives import objective_for
from cofi.models.sequence import build_sequence_graph
from cofi.models.trainer import ProgressCallback, split_validation, train
from cofi.models.warm import warm_start_parameters


def fit_triples(
    triples: RatingTriples,
    movies: IndexMap,
    users: IndexMap,
    config: TrainConfig,
    *,
    scale: RatingScale | None = None,
    callback: ProgressCallback | None = None,
    warm_start: Model | None = None,
    monitor: RatingTriples | None = None,
    timestamps: np.ndarray | None = None,
) -> Model:
    """:func:`cofi.fit` for ratings already in matrix coordinates (raw, not centred).

    ``monitor``: held-out ratings (raw, same coordinates) whose RMSE is recorded per check, for
    an objective that predicts ratings.

    The objective centres the targets; early-stopping ratings are set aside before centring, so
    their own values never leak into the offsets (movie means, global mean) the model keeps.

    ``timestamps``: (n_ratings,) integers aligned with ``triples``; with
    ``config.sequence_weight > 0`` they order each user's ratings for the sequence-neighbour
    graph of the top-N lists (:mod:`cofi.models.sequence`). Without them there is no graph.
    """
    scale = scale or infer_scale(triples.rating)
    objective = objective_for(config)
    check_sequence_weight(config)
    initial = None
    if warm_start is not None:
        if config.validation_fraction > 0:
            # The set-aside ratings are drawn afresh; the starting model trained on most of them.
            raise CofiError(
                "warm_start with validation_fraction > 0 would stop early on ratings the "
                "starting model was trained on; use one or the other"
            )
        initial = warm_start_parameters(warm_start, movies, users, config)
    fit_part, validation = split_validation(triples, config)
    targets, offset = objective.centre(fit_part)
    if validation is not None:
        validation = objective.targets(validation, offset)
    if monitor is not None:
        monitor = objective.targets(monitor, offset) if objective.predicts_ratings else None
    result = train(
        targets,
        config,
        callback=callback,
        validation=validation,
        initial=initial,
        monitor=monitor,
    )
    indptr, seen = seen_csr(triples)
    sequence = None
    if config.sequence_weight > 0 and timestamps is not None:
        sequence = build_sequence_graph(triples, timestamps)
    return Model(
        X=result.X,
        W=result.W,
        b=result.b,
        movie_offset=offset,
        movie_count=np.bincount(triples.movie_index, minlength=triples.n_movies).astype(np.int32),
        movies=movies,
        users=users,
        seen_indptr=indptr,
        seen_movies=seen,
        global_mean=objective.global_fallback(triples.rating),
        scale=scale,
        config=config,
        loss_history=result.loss_history,
        movie_bias=result.movie_bias,
        validation_history=result.validation_history,
        sequence=sequence,
    )
