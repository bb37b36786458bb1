"""The run record: a round trip, and one clear error for a missing or broken file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cofi.errors import CofiError
from cofi.models.config import TrainConfig
from cofi.outputs.record import RunRecord, RunTraining, TrainSummary


def _record(run_dir: Path) -> RunRecord:
    final = TrainSummary(
        model_dir=run_dir / "model", model_id="abc", fit_seconds=1.5, n_ratings=10, steps=7
    )
    return RunRecord(
        dataset="ml-test",
        run_dir=run_dir,
        latest=run_dir.parent / "latest",
        seed=3,
        holdout_fraction=0.0,
        min_movie_ratings=5,
        min_user_ratings=5,
        config=TrainConfig(n_features=4),
        train=RunTraining(final=final),
        ratings_digest="0" * 64,
        ratings_path=run_dir / "ratings.parquet",
        movies_path=run_dir / "movies.parquet",
        train_path=run_dir / "train.parquet",
        n_ratings=10,
        n_users=2,
        n_movies=5,
        model_dir=run_dir / "model",
        model_id="abc",
        fit_seconds=1.5,
        training_steps=7,
        recommendations=run_dir / "recommendations.parquet",
        recommendation_rows=20,
        warm_start="not asked for",
    )


def test_a_record_reads_back_equal_from_its_folder(tmp_path: Path) -> None:
    record = _record(tmp_path)
    written = record.write(tmp_path)
    assert written == tmp_path / "summary.json"
    assert RunRecord.read(tmp_path) == record
    # Plain JSON, paths inside the run folder relative to it.
    raw = json.loads(written.read_text())
    assert raw["movies_path"] == "movies.parquet"
    assert raw["run_dir"] == "."
    assert raw["latest"] == "../latest"
    assert raw["train"]["final"]["model_dir"] == "model"
    assert raw["config"]["n_features"] == 4
    assert raw["train"]["holdout"] is None


def test_a_missing_record_says_so(tmp_path: Path) -> None:
    with pytest.raises(CofiError, match="no run record"):
        RunRecord.read(tmp_path / "nowhere" / "summary.json")


@pytest.mark.parametrize(
    ("text", "problem"),
    [("not json", "not a valid run record"), ('{"dataset": "x"}', "run_dir: Field required")],
)
def test_a_broken_record_says_what_is_wrong(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "summary.json").write_text(text)
    with pytest.raises(CofiError, match=problem):
        RunRecord.read(tmp_path)


def test_an_unknown_key_is_refused(tmp_path: Path) -> None:
    raw = json.loads(_record(tmp_path).model_dump_json())
    (tmp_path / "summary.json").write_text(json.dumps({**raw, "typo": 1}))
    with pytest.raises(CofiError, match="typo"):
        RunRecord.read(tmp_path)


def _fake_run(data: Path) -> RunRecord:
    """A record whose files lie in ``datasets/`` and ``cache/``, as the steps leave them."""
    (data / "datasets").mkdir(parents=True)
    for name in ["ratings.parquet", "movies.parquet"]:
        (data / "datasets" / name).write_text(f"{name} v1")
    model = data / "cache" / "train-1" / "model"
    model.mkdir(parents=True)
    (model / "model.json").write_text("{}")
    (data / "cache" / "recommend.parquet").write_text("table")
    run_dir = data / "runs" / "r1"
    run_dir.mkdir(parents=True)
    return _record(run_dir).model_copy(
        update={
            "ratings_path": data / "datasets" / "ratings.parquet",
            "movies_path": data / "datasets" / "movies.parquet",
            "train_path": data / "datasets" / "ratings.parquet",
            "model_dir": model,
            "train": RunTraining(
                final=TrainSummary(model_dir=model, model_id="abc", fit_seconds=1.0, n_ratings=10)
            ),
            "recommendations": data / "cache" / "recommend.parquet",
            "latest": data / "latest",
        }
    )


def test_a_gathered_run_holds_its_inputs_and_survives_later_runs_and_a_move(
    tmp_path: Path,
) -> None:
    from cofi.outputs.record import gather

    record = gather(_fake_run(tmp_path / "data"))
    run_dir = tmp_path / "data" / "runs" / "r1"
    assert record.movies_path == run_dir / "movies.parquet"
    assert record.model_dir == run_dir / "model"
    assert record.train.final.model_dir == run_dir / "model"
    assert (run_dir / "model" / "model.json").is_file()
    record.write(run_dir)
    # A later run replaces the dataset (a new file, as every write here is atomic) and the cache.
    fresh = tmp_path / "data" / "datasets" / "movies.parquet.new"
    fresh.write_text("movies.parquet v2")
    fresh.replace(tmp_path / "data" / "datasets" / "movies.parquet")
    import shutil

    shutil.rmtree(tmp_path / "data" / "cache")
    shutil.move(tmp_path / "data", tmp_path / "moved")
    moved = RunRecord.read(tmp_path / "moved" / "runs" / "r1")
    assert moved.run_dir == (tmp_path / "moved" / "runs" / "r1").resolve()
    assert moved.movies_path.read_text() == "movies.parquet v1"
    assert (moved.model_dir / "model.json").is_file()
    assert moved.recommendations.read_text() == "table"
    assert moved.latest == (tmp_path / "moved" / "latest").resolve()


def test_a_record_read_through_a_link_stays_with_its_run(tmp_path: Path) -> None:
    first, second = tmp_path / "runs" / "a", tmp_path / "runs" / "b"
    for folder in (first, second):
        folder.mkdir(parents=True)
        _record(folder).write(folder)
    (tmp_path / "latest").symlink_to("runs/a")
    record = RunRecord.read(tmp_path / "latest")
    (tmp_path / "latest").unlink()
    (tmp_path / "latest").symlink_to("runs/b")
    assert record.run_dir == first.resolve()
    assert record.model_dir == first.resolve() / "model"


def test_a_record_with_absolute_paths_from_an_older_run_still_reads(tmp_path: Path) -> None:
    record = _record(tmp_path / "run")
    (tmp_path / "run").mkdir()
    data = json.loads(record.model_dump_json())
    (tmp_path / "run" / "summary.json").write_text(json.dumps(data))
    assert RunRecord.read(tmp_path / "run") == record


def test_a_record_that_is_not_json_says_so(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text("{not json")
    with pytest.raises(CofiError, match="not a valid run record"):
        RunRecord.read(tmp_path)
