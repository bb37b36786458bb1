"""Ranking metrics, the rating report and the popularity baseline."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cofi.errors import CofiError
from cofi.evaluation.metrics import (
    catalog_coverage,
    hit_rate_at_k,
    map_at_k,
    ndcg_at_k,
    per_user_ranking_metrics,
    popularity_recommendations,
    precision_at_k,
    ranking_report,
    rating_report,
    recall_at_k,
    relevant_items,
)


def lists(by_user: dict[int, list[int]]) -> pd.DataFrame:
    """Recommendations in Model.recommend's format from {user: [movie at rank 1, 2, ...]}."""
    rows = [(u, r, m) for u, movies in by_user.items() for r, m in enumerate(movies, start=1)]
    return pd.DataFrame(rows, columns=["user_id", "rank", "movie_id"])


# k = 3. Held-out ratings and what is relevant with threshold 4:
#   user 1: 10 (5), 30 (4), 40 (4.5), 50 (4), 60 (1)  -> relevant {10, 30, 40, 50}: 4 > k
#   user 2: 13 (5)                                   -> relevant {13}: fewer than k
#   user 3: 99 (4)                                   -> relevant {99}: no hit
#   user 4: 31 (2), 34 (3)                           -> nothing relevant: left out of averages
RECOMMENDATIONS = lists({1: [10, 20, 30], 2: [11, 12, 13], 3: [21, 22, 23], 4: [31, 32, 33]})
TEST = pd.DataFrame(
    {
        "user_id": [1, 1, 1, 1, 1, 2, 3, 4, 4],
        "movie_id": [10, 30, 40, 50, 60, 13, 99, 31, 34],
        "rating": [5.0, 4.0, 4.5, 4.0, 1.0, 5.0, 4.0, 2.0, 3.0],
    }
)
LOG2_3 = math.log2(3)


def test_every_metric_by_hand() -> None:
    relevant = relevant_items(TEST, threshold=4.0)
    per_user = per_user_ranking_metrics(RECOMMENDATIONS, relevant, k=3).set_index("user_id")
    assert list(per_user.index) == [1, 2, 3]  # user 4 has nothing relevant
    # user 1: hits at ranks 1 and 3.
    #   precision 2/3, recall 2/4,
    #   DCG = 1/log2(2) + 1/log2(4) = 1.5, ideal over min(3, 4) = 3: 1 + 1/log2(3) + 1/2,
    #   AP = (precision@1 + precision@3) / min(3, 4) = (1 + 2/3) / 3 = 5/9.
    # user 2: hit at rank 3 only.
    #   precision 1/3, recall 1/1, DCG = 1/2, ideal over min(3, 1) = 1: 1, AP = (1/3) / 1.
    # user 3: no hit, every metric 0.
    expected = pd.DataFrame(
        {
            "n_relevant": [4, 1, 1],
            "n_hits": [2, 1, 0],
            "precision": [2 / 3, 1 / 3, 0.0],
            "recall": [0.5, 1.0, 0.0],
            "ndcg": [1.5 / (1.5 + 1 / LOG2_3), 0.5, 0.0],
            "average_precision": [5 / 9, 1 / 3, 0.0],
            "hit": [True, True, False],
        },
        index=pd.Index([1, 2, 3], name="user_id"),
    )
    pd.testing.assert_frame_equal(per_user, expected, check_dtype=False)

    # Means over the three users with a relevant item.
    assert precision_at_k(RECOMMENDATIONS, relevant, 3) == pytest.approx((2 / 3 + 1 / 3) / 3)
    assert recall_at_k(RECOMMENDATIONS, relevant, 3) == pytest.approx((0.5 + 1) / 3)
    assert ndcg_at_k(RECOMMENDATIONS, relevant, 3) == pytest.approx(
        (1.5 / (1.5 + 1 / LOG2_3) + 0.5) / 3
    )
    assert map_at_k(RECOMMENDATIONS, relevant, 3) == pytest.approx((5 / 9 + 1 / 3) / 3)
    assert hit_rate_at_k(RECOMMENDATIONS, relevant, 3) == pytest.approx(2 / 3)
    # 12 distinct movies in the lists, out of 24 candidates.
    assert catalog_coverage(RECOMMENDATIONS, n_catalog=24) == 0.5


