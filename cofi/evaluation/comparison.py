"""A model's top-k lists beside the popularity baseline's, judged on the same held-out ratings."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cofi.evaluation.metrics import popularity_recommendations, ranking_report

if TYPE_CHECKING:
    from cofi import Model

__all__ = ["compare_rankings"]


def compare_rankings(
    model: Model,
    train: pd.DataFrame,
    test: pd.DataFrame,
    k: int = 10,
    threshold: float | None = 4.0,
    min_ratings: int = 1,
) -> dict[str, dict]:
    """Ranking metrics of ``model`` and of the popularity baseline for every held-out user.

    Args:
        model: a model fitted on ``train``.
        train: its training ratings, ``user_id`` and ``movie_id`` (the baseline counts them).
        test: held-out ratings, ``user_id``, ``movie_id`` and ``rating``.
        k: list length.
        threshold: a held-out rating this high is relevant (see
            :func:`cofi.evaluation.metrics.relevant_items`).
        min_ratings: training ratings a movie needs to be listed, for both.

    Returns:
        ``{"model": report, "popularity": report}``, each a
        :func:`cofi.evaluation.metrics.ranking_report`.
    """
    users = np.unique(test["user_id"].to_numpy())
    lists = {
        "model": model.recommend(users, n=k, min_ratings=min_ratings),
        "popularity": popularity_recommendations(train, users, k, min_ratings=min_ratings),
    }
    return {
        name: ranking_report(table, test, k=k, threshold=threshold) for name, table in lists.items()
    }
