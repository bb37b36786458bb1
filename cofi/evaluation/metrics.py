"""Ranking metrics of top-k recommendation lists against held-out ratings, and a popularity baseline.

The protocol, stated once:

- **Relevance.** A movie is relevant to a user when it is among the user's held-out (test)
  ratings, or, with a ``threshold``, among those rated ``>= threshold`` (:func:`relevant_items`).
- **Lists.** ``recommendations`` has one row per (user, rank) as :meth:`cofi.models.model.Model.recommend`
  returns it: ``user_id``, ``rank`` (1 = best) and ``movie_id``. Only rows with ``rank <= k``
  count, and a rank's value is its position (ranks are 1..n without gaps in cofi's lists).
- **Users averaged over.** Every user with at least one relevant item, and only those: a user
  with no relevant item can score no hit, so counting them would only scale every metric down by
  the share of such users. A user with relevant items but no recommendation rows scores 0 on
  every metric, so a recommender cannot look better by leaving hard users out; pass lists for
  every user you evaluate.

For a user with ``n_relevant`` relevant items and ``hit_i`` = 1 when the item at rank ``i`` is
relevant (ranks ``1..k``):

    precision@k = sum(hit_i) / k                      (a list shorter than k is not excused)
    recall@k    = sum(hit_i) / n_relevant             (the plain count, not min(k, n_relevant))
    DCG@k       = sum(hit_i / log2(i + 1))            (binary gains)
    nDCG@k      = DCG@k / sum over i = 1..min(k, n_relevant) of 1 / log2(i + 1)
    AP@k        = sum(hit_i * precision@i) / min(k, n_relevant)
    hit@k       = 1 if any hit_i else 0

MAP@k and hit rate are the means of AP@k and hit@k over the users above. Catalog coverage is the
number of distinct movies in all lists over the number of candidate movies.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from cofi.data.schema import require_columns
from cofi.evaluation.holdout import mae, rmse

__all__ = [
    "catalog_coverage",
    "hit_rate_at_k",
    "map_at_k",
    "ndcg_at_k",
    "per_user_ranking_metrics",
    "popularity_recommendations",
    "precision_at_k",
    "ranking_report",
    "rating_report",
    "recall_at_k",
    "relevant_items",
]

_INT32 = np.iinfo(np.int32)

#: Popularity lists are built for blocks of users holding about this many candidate rows.
POPULARITY_BLOCK_ROWS = 1 << 22


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def _pair_keys(user_ids: np.ndarray, movie_ids: np.ndarray) -> np.ndarray:
    """(n,) int64 keys, one per (user, movie) pair: a bijection on pairs of int32 ids."""
    for name, ids in (("user_id", user_ids), ("movie_id", movie_ids)):
        if len(ids) and (ids.min() < _INT32.min or ids.max() > _INT32.max):
            raise ValueError(f"{name} values must fit in int32")
    return (user_ids.astype(np.int64) << 32) | (movie_ids.astype(np.int64) & 0xFFFFFFFF)


def _split_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (user, movie) int64 id arrays back from :func:`_pair_keys`."""
    return keys >> 32, (keys & 0xFFFFFFFF).astype(np.uint32).view(np.int32).astype(np.int64)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    # np.unique hashes in NumPy 2.3+, which is several times slower than a sort on int64 keys.
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


def _in_dtype_of(values: np.ndarray, column: pd.Series) -> pd.Series:
    """``values`` cast to ``column``'s dtype, which may be a pandas extension dtype."""
    return pd.Series(values, copy=False).astype(column.dtype, copy=False)


