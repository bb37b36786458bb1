"""Each task through ``.fn()``: it reads paths, calls cofi, writes, and returns a small summary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from prefect.logging import disable_run_logger

import cofi
from cofi.models.model import load_model
from cofi.outputs.similar import SIMILAR_SCHEMA, similar_movies
from tasks.evaluate import evaluate_model
from tasks.ingest import dataset_key, ingest_movielens
from tasks.matrices import build_matrices
from tasks.recommend import combine_recommendations, publish_run, recommend_shard
from tasks.similar import similar_movies_table
from tasks.train import train_model


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, movielens_dir) -> dict:
    with disable_run_logger():
        return ingest_movielens.fn("ml-100k", None, str(tmp_path_factory.mktemp("data")))


def test_ingest_returns_paths_and_counts(ingested) -> None:
    assert (ingested["n_ratings"], ingested["n_users"], ingested["n_movies"]) == (
        100_000,
        943,
        1682,
    )
    assert Path(ingested["ratings_path"]).is_file() and Path(ingested["manifest_path"]).is_file()
    assert all(not isinstance(value, pd.DataFrame) for value in ingested.values())


def test_dataset_key_names_folders_safely() -> None:
    assert dataset_key("ml-100k", None) == "ml-100k"
    assert dataset_key("ml-100k", "/some/where/ml-25m.zip") == "ml-25m"
    assert dataset_key(None, "https://example.org/a b/my data.zip") == "my-data"


def test_matrices_train_evaluate_recommend_publish(ingested, tmp_path) -> None:
    with disable_run_logger():
        matrices = build_matrices.fn(
            ingested["ratings_path"], ingested["movies_path"], str(tmp_path / "m"), 0.2, 3
        )
        assert (matrices["n_movies"], matrices["n_users"], matrices["n_ratings"]) == (
            1682,
            943,
            100_000,
        )
        assert abs(matrices["n_test"] - 20_000) < 600 and matrices["dense_bytes"] == 4 * 1682 * 943
        assert matrices["n_train"] + matrices["n_test"] == 100_000
        train = pd.read_parquet(matrices["train_path"])
        test = pd.read_parquet(matrices["test_path"])
        assert len(train.merge(test, on=["user_id", "movie_id"])) == 0

        scale = {"minimum": 1.0, "maximum": 5.0, "step": 1.0}
        config = {"n_features": 5, "iterations": 40, "seed": 3}
        movie_index = str(tmp_path / "m" / "movie_index.parquet")
        trained = train_model.fn(
            matrices["train_path"], movie_index, scale, config, str(tmp_path / "model")
        )
        model = load_model(trained["model_dir"])
        assert model.model_id == trained["model_id"] and model.n_movies == 1682
        assert model.scale.maximum == 5.0

        report = evaluate_model.fn(
            trained["model_dir"],
            matrices["train_path"],
            matrices["test_path"],
            str(tmp_path / "metrics.json"),
        )
        assert json.loads((tmp_path / "metrics.json").read_text()) == report
        assert report["n_test"] == matrices["n_test"]

        out = tmp_path / "run" / "recommendations.parquet"
        part = recommend_shard.fn(
            trained["model_dir"], ingested["movies_path"], str(tmp_path / "p1"), 0, 1, 3, 1
        )
        summary = combine_recommendations.fn([part], str(out))
        table = pd.read_parquet(out)
        assert summary["rows"] == len(table) == 3 * model.n_users
        assert table["title"].notna().all()
        assert not (tmp_path / "p1").exists()
        # three shards, combined, give the same table
        parts = [
            recommend_shard.fn(
                trained["model_dir"], ingested["movies_path"], str(tmp_path / "p3"), shard, 3, 3, 1
            )
            for shard in range(3)
        ]
        combine_recommendations.fn(parts, str(tmp_path / "three.parquet"))
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "three.parquet"), table)
        latest = publish_run.fn(str(tmp_path / "run"), str(tmp_path / "latest"))
        assert (Path(latest) / "recommendations.parquet").is_file()


def test_similar_movies_table_writes_the_library_table(tmp_path) -> None:
    rng = np.random.default_rng(4)
    movie, user = np.nonzero(rng.random((15, 10)) < 0.4)
    ratings = pd.DataFrame(
        {"user_id": user + 1, "movie_id": movie + 100, "rating": rng.integers(1, 6, len(movie))}
    )
    model = cofi.fit(ratings.astype({"rating": float}), n_features=3, iterations=10, seed=0)
    model.save(tmp_path / "model")
    movies_path = tmp_path / "movies.parquet"
    movies = pd.DataFrame({"movie_id": model.movies.ids, "title": "t", "genres": "g"})
    movies.to_parquet(movies_path)
    out = tmp_path / "run" / "similar.parquet"
    with disable_run_logger():
        summary = similar_movies_table.fn(
            str(tmp_path / "model"), str(movies_path), str(out), 3, "distance", 2
        )
    table = pd.read_parquet(out)
    expected = similar_movies(model, n=3, metric="distance", min_ratings=2)
    assert summary == {"path": str(out), "rows": len(expected), "metric": "distance"}
    assert pq.read_schema(out).equals(SIMILAR_SCHEMA) and (table["similar_title"] == "t").all()
    pd.testing.assert_frame_equal(table[list(expected.columns)], expected)


def test_find_warm_start_says_why_it_starts_cold(tmp_path) -> None:
    from cofi.models.config import TrainConfig
    from tasks.warm import find_warm_start

    config = TrainConfig(n_features=3).model_dump()
    with disable_run_logger():
        found = find_warm_start.fn(str(tmp_path / "latest"), "ml-100k", 0.1, 0, config)
        assert found["model_dir"] is None and found["reason"].startswith("no published run")
        ratings = pd.DataFrame(
            {"user_id": [1, 1, 2, 3], "movie_id": [1, 2, 2, 3], "rating": [4.0, 3.0, 5.0, 1.0]}
        )
        run = tmp_path / "runs" / "one"
        cofi.fit(ratings, n_features=3, iterations=5).save(run / "model")
        holdout = cofi.fit(ratings, n_features=3, iterations=5).save(tmp_path / "holdout")
        summary = {"dataset": "ml-100k", "holdout_fraction": 0.1, "seed": 0}
        (run / "summary.json").write_text(
            json.dumps({**summary, "holdout_model_dir": str(holdout)})
        )
        (tmp_path / "latest").symlink_to(run)
        found = find_warm_start.fn(str(tmp_path / "latest"), "ml-100k", 0.1, 0, config)
        assert Path(found["model_dir"]).resolve() == (run / "model").resolve()
        assert found["holdout_model_dir"] == str(holdout)
        # another split: the held-out model might have seen this run's test ratings
        found = find_warm_start.fn(str(tmp_path / "latest"), "ml-100k", 0.2, 0, config)
        assert found["model_dir"] and found["holdout_model_dir"] is None
        found = find_warm_start.fn(str(tmp_path / "latest"), "ml-1m", 0.1, 0, config)
        assert found["model_dir"] is None and "not 'ml-1m'" in found["reason"]
        # the published run was trained with this config on these very ratings: reuse it
        final = {"model_dir": str(run / "model"), "model_id": "m", "steps": 5}
        published = {**summary, "holdout_model_dir": str(holdout), "ratings_digest": "abc"}
        published.update(config=config, train={"holdout": None, "final": final})
        (run / "summary.json").write_text(json.dumps(published))
        found = find_warm_start.fn(str(tmp_path / "latest"), "ml-100k", 0.1, 0, config, "abc")
        assert found["train"]["final"] == final and found["reason"].startswith("no new ratings")
        assert (
            find_warm_start.fn(str(tmp_path / "latest"), "ml-100k", 0.1, 0, config, "new")["train"]
            is None
        )
        other = TrainConfig(n_features=4).model_dump()
        found = find_warm_start.fn(str(tmp_path / "latest"), "ml-100k", 0.1, 0, other)
        assert found["model_dir"] is None and "with 4 features" in found["reason"]
