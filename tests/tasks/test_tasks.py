"""Each task through ``.fn()``: it reads paths, calls cofi, writes, and returns a small summary
(JSON, as Prefect persists it). On ml-100k when COFI_MOVIELENS_DIR has it, else synthetic ratings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from prefect.logging import disable_run_logger

import cofi
from cofi.models.config import TrainConfig
from cofi.models.model import load_model
from cofi.outputs.record import RunRecord, RunTraining, TrainSummary
from cofi.outputs.similar import SIMILAR_SCHEMA, similar_movies
from tasks.evaluate import evaluate_model
from tasks.ingest import dataset_key, ingest_movielens
from tasks.matrices import build_matrices
from tasks.recommend import combine_recommendations, publish_run, recommend_shard
from tasks.similar import similar_movies_table
from tasks.train import train_model
from tasks.warm import find_warm_start


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, ratings_source) -> dict:
    with disable_run_logger():
        return ingest_movielens.fn(
            ratings_source.get("dataset"),
            ratings_source.get("source"),
            str(tmp_path_factory.mktemp("data")),
        )


def test_ingest_returns_paths_and_counts(ingested, ratings_source) -> None:
    ratings = pd.read_parquet(ingested["ratings_path"])
    counts = (ingested["n_ratings"], ingested["n_users"], ingested["n_movies"])
    assert counts[:2] == (len(ratings), ratings["user_id"].nunique())
    if ratings_source.get("dataset") == "ml-100k":
        assert counts == (100_000, 943, 1682)
    assert Path(ingested["manifest_path"]).is_file()
    json.dumps(ingested)


def test_dataset_key_names_folders_safely() -> None:
    assert dataset_key("ml-100k", None) == "ml-100k"
    assert dataset_key("ml-100k", "/some/where/ml-25m.zip") == "ml-25m"
    assert dataset_key(None, "https://example.org/a b/my data.zip") == "my-data"


def test_matrices_train_evaluate_recommend_publish(harness, ingested, tmp_path) -> None:
    data = str(tmp_path)
    n_ratings, n_users, n_movies = (ingested[k] for k in ("n_ratings", "n_users", "n_movies"))
    with disable_run_logger():
        matrices = build_matrices.fn(
            ingested["ratings_path"], ingested["movies_path"], data, 0.2, 3
        )
        assert (matrices["n_movies"], matrices["n_users"], matrices["n_ratings"]) == (
            n_movies,
            n_users,
            n_ratings,
        )
        assert abs(matrices["n_test"] - 0.2 * n_ratings) < 0.01 * n_ratings
        assert matrices["dense_bytes"] == 4 * n_movies * n_users
        assert matrices["n_train"] + matrices["n_test"] == n_ratings
        train = pd.read_parquet(matrices["train_path"])
        test = pd.read_parquet(matrices["test_path"])
        assert len(train.merge(test, on=["user_id", "movie_id"])) == 0
        assert Path(matrices["train_path"]).parent.parent == tmp_path / "cache"

        scale = {"minimum": 0.5, "maximum": 5.0, "step": 0.5}
        config = {"n_features": 5, "iterations": 40, "seed": 3}
        trained = train_model.fn(
            matrices["train_path"], matrices["movie_index_path"], scale, config, data
        )
        model = load_model(trained["model_dir"])
        assert model.model_id == trained["model_id"] and model.n_movies == n_movies
        assert model.scale.maximum == 5.0
        assert trained["steps"] == 40 and trained["n_ratings"] == len(train)

        report = evaluate_model.fn(
            trained["model_dir"], matrices["train_path"], matrices["test_path"], data
        )
        assert json.loads(Path(report.pop("path")).read_text()) == report
        assert report["n_test"] == matrices["n_test"]

        part = recommend_shard.fn(trained["model_dir"], ingested["movies_path"], data, 0, 1, 3, 1)
        summary = combine_recommendations.fn([part], data)
        table = pd.read_parquet(summary["path"])
        assert summary["rows"] == len(table) == 3 * model.n_users
        assert table["title"].notna().all()
        # three shards, combined, give the same table
        parts = [
            recommend_shard.fn(trained["model_dir"], ingested["movies_path"], data, shard, 3, 3, 1)
            for shard in range(3)
        ]
        three = combine_recommendations.fn(parts, data)
        pd.testing.assert_frame_equal(pd.read_parquet(three["path"]), table)
        run = tmp_path / "run"
        run.mkdir()
        (run / "recommendations.parquet").write_bytes(Path(summary["path"]).read_bytes())
        latest = publish_run.fn(str(run), str(tmp_path / "latest"))
        assert (Path(latest) / "recommendations.parquet").is_file()
    # Prefect keeps these results as JSON
    for result in (matrices, trained, report, summary):
        json.dumps(result)


def test_similar_movies_table_writes_the_library_table(tmp_path) -> None:
    rng = np.random.default_rng(4)
    movie, user = np.nonzero(rng.random((15, 10)) < 0.4)
    ratings = pd.DataFrame(
        {"user_id": user + 1, "movie_id": movie + 100, "rating": rng.integers(1, 6, len(movie))}
    )
    model = cofi.fit(
        ratings.astype({"rating": float}), objective="biased", n_features=3, iterations=10, seed=0
    )
    model.save(tmp_path / "model")
    movies_path = tmp_path / "movies.parquet"
    movies = pd.DataFrame({"movie_id": model.movies.ids, "title": "t", "genres": "g"})
    movies.to_parquet(movies_path)
    with disable_run_logger():
        summary = similar_movies_table.fn(
            str(tmp_path / "model"), str(movies_path), str(tmp_path), 3, "distance", 2
        )
    out = summary["path"]
    table = pd.read_parquet(out)
    expected = similar_movies(model, n=3, metric="distance", min_ratings=2)
    assert summary == {"path": out, "rows": len(expected), "metric": "distance"}
    assert pq.read_schema(out).equals(SIMILAR_SCHEMA) and (table["similar_title"] == "t").all()
    pd.testing.assert_frame_equal(table[list(expected.columns)], expected)


def _record(run: Path, holdout: Path, config: TrainConfig, **changes) -> RunRecord:
    final = TrainSummary(model_dir=run / "model", model_id="m", fit_seconds=1.0, n_ratings=4)
    fields = dict(
        dataset="ml-100k",
        run_dir=run,
        latest=run.parent.parent / "latest",
        seed=0,
        holdout_fraction=0.1,
        min_movie_ratings=5,
        min_user_ratings=5,
        config=config,
        train=RunTraining(final=final),
        ratings_digest="abc",
        ratings_path=run / "ratings.parquet",
        movies_path=run / "movies.parquet",
        train_path=run / "train.parquet",
        n_ratings=4,
        n_users=3,
        n_movies=3,
        model_dir=run / "model",
        model_id="m",
        fit_seconds=1.0,
        holdout_model_dir=holdout,
        recommendations=run / "recommendations.parquet",
        recommendation_rows=0,
        warm_start="not asked for",
    )
    return RunRecord(**{**fields, **changes})


def test_find_warm_start_says_why_it_starts_cold(tmp_path) -> None:
    config = TrainConfig(n_features=3)
    latest = str(tmp_path / "latest")
    with disable_run_logger():
        found = find_warm_start.fn(latest, "ml-100k", 0.1, 0, config.model_dump())
        assert found["model_dir"] is None and found["reason"].startswith("no published run")
        ratings = pd.DataFrame(
            {"user_id": [1, 1, 2, 3], "movie_id": [1, 2, 2, 3], "rating": [4.0, 3.0, 5.0, 1.0]}
        )
        run = tmp_path / "runs" / "one"
        cofi.fit(ratings, objective="biased", n_features=3, iterations=5).save(run / "model")
        holdout = tmp_path / "holdout"
        cofi.fit(ratings, objective="biased", n_features=3, iterations=5).save(holdout)
        (tmp_path / "latest").symlink_to(run)
        (run / "summary.json").write_text("{}")
        found = find_warm_start.fn(latest, "ml-100k", 0.1, 0, config.model_dump())
        assert found["model_dir"] is None and "not a valid run record" in found["reason"]

        # trained with another config: the models may start the new one, not stand for it
        _record(run, holdout, TrainConfig(n_features=3, iterations=7)).write(run)
        found = find_warm_start.fn(latest, "ml-100k", 0.1, 0, config.model_dump(), "abc")
        assert Path(found["model_dir"]).resolve() == (run / "model").resolve()
        assert found["holdout_model_dir"] == str(holdout) and found["train"] is None
        # another split: the held-out model might have seen this run's test ratings
        found = find_warm_start.fn(latest, "ml-100k", 0.2, 0, config.model_dump())
        assert found["model_dir"] and found["holdout_model_dir"] is None
        found = find_warm_start.fn(latest, "ml-1m", 0.1, 0, config.model_dump())
        assert found["model_dir"] is None and "not 'ml-1m'" in found["reason"]

        # the published run was trained with this config on these very ratings: reuse it
        record = _record(run, holdout, config)
        record.write(run)
        found = find_warm_start.fn(latest, "ml-100k", 0.1, 0, config.model_dump(), "abc")
        assert found["reason"].startswith("no new ratings")
        assert RunTraining(**found["train"]) == record.train
        assert (
            find_warm_start.fn(latest, "ml-100k", 0.1, 0, config.model_dump(), "new")["train"]
            is None
        )
        other = TrainConfig(n_features=4).model_dump()
        found = find_warm_start.fn(latest, "ml-100k", 0.1, 0, other)
        assert found["model_dir"] is None and "with 4 features" in found["reason"]


def test_the_ranking_model_warm_starts_from_the_published_ranking_model(tmp_path) -> None:
    ratings = pd.DataFrame(
        {"user_id": [1, 1, 2, 3], "movie_id": [1, 2, 2, 3], "rating": [4.0, 3.0, 5.0, 1.0]}
    )
    run = tmp_path / "runs" / "one"
    cofi.fit(ratings, objective="biased", n_features=3, iterations=5).save(run / "model")
    ranking = TrainConfig(objective="ranking", n_features=4, iterations=5)
    cofi.fit(ratings, config=ranking).save(run / "ranking-model")
    cofi.fit(ratings, config=ranking).save(tmp_path / "ranking-holdout")
    (tmp_path / "latest").symlink_to(run)
    latest = str(tmp_path / "latest")
    with disable_run_logger():
        _record(run, tmp_path / "holdout", TrainConfig(n_features=3)).write(run)
        found = find_warm_start.fn(latest, "ml-100k", 0.1, 0, ranking.model_dump(), "abc", True)
        assert found["model_dir"] is None and "no ranking model" in found["reason"]

        summary = TrainSummary(
            model_dir=run / "ranking-model", model_id="r", fit_seconds=1.0, n_ratings=4
        )
        final = TrainSummary(model_dir=run / "model", model_id="m", fit_seconds=1.0, n_ratings=4)
        record = _record(
            run,
            tmp_path / "holdout",
            TrainConfig(n_features=3),
            ranking_config=ranking,
            ranking_model_dir=run / "ranking-model",
            ranking_holdout_model_dir=tmp_path / "ranking-holdout",
            train=RunTraining(final=final, ranking_final=summary),
        )
        record.write(run)
        found = find_warm_start.fn(latest, "ml-100k", 0.1, 0, ranking.model_dump(), "abc", True)
        assert Path(found["model_dir"]).resolve() == (run / "ranking-model").resolve()
        assert found["holdout_model_dir"] == str(tmp_path / "ranking-holdout")
        # nothing new: the published ranking model stands
        assert found["reason"].startswith("no new ratings")
        assert found["train"]["final"]["model_id"] == "r"
        # another size: it cannot start this one
        other = ranking.model_copy(update={"n_features": 8}).model_dump()
        found = find_warm_start.fn(latest, "ml-100k", 0.1, 0, other, "abc", True)
        assert found["model_dir"] is None and "cold start" in found["reason"]


def test_shards_ranked_by_one_model_and_rated_by_another_combine_to_one_table(
    harness, ingested, tmp_path
) -> None:
    data = str(tmp_path)
    scale = {"minimum": 0.5, "maximum": 5.0, "step": 0.5}
    with disable_run_logger():
        matrices = build_matrices.fn(
            ingested["ratings_path"], ingested["movies_path"], data, 0.2, 3
        )
        args = (matrices["train_path"], matrices["movie_index_path"], scale)
        rating = train_model.fn(*args, {"n_features": 5, "iterations": 20, "seed": 3}, data)
        ranking = train_model.fn(
            *args, {"objective": "ranking", "n_features": 6, "iterations": 20, "seed": 3}, data
        )
        movies = ingested["movies_path"]
        one = recommend_shard.fn(
            ranking["model_dir"], movies, data, 0, 1, 3, 5, 5, rating["model_dir"]
        )
        single = pd.read_parquet(combine_recommendations.fn([one], data)["path"])
        parts = [
            recommend_shard.fn(
                ranking["model_dir"], movies, data, shard, 3, 3, 5, 5, rating["model_dir"]
            )
            for shard in range(3)
        ]
        three = pd.read_parquet(combine_recommendations.fn(parts, data)["path"])
        report = evaluate_model.fn(
            rating["model_dir"],
            matrices["train_path"],
            matrices["test_path"],
            data,
            ranking["model_dir"],
            3,
            5,
            5,
        )
    pd.testing.assert_frame_equal(three, single)
    assert (single["model_id"] == ranking["model_id"]).all()
    rater = load_model(rating["model_dir"])
    expected = rater.predict(single["user_id"], single["movie_id"])
    scored = ~single["fallback"]
    np.testing.assert_allclose(single.loc[scored, "predicted_rating"], expected[scored], rtol=1e-6)
    listed = report["published_list"]
    assert listed["k"] == 3 and set(listed) >= {"list", "popularity", "beats_popularity"}
    json.dumps(report)