def test_report_and_the_threshold_rule() -> None:
    liked = ranking_report(RECOMMENDATIONS, TEST, k=3, threshold=4.0, n_catalog=24)
    assert liked == pytest.approx(
        {
            "k": 3,
            "threshold": 4.0,
            "n_users": 3,
            "n_users_without_recommendations": 0,
            "precision_at_k": 1 / 3,
            "recall_at_k": 0.5,
            "ndcg_at_k": (1.5 / (1.5 + 1 / LOG2_3) + 0.5) / 3,
            "map_at_k": 8 / 27,
            "hit_rate_at_k": 2 / 3,
            "catalog_coverage": 0.5,
        }
    )
    # Without a threshold every held-out movie is relevant: user 1 has 5 (60 too), and user 4
    # comes in with {31, 34} and a hit at rank 1 (precision 1/3, recall 1/2, AP 1/2).
    watched = ranking_report(RECOMMENDATIONS, TEST, k=3)
    assert watched["n_users"] == 4
    assert watched["recall_at_k"] == pytest.approx((2 / 5 + 1 + 0 + 1 / 2) / 4)
    assert watched["map_at_k"] == pytest.approx((5 / 9 + 1 / 3 + 0 + 1 / 2) / 4)
    assert watched["hit_rate_at_k"] == pytest.approx(3 / 4)
    assert watched["catalog_coverage"] is None
    assert relevant_items(TEST, 4.0).equals(
        pd.DataFrame({"user_id": [1, 1, 1, 1, 2, 3], "movie_id": [10, 30, 40, 50, 13, 99]})
    )


def test_users_without_lists_count_as_zero_and_short_lists_are_not_excused() -> None:
    recommendations = lists({1: [10], 3: [99]})  # user 2 has no list, user 1 a list of one
    relevant = relevant_items(TEST, threshold=4.0)
    per_user = per_user_ranking_metrics(recommendations, relevant, k=3).set_index("user_id")
    assert per_user.loc[1, "precision"] == pytest.approx(1 / 3)
    assert per_user.loc[2, "ndcg"] == 0.0 and not per_user.loc[2, "hit"]
    report = ranking_report(recommendations, TEST, k=3, threshold=4.0)
    assert report["n_users"] == 3 and report["n_users_without_recommendations"] == 1
    assert report["hit_rate_at_k"] == pytest.approx(2 / 3)


def test_only_the_top_k_count_and_bad_lists_fail() -> None:
    relevant = relevant_items(TEST)
    # Movie 13 is relevant to user 2 but sits at rank 3: beyond k = 2.
    assert hit_rate_at_k(lists({2: [11, 12, 13]}), relevant, k=2) == 0.0
    assert catalog_coverage(lists({2: [11, 12, 13]}), n_catalog=4, k=2) == 0.5
    with pytest.raises(ValueError, match="repeat"):
        precision_at_k(lists({1: [10, 10]}), relevant, k=2)
    with pytest.raises(ValueError, match="k must be at least 1"):
        precision_at_k(RECOMMENDATIONS, relevant, k=0)
    with pytest.raises(ValueError, match="more than n_catalog"):
        catalog_coverage(RECOMMENDATIONS, n_catalog=5)
    with pytest.raises(CofiError, match="lacks column"):
        precision_at_k(RECOMMENDATIONS.drop(columns="rank"), relevant)
    nobody = relevant_items(TEST, threshold=6.0)
    assert math.isnan(ranking_report(RECOMMENDATIONS, TEST, 3, threshold=6.0)["map_at_k"])
    assert len(nobody) == 0


def reference(by_user: dict[int, list[int]], relevant: dict[int, set[int]], k: int) -> dict:
    """The metrics as plain loops over users and ranks, straight from their definitions."""
    totals = {"precision": 0.0, "recall": 0.0, "ndcg": 0.0, "map": 0.0, "hit": 0.0}
    users = [u for u, items in relevant.items() if items]
    for user in users:
        items, ranked = relevant[user], by_user.get(user, [])[:k]
        hits, dcg, precision_sum = 0, 0.0, 0.0
        for rank, movie in enumerate(ranked, start=1):
            if movie in items:
                hits += 1
                dcg += 1 / math.log2(rank + 1)
                precision_sum += hits / rank
        ideal = sum(1 / math.log2(i + 1) for i in range(1, min(k, len(items)) + 1))
        totals["precision"] += hits / k
        totals["recall"] += hits / len(items)
        totals["ndcg"] += dcg / ideal
        totals["map"] += precision_sum / min(k, len(items))
        totals["hit"] += hits > 0
    return {name: value / len(users) for name, value in totals.items()}


@st.composite
def lists_and_relevance(draw):
    n_users = draw(st.integers(1, 6))
    by_user, relevant = {}, {}
    for user in range(1, n_users + 1):
        if draw(st.booleans()):
            by_user[user] = draw(st.lists(st.integers(1, 12), max_size=8, unique=True))
        relevant[user] = draw(st.sets(st.integers(1, 12), max_size=8))
    if not any(relevant.values()):
        relevant[1] = {1}
    return by_user, relevant, draw(st.integers(1, 6))


