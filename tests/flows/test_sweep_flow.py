"""The cofi-sweep flow, once with a tiny grid (on ml-100k when COFI_MOVIELENS_DIR has it, else on
synthetic ratings), under a test Prefect server."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from prefect.artifacts import Artifact

from cofi.evaluation.sweep import full_config

KEYS = ["user_id", "movie_id"]


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(KEYS, ignore_index=True)


def test_sweep_scores_each_config_on_training_ratings_only(
    harness, ratings_source, tmp_path
) -> None:
    from flows.sweep import cofi_sweep

    grid = {"n_features": [5, 10], "iterations": [20]}
    summary = cofi_sweep(**ratings_source, data_dir=str(tmp_path), grid=grid, seed=0)

    results = pd.read_parquet(summary["results_path"])
    assert len(results) == summary["n_trials"] == 2
    assert results["trial"].tolist() == [0, 1]
    assert results["n_features"].tolist() == [5, 10]
    assert results["error"].isna().all()
    assert results["rmse"].between(0.5, 1.5).all()
    assert results[["precision_at_k", "ndcg_at_k"]].stack().between(0, 1).all()

    best = summary["best"]
    configs = [{"n_features": n, "iterations": 20, "seed": 0} for n in (5, 10)]
    assert best["config"] in configs
    assert best["metrics"]["rmse"] == results["rmse"].min()
    best_row = pd.read_parquet(summary["best_config_path"])
    assert best_row["trial"].tolist() == [best["trial"]]
    document = json.loads(Path(summary["best_config_json"]).read_text())
    assert document["metric"] == "rmse"
    assert document["config"] == full_config(best["config"]).model_dump()

    table = Artifact.get("cofi-sweep-results")
    assert table is not None and table.type == "table"
    rows = json.loads(table.data)
    assert [row["trial"] for row in rows] == [0, 1]
    markdown = Artifact.get("cofi-sweep-best")
    assert markdown is not None and f"trial {best['trial']}" in markdown.data

    # The sweep fitted and validated on the training split only: together they are exactly the
    # training ratings, and no test rating is among them.
    [ratings_path] = (tmp_path / "datasets").glob("*/ratings.parquet")
    ratings = pd.read_parquet(ratings_path, columns=KEYS)
    train = pd.read_parquet(summary["train_path"], columns=KEYS)
    test = pd.read_parquet(summary["test_path"], columns=KEYS)
    fit = pd.read_parquet(summary["fit_path"], columns=KEYS)
    validation = pd.read_parquet(summary["validation_path"], columns=KEYS)
    assert len(train) + len(test) == len(ratings)
    assert abs(len(test) - 0.1 * len(ratings)) < 0.01 * len(ratings)  # the stable split
    pd.testing.assert_frame_equal(_sorted(pd.concat([fit, validation])), _sorted(train))
    assert fit.merge(validation, on=KEYS).empty
    assert pd.concat([fit, validation]).merge(test, on=KEYS).empty


def test_a_bad_grid_fails_before_any_data_is_touched(harness, tmp_path) -> None:
    from flows.sweep import cofi_sweep

    with pytest.raises(Exception, match="unknown TrainConfig field"):
        cofi_sweep(dataset="ml-100k", data_dir=str(tmp_path), grid={"n_feature": [5]})
    assert not any(tmp_path.iterdir())


def test_a_failed_trial_is_a_row_with_its_error_not_a_failed_sweep(tmp_path) -> None:
    from prefect.logging import disable_run_logger

    from tasks.sweep import score_trial

    ratings = pd.DataFrame({"user_id": [1, 2], "movie_id": [1, 1], "rating": [3.0, 4.0]})
    ratings.to_parquet(tmp_path / "fit.parquet")
    ratings.head(0).to_parquet(tmp_path / "validation.parquet")
    with disable_run_logger():
        row = score_trial.fn(
            str(tmp_path / "fit.parquet"),
            str(tmp_path / "validation.parquet"),
            {"n_features": 2, "seed": 0},
            trial=3,
        )
    assert row["trial"] == 3 and row["n_features"] == 2
    assert "validation ratings are empty" in row["error"]
    assert all(pd.isna(row[name]) for name in ("rmse", "mae", "precision_at_k", "fit_seconds"))


def test_the_sweep_options_are_its_parameters() -> None:
    from flows.parameters import DEFAULT_GRID, SweepParameters
    from flows.sweep import cofi_sweep, parse_args

    assert set(cofi_sweep.parameters.model_dump()["properties"]) == set(
        SweepParameters.model_fields
    )
    params, launch = parse_args(
        ["--random", '{"lambda_": {"low": 1, "high": 30}}', "--n-samples", "3", "--holdout", "0"]
    )
    assert params.random == {"lambda_": {"low": 1, "high": 30}} and params.n_samples == 3
    assert params.holdout_fraction == 0.0 and launch.parallel == 1
    assert parse_args([])[0].space().grid == DEFAULT_GRID
    assert parse_args(["--parallel", "2", "--metric", "ndcg_at_k"])[1].parallel == 2


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--grid", "[1]"], "expected a JSON object"),
        (["--grid", "{"], "not valid JSON"),
        (["--random", '{"lambda_": [1, 2]}'], "n_samples"),
        (["--grid", '{"n_feature": [5]}'], "unknown TrainConfig field"),
        (["--metric", "auc"], "invalid choice: 'auc'"),
        (["--parallel", "0"], "parallel: Input should be greater than or equal to 1"),
    ],
)
def test_a_bad_sweep_option_is_refused_before_anything_runs(argv, problem, capsys) -> None:
    from flows.sweep import parse_args

    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    assert exited.value.code == 2
    assert problem in capsys.readouterr().err
