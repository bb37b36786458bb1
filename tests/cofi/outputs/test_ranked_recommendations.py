"""The published table ranked by one model with ratings from another (issue 11), and the
published list judged against popularity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import cofi
from cofi.data.schema import RECOMMENDATIONS_SCHEMA
from cofi.evaluation.comparison import compare_rankings, published_list_report
from cofi.outputs.recommendations import published_recommendations, write_recommendations


def _ratings(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    movie, user = np.nonzero(rng.random((40, 30)) < 0.35)
    return pd.DataFrame(
        {
            "user_id": user + 1,
            "movie_id": movie * 2 + 5,
            "rating": rng.integers(1, 6, len(movie)).astype(float),
        }
    )


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    table = _ratings(7)
    # user 30 keeps two ratings: a cold-start user under min_user_ratings=3
    keep = (table["user_id"] != 30) | (table.groupby("user_id").cumcount() < 2)
    return table[keep].reset_index(drop=True)


@pytest.fixture(scope="module")
def models(ratings) -> tuple[cofi.Model, cofi.Model]:
    rating = cofi.fit(ratings, objective="biased", n_features=3, iterations=40, seed=2)
    ranking = cofi.fit(ratings, objective="ranking", n_features=4, iterations=40, seed=3)
    return rating, ranking


def test_lists_follow_the_ranking_model_and_ratings_the_rating_model(models, tmp_path) -> None:
    rating, ranking = models
    movies = pd.DataFrame({"movie_id": ranking.movies.ids, "title": "t"})
    path = tmp_path / "recommendations.parquet"
    rows = write_recommendations(
        ranking, movies, path, n=4, min_ratings=2, min_user_ratings=3, rating_model=rating
    )
    table = pq.read_table(path)
    assert table.schema.equals(RECOMMENDATIONS_SCHEMA) and table.num_rows == rows
    got = table.to_pandas()
    scored = got[~got["fallback"]]
    expected = ranking.recommend(ranking.users.ids, n=4, min_ratings=2, min_user_ratings=3)
    expected = expected[~expected["fallback"]]
    assert scored["movie_id"].tolist() == expected["movie_id"].tolist()
    np.testing.assert_allclose(scored["score"], expected["predicted_rating"], rtol=1e-6)
    np.testing.assert_allclose(
        scored["predicted_rating"], rating.predict(scored["user_id"], scored["movie_id"]), rtol=1e-6
    )
    scale = rating.scale
    assert got["predicted_rating"].between(scale.minimum, scale.maximum).all()
    assert not np.allclose(got["score"], got["predicted_rating"])  # a score, not a rating
    assert (got["model_id"] == ranking.model_id).all()


def test_cold_users_get_the_rating_models_popular_list(models) -> None:
    rating, ranking = models
    table = published_recommendations(
        ranking, np.array([30, 999]), n=3, min_ratings=2, min_user_ratings=3, rating_model=rating
    )
    fallback = rating.recommend([30, 999], n=3, min_ratings=2, min_user_ratings=3)
    assert table["fallback"].all()
    columns = ["user_id", "rank", "movie_id", "predicted_rating", "fallback"]
    pd.testing.assert_frame_equal(table[columns], fallback[columns])
    unknown = np.full(len(table), -1)
    expected = ranking.predict_positions(unknown, ranking.movies.position_of(table["movie_id"]))
    np.testing.assert_allclose(table["score"], expected)


def test_without_a_rating_model_score_and_prediction_are_the_models(models) -> None:
    rating, _ = models
    table = published_recommendations(rating, rating.users.ids[:5], n=3, min_ratings=2)
    pd.testing.assert_frame_equal(
        table.drop(columns="score"), rating.recommend(rating.users.ids[:5], n=3, min_ratings=2)
    )
    np.testing.assert_array_equal(table["score"], table["predicted_rating"])


class ListedModel:
    """Recommends fixed lists to everyone (stands in for a model in compare_rankings)."""

    def __init__(self, movies: list[int]) -> None:
        self.movies = movies

    def recommend(self, user_ids, n: int = 10, *, min_ratings: int = 1) -> pd.DataFrame:
        rows = [
            (user, rank, movie)
            for user in user_ids
            for rank, movie in enumerate(self.movies[:n], start=1)
        ]
        return pd.DataFrame(rows, columns=["user_id", "rank", "movie_id"])


TRAIN = pd.DataFrame({"user_id": [1, 2, 3, 1, 2, 3, 4], "movie_id": [10, 10, 10, 20, 20, 30, 40]})
TEST = pd.DataFrame(
    {"user_id": [4, 1, 1, 4], "movie_id": [10, 30, 40, 20], "rating": [4.0, 5.0, 2.0, 4.5]}
)


def test_the_verdict_flips_against_a_bad_ranker() -> None:
    # popularity: user 1 gets 30, 40 (two relevant), user 4 gets 10, 20 (two relevant): perfect
    bad = published_list_report(ListedModel([50, 60]), TRAIN, TEST, k=2)
    assert bad["beats_popularity"] is False
    assert bad["improvement"]["precision_at_k"] == pytest.approx(-1.0)
    assert bad["list"]["catalog_coverage"] == pytest.approx(2 / 4)
    assert (bad["k"], bad["threshold"]) == (2, None)


def test_the_verdict_needs_both_precision_and_ndcg_above_popularity() -> None:
    # with a threshold of 4.5, user 1 likes 30 and user 4 likes 20; popularity gives 30 at
    # rank 1 to user 1 and 20 at rank 2 to user 4; this list gives each theirs at rank 1
    class PerUser(ListedModel):
        def recommend(self, user_ids, n: int = 10, *, min_ratings: int = 1) -> pd.DataFrame:
            lists = {1: [30, 99], 4: [20, 99]}
            rows = [(u, r, m) for u in user_ids for r, m in enumerate(lists[u][:n], start=1)]
            return pd.DataFrame(rows, columns=["user_id", "rank", "movie_id"])

    good = published_list_report(PerUser([]), TRAIN, TEST, k=2, threshold=4.5)
    assert good["list"]["precision_at_k"] == good["popularity"]["precision_at_k"]
    assert good["list"]["ndcg_at_k"] > good["popularity"]["ndcg_at_k"]
    assert good["beats_popularity"] is False  # P@k only ties


def test_the_report_is_compare_rankings_on_the_same_split(models, ratings) -> None:
    rating, ranking = models
    train, test = ratings.iloc[::2], ratings.iloc[1::2]
    report = published_list_report(
        ranking, train, test, k=3, min_ratings=2, min_user_ratings=3, rating_model=rating
    )
    again = compare_rankings(
        ranking,
        train,
        test,
        k=3,
        threshold=None,
        min_ratings=2,
        min_user_ratings=3,
        rating_model=rating,
    )
    assert report["list"] == again["model"] and report["popularity"] == again["popularity"]
    listed, popular = report["list"], report["popularity"]
    assert report["beats_popularity"] == (
        listed["precision_at_k"] > popular["precision_at_k"]
        and listed["ndcg_at_k"] > popular["ndcg_at_k"]
    )