@settings(max_examples=150, deadline=None)
@given(lists_and_relevance())
def test_metrics_equal_the_loop_definitions(case) -> None:
    by_user, relevant, k = case
    test = pd.DataFrame(
        [(u, m) for u, items in relevant.items() for m in items], columns=["user_id", "movie_id"]
    )
    recommendations = lists(by_user)
    report = ranking_report(recommendations, test, k=k)
    expected = reference(by_user, relevant, k)
    assert report["map_at_k"] == pytest.approx(expected["map"])
    assert report["ndcg_at_k"] == pytest.approx(expected["ndcg"])
    assert report["precision_at_k"] == pytest.approx(expected["precision"])
    assert report["recall_at_k"] == pytest.approx(expected["recall"])
    assert report["hit_rate_at_k"] == pytest.approx(expected["hit"])
    per_user = per_user_ranking_metrics(recommendations, relevant_items(test), k)
    for column in ("precision", "recall", "ndcg", "average_precision"):
        assert ((per_user[column] >= 0) & (per_user[column] <= 1 + 1e-12)).all()


@settings(max_examples=50, deadline=None)
@given(st.sets(st.integers(1, 50), min_size=1, max_size=15), st.integers(1, 10))
def test_a_perfect_list_scores_one(items: set[int], k: int) -> None:
    test = pd.DataFrame({"user_id": 7, "movie_id": sorted(items)})
    report = ranking_report(lists({7: sorted(items)}), test, k=k)
    assert report["ndcg_at_k"] == pytest.approx(1.0)
    assert report["map_at_k"] == pytest.approx(1.0)
    assert report["precision_at_k"] == pytest.approx(min(k, len(items)) / k)


def test_rating_report_reuses_rmse_and_mae() -> None:
    assert rating_report([1, 2, 3], [1, 2, 5]) == pytest.approx(
        {"n": 3, "rmse": math.sqrt(4 / 3), "mae": 2 / 3}
    )
    with pytest.raises(ValueError, match="same length"):
        rating_report([1, 2], [1])


def test_popularity_lists_by_hand() -> None:
    # Popularity: 10 rated 3 times, 20 twice, 30 twice, 40 once; ties to the smaller id.
    train = pd.DataFrame(
        {"user_id": [1, 2, 3, 1, 2, 3, 4, 4], "movie_id": [10, 10, 10, 20, 20, 30, 30, 40]}
    )
    recommendations = popularity_recommendations(train, [1, 4, 9, 1], k=2)
    expected = lists({1: [30, 40], 4: [10, 20], 9: [10, 20]})
    pd.testing.assert_frame_equal(recommendations, expected, check_dtype=False)
    assert recommendations["rank"].dtype == np.int16
    # min_ratings=2 drops 40: user 1 has only 30 left.
    pd.testing.assert_frame_equal(
        popularity_recommendations(train, [1], k=2, min_ratings=2),
        lists({1: [30]}),
        check_dtype=False,
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 8), st.integers(1, 15)), min_size=1, max_size=60, unique=True
    ),
    st.integers(1, 6),
)
def test_popularity_never_recommends_a_seen_movie(pairs, k: int) -> None:
    train = pd.DataFrame(pairs, columns=["user_id", "movie_id"])
    recommendations = popularity_recommendations(train, range(1, 10), k=k)
    seen = set(pairs)
    assert not any(
        (u, m) in seen
        for u, m in zip(recommendations.user_id, recommendations.movie_id, strict=True)
    )
    counts = train["movie_id"].value_counts()
    for user, group in recommendations.groupby("user_id"):
        assert list(group["rank"]) == list(range(1, len(group) + 1))
        unseen = [m for m in counts.index if (user, m) not in seen]
        assert len(group) == min(k, len(unseen))
        assert list(counts[group["movie_id"]]) == sorted(counts[group["movie_id"]], reverse=True)


def test_popularity_on_ml_latest_small_is_fast(movielens_dir) -> None:
    import time

    ratings = pd.read_csv(movielens_dir / "ml-latest-small" / "ratings.csv").rename(
        columns={"userId": "user_id", "movieId": "movie_id"}
    )
    started = time.perf_counter()
    recommendations = popularity_recommendations(ratings, ratings["user_id"].unique(), k=10)
    assert time.perf_counter() - started < 1.0
    assert len(recommendations) == 10 * ratings["user_id"].nunique()
    seen = pd.MultiIndex.from_frame(ratings[["user_id", "movie_id"]])
    assert not pd.MultiIndex.from_frame(recommendations[["user_id", "movie_id"]]).isin(seen).any()