def _member_of(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """(n,) bool: is each of ``values`` in the sorted, duplicate-free ``sorted_set``."""
    if len(sorted_set) == 0:
        return np.zeros(len(values), bool)
    at = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[at] == values


def relevant_items(test: pd.DataFrame, threshold: float | None = None) -> pd.DataFrame:
    """The held-out movies that count as relevant to each user.

    Args:
        test: held-out ratings with ``user_id``, ``movie_id`` and, with a threshold, ``rating``.
        threshold: None: every held-out movie is relevant (the user chose to watch and rate it);
            a number: only those rated ``>= threshold`` (e.g. 4 on a 5-star scale: "liked").

    Returns:
        A DataFrame with ``user_id`` and ``movie_id``, one row per relevant (user, movie) pair,
        sorted by user then movie. Users with no relevant movie have no rows.
    """
    require_columns(test, ("user_id", "movie_id"), "test")
    if threshold is not None:
        require_columns(test, ("rating",), "test")
        test = test.loc[test["rating"].to_numpy() >= threshold]
    keys = _sorted_unique(_pair_keys(test["user_id"].to_numpy(), test["movie_id"].to_numpy()))
    user_ids, movie_ids = _split_keys(keys)
    return pd.DataFrame(
        {
            "user_id": _in_dtype_of(user_ids, test["user_id"]),
            "movie_id": _in_dtype_of(movie_ids, test["movie_id"]),
        }
    )


def per_user_ranking_metrics(
    recommendations: pd.DataFrame, relevant: pd.DataFrame, k: int = 10
) -> pd.DataFrame:
    """Each metric of the module docstring for every user with at least one relevant item.

    Args:
        recommendations: ``user_id``, ``rank`` (1 = best), ``movie_id``; one row per (user,
            rank), no movie twice in a user's list.
        relevant: ``user_id``, ``movie_id`` pairs, as :func:`relevant_items` returns them.
        k: length of the lists judged; rows with ``rank > k`` are ignored.

    Returns:
        One row per user with a relevant item, sorted by user: ``user_id``, ``n_relevant``,
        ``n_hits``, ``precision``, ``recall``, ``ndcg``, ``average_precision`` and ``hit``.
    """
    _check_k(k)
    require_columns(recommendations, ("user_id", "rank", "movie_id"), "recommendations")
    require_columns(relevant, ("user_id", "movie_id"), "relevant")
    rank: np.ndarray = recommendations["rank"].to_numpy()
    if len(rank) and rank.min() < 1:
        raise ValueError(f"recommendation ranks start at 1, got {rank.min()}")
    top = recommendations.loc[rank <= k, ["user_id", "rank", "movie_id"]]
    if top.duplicated(["user_id", "rank"]).any() or top.duplicated(["user_id", "movie_id"]).any():
        raise ValueError("recommendations repeat a rank or a movie within one user's list")

    relevant_keys = _sorted_unique(
        _pair_keys(relevant["user_id"].to_numpy(), relevant["movie_id"].to_numpy())
    )
    relevant_users = relevant_keys >> 32
    starts = np.flatnonzero(np.r_[True, relevant_users[1:] != relevant_users[:-1]])
    users = relevant_users[starts] if len(relevant_keys) else relevant_users
    n_relevant = np.diff(np.r_[starts, len(relevant_keys)]) if len(relevant_keys) else users
    top_users = top["user_id"].to_numpy()
    top_rank = top["rank"].to_numpy().astype(np.int64)
    is_hit = _member_of(_pair_keys(top_users, top["movie_id"].to_numpy()), relevant_keys)

    # Hits only: the cumulative hit count at each hit's rank gives precision@rank for AP.
    hit_users, hit_rank = top_users[is_hit].astype(np.int64), top_rank[is_hit]
    order = np.lexsort((hit_rank, hit_users))
    hit_users, hit_rank = hit_users[order], hit_rank[order]
    row = np.searchsorted(users, hit_users)
    n_hits = np.bincount(row, minlength=len(users))
    first_hit = np.r_[0, np.cumsum(n_hits)[:-1]]
    hits_so_far = np.arange(1, len(row) + 1) - first_hit[row]
    dcg = np.bincount(row, weights=1.0 / np.log2(hit_rank + 1.0), minlength=len(users))
    precision_sum = np.bincount(row, weights=hits_so_far / hit_rank, minlength=len(users))

    discount = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    ideal_length = np.minimum(k, n_relevant)
    ideal_dcg = np.cumsum(discount)[ideal_length - 1]
    return pd.DataFrame(
        {
            "user_id": _in_dtype_of(users, relevant["user_id"]),
            "n_relevant": n_relevant,
            "n_hits": n_hits,
            "precision": n_hits / k,
            "recall": n_hits / n_relevant,
            "ndcg": dcg / ideal_dcg,
            "average_precision": precision_sum / ideal_length,
            "hit": n_hits > 0,
        }
    )


def _mean(values: pd.Series) -> float:
    # No user with a relevant item: there is nothing to average, which is not a score of 0.
    return float(values.mean()) if len(values) else float("nan")


def precision_at_k(recommendations: pd.DataFrame, relevant: pd.DataFrame, k: int = 10) -> float:
    """Mean over users with a relevant item of (hits in the top k) / k."""
    return _mean(per_user_ranking_metrics(recommendations, relevant, k)["precision"])


def recall_at_k(recommendations: pd.DataFrame, relevant: pd.DataFrame, k: int = 10) -> float:
    """Mean over users with a relevant item of (hits in the top k) / (their relevant items)."""
    return _mean(per_user_ranking_metrics(recommendations, relevant, k)["recall"])


def ndcg_at_k(recommendations: pd.DataFrame, relevant: pd.DataFrame, k: int = 10) -> float:
    """Mean nDCG@k with binary gains, log2 discount and an ideal list of min(k, n_relevant)."""
    return _mean(per_user_ranking_metrics(recommendations, relevant, k)["ndcg"])


def map_at_k(recommendations: pd.DataFrame, relevant: pd.DataFrame, k: int = 10) -> float:
    """MAP@k: mean over users of sum(precision@i at each hit rank i) / min(k, n_relevant)."""
    return _mean(per_user_ranking_metrics(recommendations, relevant, k)["average_precision"])


def hit_rate_at_k(recommendations: pd.DataFrame, relevant: pd.DataFrame, k: int = 10) -> float:
    """Share of users with a relevant item who find at least one in their top k."""
    return _mean(per_user_ranking_metrics(recommendations, relevant, k)["hit"])


def catalog_coverage(recommendations: pd.DataFrame, n_catalog: int, k: int | None = None) -> float:
    """Distinct movies recommended (in the top ``k`` when given) over ``n_catalog`` candidates.

    Args:
        recommendations: ``movie_id`` (and ``rank`` when ``k`` is given) of every list.
        n_catalog: number of movies that could have been recommended, e.g. the movies with
            ``min_ratings`` training ratings.
        k: judge only ranks ``1..k``; None: every row.
    """
    if n_catalog < 1:
        raise ValueError(f"n_catalog must be at least 1, got {n_catalog}")
    if k is not None:
        _check_k(k)
        recommendations = recommendations.loc[recommendations["rank"].to_numpy() <= k]
    n_distinct = recommendations["movie_id"].nunique()
    if n_distinct > n_catalog:
        raise ValueError(
            f"{n_distinct} distinct movies were recommended, more than n_catalog={n_catalog}"
        )
    return n_distinct / n_catalog


def ranking_report(
    recommendations: pd.DataFrame,
    test: pd.DataFrame,
    k: int = 10,
    threshold: float | None = None,
    n_catalog: int | None = None,
) -> dict:
    """Every ranking metric of ``recommendations`` against the held-out ``test`` ratings.

    Args:
        recommendations: ``user_id``, ``rank``, ``movie_id`` (as Model.recommend returns them).
        test: held-out ratings, ``user_id``, ``movie_id`` and ``rating``.
        k: length of the lists judged.
        threshold: relevance rule of :func:`relevant_items`.
        n_catalog: number of candidate movies, for ``catalog_coverage`` (None leaves it out).

    Returns:
        A JSON-ready dict: ``k``, ``threshold``, ``n_users`` (users averaged over: those with a
        relevant item), ``n_users_without_recommendations`` (of those, the ones with no list),
        ``precision_at_k``, ``recall_at_k``, ``ndcg_at_k``, ``map_at_k``, ``hit_rate_at_k`` and
        ``catalog_coverage`` (None without ``n_catalog``). Metrics are NaN when no user has a
        relevant item.
    """
    per_user = per_user_ranking_metrics(recommendations, relevant_items(test, threshold), k)
    listed = _member_of(
        per_user["user_id"].to_numpy().astype(np.int64),
        _sorted_unique(recommendations["user_id"].to_numpy().astype(np.int64)),
    )
    return {
        "k": int(k),
        "threshold": None if threshold is None else float(threshold),
        "n_users": int(len(per_user)),
        "n_users_without_recommendations": int((~listed).sum()),
        "precision_at_k": _mean(per_user["precision"]),
        "recall_at_k": _mean(per_user["recall"]),
        "ndcg_at_k": _mean(per_user["ndcg"]),
        "map_at_k": _mean(per_user["average_precision"]),
        "hit_rate_at_k": _mean(per_user["hit"]),
        "catalog_coverage": (
            None if n_catalog is None else catalog_coverage(recommendations, n_catalog, k)
        ),
    }


def rating_report(actual, predicted) -> dict:
    """RMSE and MAE of predicted ratings, with the number of ratings ``n``.

    Args:
        actual: (n,) held-out ratings.
        predicted: (n,) predictions for the same (user, movie) pairs.
    """
    actual = np.asarray(actual, np.float64).reshape(-1)
    predicted = np.asarray(predicted, np.float64).reshape(-1)
    if actual.shape != predicted.shape:
        raise ValueError(
            f"actual {actual.shape} and predicted {predicted.shape} must have the same length"
        )
    if len(actual) == 0:
        raise ValueError("no ratings to compare")
    return {"n": int(len(actual)), "rmse": rmse(actual, predicted), "mae": mae(actual, predicted)}


def popularity_recommendations(
    train: pd.DataFrame, user_ids: Iterable[int], k: int = 10, min_ratings: int = 1
) -> pd.DataFrame:
    """The baseline lists: the ``k`` most-rated training movies each user has not rated.

    Popularity is the number of training ratings; ties go to the smaller movie id, so lists are
    deterministic. Only movies with at least ``min_ratings`` training ratings are candidates, as
    in :meth:`cofi.models.model.Model.recommend`. A user unknown to ``train`` gets the overall top
    ``k``; a user who has rated nearly every candidate gets a shorter list.

    Args:
        train: training ratings with ``user_id`` and ``movie_id``.
        user_ids: the users to recommend for; repeats are dropped, first occurrence kept.
        k: list length.
        min_ratings: training ratings a movie needs to be recommended.

    Returns:
        ``user_id`` (int32), ``rank`` (int16, 1..k) and ``movie_id`` (int32), in the order of
        ``user_ids`` then rank.
    """
    _check_k(k)
    require_columns(train, ("user_id", "movie_id"), "train")
    users = np.asarray(user_ids if hasattr(user_ids, "__len__") else list(user_ids))
    users = pd.unique(users.astype(np.int64).reshape(-1))
    counts = train["movie_id"].value_counts()
    counts = counts[counts >= max(1, min_ratings)]
    popular = (
        pd.DataFrame({"movie_id": counts.index.to_numpy(), "count": counts.to_numpy()})
        .sort_values(["count", "movie_id"], ascending=[False, True])["movie_id"]
        .to_numpy(np.int64)
    )
    train_users = train["user_id"].to_numpy()
    wanted = np.isin(train_users, users)
    seen_keys = np.sort(_pair_keys(train_users[wanted], train["movie_id"].to_numpy()[wanted]))
    n_seen = pd.Series(train_users[wanted]).value_counts().reindex(users, fill_value=0).to_numpy()
    # A user's top k unseen movies lie among the top (k + n_seen) popular ones, so the rows
    # built grow with the training ratings, not with users x movies.
    pool = np.minimum(k + n_seen, len(popular)).astype(np.int64)
    rows_before = np.r_[0, np.cumsum(pool)]
    blocks = []
    start = 0
    while start < len(users):
        stop = int(
            np.searchsorted(rows_before, rows_before[start] + POPULARITY_BLOCK_ROWS, "right")
        )
        stop = min(max(stop - 1, start + 1), len(users))
        blocks.append(_popular_unseen(users[start:stop], pool[start:stop], popular, seen_keys, k))
        start = stop
    if not blocks:
        return pd.DataFrame(
            {
                "user_id": np.array([], np.int32),
                "rank": np.array([], np.int16),
                "movie_id": np.array([], np.int32),
            }
        )
    return pd.concat(blocks, ignore_index=True)


def _popular_unseen(
    users: np.ndarray, pool: np.ndarray, popular: np.ndarray, seen_keys: np.ndarray, k: int
) -> pd.DataFrame:
    """Lists for one block of users, each from the first ``pool[u]`` popular movies."""
    total = int(pool.sum())
    user_index = np.repeat(np.arange(len(users)), pool)
    position = np.arange(total) - np.repeat(np.cumsum(pool) - pool, pool)
    movies = popular[position]
    keys = _pair_keys(users[user_index], movies)
    at = np.searchsorted(seen_keys, keys)
    seen = at < len(seen_keys)
    seen[seen] = seen_keys[at[seen]] == keys[seen]
    unseen = ~seen
    # Rank among the user's unseen candidates: a running count that restarts with each user.
    running = np.r_[0, np.cumsum(unseen)]
    rank = running[1:] - np.repeat(running[np.cumsum(pool) - pool], pool)
    keep = unseen & (rank <= k)
    return pd.DataFrame(
        {
            "user_id": users[user_index[keep]].astype(np.int32),
            "rank": rank[keep].astype(np.int16),
            "movie_id": movies[keep].astype(np.int32),
        }
    )
