"""A model's ranking beside popularity's on the same held-out ratings (hand-checked)."""

from __future__ import annotations

import pandas as pd
import pytest

from cofi.evaluation.comparison import compare_rankings


class ListedModel:
    """Stands in for cofi.Model: recommends fixed lists, and records what it was asked."""

    def __init__(self, lists: dict[int, list[int]]) -> None:
        self.lists = lists
        self.asked: list = []

    def recommend(self, user_ids, n: int = 10, *, min_ratings: int = 1) -> pd.DataFrame:
        self.asked.append((list(user_ids), n, min_ratings))
        rows = [
            (user, rank, movie)
            for user in user_ids
            for rank, movie in enumerate(self.lists.get(int(user), [])[:n], start=1)
        ]
        return pd.DataFrame(rows, columns=["user_id", "rank", "movie_id"])


# Movie 10 is rated by three users, 20 by two, 30 and 40 by one: popularity ranks 10, 20, 30, 40.
TRAIN = pd.DataFrame({"user_id": [1, 2, 3, 1, 2, 3, 4], "movie_id": [10, 10, 10, 20, 20, 30, 40]})
# User 1 liked 30 (rated 5) and not 40 (rated 2); user 4 liked 10 and 20.
TEST = pd.DataFrame(
    {"user_id": [4, 1, 1, 4], "movie_id": [10, 30, 40, 20], "rating": [4.0, 5.0, 2.0, 4.5]}
)


def test_both_lists_are_judged_on_the_same_users_and_relevance() -> None:
    model = ListedModel({1: [30, 40], 4: [30, 10]})
    reports = compare_rankings(model, TRAIN, TEST, k=2, threshold=4.0, min_ratings=1)
    assert model.asked == [([1, 4], 2, 1)]
    # model: user 1 hits at rank 1 (P 1/2, R 1/1), user 4 at rank 2 (P 1/2, R 1/2)
    assert reports["model"]["precision_at_k"] == pytest.approx(0.5)
    assert reports["model"]["recall_at_k"] == pytest.approx(0.75)
    # popularity: user 1 has seen 10 and 20, so gets 30, 40: a hit at rank 1;
    # user 4 has seen 40 and gets 10, 20: two hits
    assert reports["popularity"]["precision_at_k"] == pytest.approx((1 / 2 + 2 / 2) / 2)
    assert reports["popularity"]["recall_at_k"] == pytest.approx((1 + 1) / 2)
    assert reports["popularity"]["map_at_k"] == pytest.approx((1 + 1) / 2)
    for report in reports.values():
        assert (report["k"], report["threshold"], report["n_users"]) == (2, 4.0, 2)


def test_min_ratings_applies_to_both() -> None:
    model = ListedModel({1: [30], 4: [10]})
    reports = compare_rankings(model, TRAIN, TEST, k=2, threshold=4.0, min_ratings=2)
    assert model.asked == [([1, 4], 2, 2)]
    # only 10 and 20 have two training ratings: user 1 has seen both, user 4 gets both (2 hits)
    assert reports["popularity"]["n_users_without_recommendations"] == 1
    assert reports["popularity"]["precision_at_k"] == pytest.approx((0 + 1) / 2)
