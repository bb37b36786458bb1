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
    # The keys the `cofi` command reads stay plain JSON.
    raw = json.loads(written.read_text())
    assert raw["movies_path"] == str(tmp_path / "movies.parquet")
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
