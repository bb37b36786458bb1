"""benchmarks/compare_libraries.py builds its table on a tiny synthetic ratings frame."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_script():
    # benchmarks/ is a folder of scripts, not a package: load the file as a module.
    spec = importlib.util.spec_from_file_location(
        "compare_libraries", ROOT / "benchmarks" / "compare_libraries.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_ratings() -> pd.DataFrame:
    """40 users x 30 movies, each user rating 12 movies with whole stars from a planted rank 2."""
    rng = np.random.default_rng(0)
    n_users, n_movies, per_user = 40, 30, 12
    users = rng.normal(size=(n_users, 2))
    movies = rng.normal(size=(n_movies, 2))
    rows = []
    for user in range(n_users):
        for movie in rng.choice(n_movies, per_user, replace=False):
            rating = np.clip(np.rint(3 + users[user] @ movies[movie]), 1, 5)
            rows.append((user + 1, int(movie) + 1, rating))
    frame = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating"])
    return frame.astype({"user_id": "int32", "movie_id": "int32", "rating": "float32"})


def test_compare_table_has_every_row_and_sane_metrics(tiny_ratings) -> None:
    pytest.importorskip("surprise")
    script = load_script()
    before = tiny_ratings.copy()
    lines = []

    table = script.compare(tiny_ratings, seed=0, log=lines.append)

    assert list(table.index) == script.ROWS
    assert list(table.columns) == [
        "RMSE", "MAE", "P@10", "R@10", "NDCG@10", "coverage", "fit seconds"
    ]  # fmt: skip
    ranking = table[["P@10", "R@10", "NDCG@10", "coverage"]]
    applies = ranking.drop(index="global mean")
    if importlib.util.find_spec("implicit") is None:  # its rows are skipped, all "-"
        applies = applies.drop(index=["implicit ALS", "implicit BPR"])
    assert applies.notna().all().all()
    assert ((applies >= 0) & (applies <= 1)).all().all()
    assert ranking.loc["global mean"].isna().all()
    lists_only = [
        "popularity", "EASE", "implicit ALS", "implicit BPR",
        'cofi objective="ranking"', 'cofi objective="ials"',
        'cofi objective="ials", sequence_weight=0',
    ]  # fmt: skip
    rated = table.drop(index=lists_only)
    assert rated[["RMSE", "MAE"]].notna().all().all()
    assert (rated["RMSE"] >= rated["MAE"]).all()
    assert table.loc[lists_only, ["RMSE", "MAE"]].isna().all().all()
    assert (table["fit seconds"].dropna() >= 0).all()
    # The vectorized Surprise scores were checked against algo.predict on every run.
    assert sum("max |difference|" in line for line in lines) == 2
    text = script.format_table(table)
    assert "-" in text and "Surprise SVD++" in text
    pd.testing.assert_frame_equal(tiny_ratings, before)


def test_temporal_split_holds_out_each_users_latest(tiny_ratings) -> None:
    pytest.importorskip("surprise")
    script = load_script()
    timed = tiny_ratings.assign(timestamp=np.arange(len(tiny_ratings), dtype=np.int64))
    table = script.compare(timed, seed=0, split="temporal")
    assert table.loc["popularity", "P@10"] >= 0 and table.loc["EASE", "P@10"] >= 0


def test_surprise_scorer_matches_predict_for_unknown_ids(tiny_ratings) -> None:
    pytest.importorskip("surprise")
    script = load_script()
    scale = script.infer_scale(tiny_ratings["rating"].to_numpy())
    train = tiny_ratings.loc[tiny_ratings["movie_id"] != 30]
    algo, _ = script.fit_surprise("Surprise SVD++", train, scale, seed=0)
    scorer = script.SurpriseScorer(algo)
    # Known pair, unknown movie, unknown user, both unknown.
    users = np.array([1, 1, 999, 999])
    movies = np.array([1, 30, 1, 30])

    expected = [algo.predict(int(u), int(m)).est for u, m in zip(users, movies, strict=True)]

    np.testing.assert_allclose(scorer.predict(users, movies), expected, rtol=0, atol=1e-12)
