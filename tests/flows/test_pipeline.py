"""The cofi-pipeline flow, once end to end on the real ml-latest-small, under a test Prefect server."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from prefect.testing.utilities import prefect_test_harness

from cofi.data.schema import RECOMMENDATIONS_SCHEMA
from cofi.outputs.similar import SIMILAR_SCHEMA


@pytest.fixture(scope="module")
def harness():
    with prefect_test_harness(server_startup_timeout=120):
        yield


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pipeline_end_to_end_then_a_failed_run_keeps_the_last_good_outputs(
    harness, movielens_dir, tmp_path
) -> None:
    from flows.pipeline import cofi_pipeline

    shared = movielens_dir / "ml-latest-small"
    before = {p.name: _digest(p) for p in shared.glob("*.csv")}
    summary = cofi_pipeline(dataset="ml-latest-small", data_dir=str(tmp_path), top_n=10)

    table = pq.read_table(summary["recommendations"])
    assert table.schema.equals(RECOMMENDATIONS_SCHEMA)
    recommendations = table.to_pandas()
    ratings = pd.read_parquet(tmp_path / "datasets" / "ml-latest-small" / "ratings.parquet")
    assert recommendations["user_id"].nunique() == ratings["user_id"].nunique() == 610
    assert (recommendations.groupby("user_id").size() == 10).all()
    rated = recommendations.merge(ratings, on=["user_id", "movie_id"])
    assert rated.empty, "recommended a movie the user already rated"
    assert recommendations["title"].notna().all()
    assert (recommendations["model_id"] == summary["model_id"]).all()

    report = summary["evaluation"]
    assert report["beats_baselines"] == {"rmse": True, "mae": True}
    # the stable split holds out about 10%, each rating by a seeded hash of its pair
    assert abs(report["n_test"] - 0.1 * len(ratings)) < 0.01 * len(ratings)
    assert not recommendations["fallback"].any()  # every ml-latest-small user has >= 20 ratings
    similar = pq.read_table(summary["similar"])
    assert similar.schema.equals(SIMILAR_SCHEMA)
    queries = similar.to_pandas()["movie_id"]
    movie_counts = ratings["movie_id"].value_counts()
    assert set(queries) == set(movie_counts.index[movie_counts >= 5])  # min_movie_ratings
    assert similar.num_rows == 10 * queries.nunique()
    assert (tmp_path / "latest").is_symlink()
    assert os.path.samefile(tmp_path / "latest", summary["run_dir"])

    # what people look at: report, learning curve and artifacts with stable keys
    latest = tmp_path / "latest"
    assert "Top picks for user" in (latest / "report.md").read_text()
    assert (latest / "learning-curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from prefect.artifacts import Artifact

    for key in (
        "cofi-eval-metrics",
        "cofi-report",
        "cofi-training-progress",
        "cofi-learning-curve",
    ):
        assert Artifact.get(key) is not None, key
    assert "RMSE" in Artifact.get("cofi-report").data

    # new ratings arrive: a warm-started run starts from the published model and stops sooner
    warm = cofi_pipeline(dataset="ml-latest-small", data_dir=str(tmp_path), warm_start=True)
    assert warm["warm_start"].startswith("warm start from") and "held-out" in warm["warm_start"]
    assert warm["training_steps"] < summary["training_steps"] == 100
    assert warm["evaluation"]["beats_baselines"] == {"rmse": True, "mae": True}
    assert (
        abs(warm["evaluation"]["metrics"]["model"]["rmse"] - report["metrics"]["model"]["rmse"])
        < 0.01
    )

    # and with no new ratings since, the warm-started models stand: no training, no drift
    again = cofi_pipeline(dataset="ml-latest-small", data_dir=str(tmp_path), warm_start=True)
    assert again["warm_start"].startswith("no new ratings since")
    assert again["model_id"] == warm["model_id"] and again["evaluation"] == warm["evaluation"]
    warm = again

    published = _digest(tmp_path / "latest" / "recommendations.parquet")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,9.0,0\n")
    (broken / "movies.csv").write_text("movieId,title,genres\n1,Toy Story (1995),Comedy\n")
    with pytest.raises(Exception, match="ratings.csv, line 2"):
        cofi_pipeline(source=str(broken), data_dir=str(tmp_path))
    assert os.path.samefile(tmp_path / "latest", warm["run_dir"])
    assert _digest(tmp_path / "latest" / "recommendations.parquet") == published
    assert {p.name: _digest(p) for p in shared.glob("*.csv")} == before
