"""A model's top-k lists beside the popularity baseline's, judged on the same held-out ratings."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cofi.evaluation.metrics import popularity_recommendations, ranking_report

if TYPE_CHECKING:
    from cofi import Model

__all__ = [
    "LIST_METRICS",
    "compare_rankings",
    "format_list_report",
    "format_list_verdict",
    "published_list_report",
]

#: The ranking metrics the published list is judged by, as :func:`ranking_report` names them.
LIST_METRICS = (
    "precision_at_k",
    "recall_at_k",
    "ndcg_at_k",
    "map_at_k",
    "hit_rate_at_k",
    "catalog_coverage",
)


def compare_rankings(
    model: Model,
    train: pd.DataFrame,
    test: pd.DataFrame,
    k: int = 10,
    threshold: float | None = 4.0,
    min_ratings: int = 1,
    min_user_ratings: int = 0,
    rating_model: Model | None = None,
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
        min_user_ratings: users with fewer training ratings (and users ``train`` lacks, when
            at least 1) get the cold-start fallback, as in the published table.
        rating_model: the published table's rating model, whose popular list cold users get
            (:func:`cofi.outputs.recommendations.published_blocks`); None: ``model``'s.

    Returns:
        ``{"model": report, "popularity": report}``, each a
        :func:`cofi.evaluation.metrics.ranking_report` whose ``catalog_coverage`` is over the
        movies with ``min_ratings`` training ratings.
    """
    users = np.unique(test["user_id"].to_numpy())
    if min_user_ratings or rating_model is not None:
        from cofi.outputs.recommendations import published_recommendations

        listed = published_recommendations(
            model,
            users,
            n=k,
            min_ratings=min_ratings,
            min_user_ratings=min_user_ratings,
            rating_model=rating_model,
        )
    else:
        listed = model.recommend(users, n=k, min_ratings=min_ratings)
    lists = {
        "model": listed,
        "popularity": popularity_recommendations(train, users, k, min_ratings=min_ratings),
    }
    counts = train["movie_id"].value_counts()
    n_catalog = int((counts >= max(1, min_ratings)).sum()) or None
    return {
        name: ranking_report(table, test, k=k, threshold=threshold, n_catalog=n_catalog)
        for name, table in lists.items()
    }


def published_list_report(
    model: Model,
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    k: int = 10,
    min_ratings: int = 1,
    min_user_ratings: int = 0,
    rating_model: Model | None = None,
    threshold: float | None = None,
) -> dict:
    """The published list (ranked by ``model``) beside popularity's, and whether it beats it.

    Arguments as :func:`compare_rankings`; by default every held-out movie is relevant.

    Returns:
        A JSON-ready dict: ``k``, ``threshold``, ``list`` and ``popularity`` (each a
        :func:`cofi.evaluation.metrics.ranking_report`), ``improvement`` (each of
        :data:`LIST_METRICS`: the list's relative gain over popularity, (list - popularity) /
        popularity; None where popularity's is 0 or missing) and ``beats_popularity`` (the
        list's P@k and NDCG@k both above popularity's).
    """
    reports = compare_rankings(
        model,
        train,
        test,
        k=k,
        threshold=threshold,
        min_ratings=min_ratings,
        min_user_ratings=min_user_ratings,
        rating_model=rating_model,
    )
    listed, popular = reports["model"], reports["popularity"]
    return {
        "k": int(k),
        "threshold": None if threshold is None else float(threshold),
        "list": listed,
        "popularity": popular,
        "improvement": {
            metric: _relative(listed[metric], popular[metric]) for metric in LIST_METRICS
        },
        "beats_popularity": bool(
            listed["precision_at_k"] > popular["precision_at_k"]
            and listed["ndcg_at_k"] > popular["ndcg_at_k"]
        ),
    }


def _relative(value: float | None, baseline: float | None) -> float | None:
    if value is None or baseline is None or not baseline or np.isnan(baseline):
        return None
    return float((value - baseline) / baseline)


def format_list_verdict(report: dict) -> str:
    """One sentence: whether the published list beats the most-popular list, by P@k."""
    verdict = "beats" if report["beats_popularity"] else "does not beat"
    k = report["k"]
    mine, theirs = report["list"]["precision_at_k"], report["popularity"]["precision_at_k"]
    gain = report["improvement"]["precision_at_k"]
    change = f" ({gain:+.0%})" if gain is not None else ""
    return (
        f"The published list {verdict} the most-popular list: "
        f"P@{k} {mine:.3f} vs {theirs:.3f}{change}"
    )


def format_list_report(report: dict) -> str:
    """A plain-text table of a :func:`published_list_report`, then its verdict."""
    k = report["k"]
    relevant = (
        "every held-out movie"
        if report["threshold"] is None
        else f"rated >= {report['threshold']:g}"
    )
    header = ["P", "R", "NDCG", "MAP", "hit"]
    lines = [
        f"published list vs popularity on the held-out ratings (relevant: {relevant}), k={k}",
        f"{'':<12}" + "".join(f"{name + '@' + str(k):>9}" for name in header) + f"{'coverage':>10}",
    ]
    for name in ("list", "popularity"):
        values = report[name]
        lines.append(
            f"{name:<12}"
            + "".join(f"{values[metric]:>9.4f}" for metric in LIST_METRICS[:5])
            + f"{values['catalog_coverage'] or 0.0:>10.4f}"
        )
    gains = report["improvement"]
    lines.append(
        f"{'change':<12}"
        + "".join(
            f"{gains[metric]:>+9.0%}" if gains[metric] is not None else f"{'-':>9}"
            for metric in LIST_METRICS
        )
    )
    lines.append(format_list_verdict(report))
    return "\n".join(lines)
