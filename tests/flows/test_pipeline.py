"""The cofi-pipeline flow once end to end (the real ml-latest-small when COFI_MOVIELENS_DIR has it,
else synthetic ratings), and its parameters: one model behind the flow, the form and the options."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import get_args

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from cofi import load_model
from cofi.data.schema import RECOMMENDATIONS_SCHEMA, SIMILAR_SCHEMA
from cofi.evaluation.comparison import compare_rankings
from cofi.models.config import LAB_CONFIG, TrainConfig
from cofi.outputs.record import RunRecord
from cofi.settings import movielens_dir
from flows.parameters import PipelineParameters
from flows.pipeline import cofi_pipeline, parse_args


@pytest.fixture(scope="module")
def pipeline_source(synthetic_source) -> tuple[dict, Path]:
    """The flow's data arguments and the CSV folder they read (left untouched by the run)."""
    local = movielens_dir()
    if local is not None and (local / "ml-latest-small").is_dir():
        return {"dataset": "ml-latest-small"}, local / "ml-latest-small"
    return {"source": str(synthetic_source)}, synthetic_source


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pipeline_end_to_end_then_a_failed_run_keeps_the_last_good_outputs(
    harness, pipeline_source, tmp_path
) -> None:
    source, csv_folder = pipeline_source
    before = {p.name: _digest(p) for p in csv_folder.glob("*.csv")}
    record = cofi_pipeline(**source, data_dir=str(tmp_path), top_n=10)
    assert RunRecord.read(tmp_path / "latest") == record

    table = pq.read_table(record.recommendations)
    assert table.schema.equals(RECOMMENDATIONS_SCHEMA)
    recommendations = table.to_pandas()
    ratings = pd.read_parquet(record.ratings_path)
    assert recommendations["user_id"].nunique() == ratings["user_id"].nunique() == record.n_users
    assert (recommendations.groupby("user_id").size() == 10).all()
    rated = recommendations.merge(ratings, on=["user_id", "movie_id"])
    assert rated.empty, "recommended a movie the user already rated"
    assert recommendations["title"].notna().all()
    # ranked by the ranking model, rated by the rating model (issue 11)
    assert (recommendations["model_id"] == record.ranking_model_id).all()
    ranking_model, rating_model = load_model(record.ranking_model_dir), load_model(record.model_dir)
    expected = ranking_model.recommend(
        ranking_model.users.ids,
        n=10,
        min_ratings=record.min_movie_ratings,
        min_user_ratings=record.min_user_ratings,
    )
    assert recommendations["movie_id"].tolist() == expected["movie_id"].tolist()
    np.testing.assert_allclose(recommendations["score"], expected["predicted_rating"], rtol=1e-5)
    np.testing.assert_allclose(
        recommendations["predicted_rating"],
        rating_model.predict(recommendations["user_id"], recommendations["movie_id"]),
        rtol=1e-5,
    )
    scale = rating_model.scale
    assert recommendations["predicted_rating"].between(scale.minimum, scale.maximum).all()
    assert not recommendations["fallback"].any()  # every user here has >= 20 ratings

    report = record.evaluation
    assert report["beats_baselines"] == {"rmse": True, "mae": True}
    # the held-out fit recorded its test RMSE at every check: the learning curve's held-out line
    curve = load_model(record.holdout_model_dir).validation_history
    assert [step for step, _ in curve] == [
        step for step, _ in load_model(record.holdout_model_dir).loss_history
    ]
    assert abs(curve[-1][1] - report["metrics"]["model"]["rmse"]) < 0.05
    # the published list, judged on the held-out split: a recomputation gives the same
    assert record.published_list is not None and record.ranking_holdout_model_dir is not None
    again = compare_rankings(
        load_model(record.ranking_holdout_model_dir),
        pd.read_parquet(record.train_path),
        pd.read_parquet(record.test_path),
        k=10,
        threshold=None,
        min_ratings=record.min_movie_ratings,
        min_user_ratings=record.min_user_ratings,
        rating_model=load_model(record.holdout_model_dir),
    )
    listed = record.published_list
    assert listed.list.model_dump() == pytest.approx(again["model"])
    assert listed.popularity.model_dump() == pytest.approx(again["popularity"])
    assert listed.beats_popularity == (
        again["model"]["precision_at_k"] > again["popularity"]["precision_at_k"]
        and again["model"]["ndcg_at_k"] > again["popularity"]["ndcg_at_k"]
    )
    metrics = json.loads((record.run_dir / "metrics.json").read_text())
    assert metrics["published_list"]["beats_popularity"] == listed.beats_popularity
    # the stable split holds out about 10%, each rating by a seeded hash of its pair
    assert abs(report["n_test"] - 0.1 * len(ratings)) < 0.01 * len(ratings)
    similar = pq.read_table(record.similar)
    assert similar.schema.equals(SIMILAR_SCHEMA)
    queries = similar.to_pandas()["movie_id"]
    movie_counts = ratings["movie_id"].value_counts()
    assert set(queries) == set(movie_counts.index[movie_counts >= 5])  # min_movie_ratings
    assert similar.num_rows == 10 * queries.nunique()
    assert (tmp_path / "latest").is_symlink()
    assert os.path.samefile(tmp_path / "latest", record.run_dir)

    # what people look at: report, learning curve and artifacts with stable keys
    latest = tmp_path / "latest"
    markdown = (latest / "report.md").read_text()
    assert "Top picks for user" in markdown
    verdict = "beats" if listed.beats_popularity else "does not beat"
    assert markdown.splitlines()[2].startswith(
        f"The published list {verdict} the most-popular list: P@10 "
    )
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
    # the verdict first, then the run, the parameters as used, outputs from the data folder
    lines = markdown.splitlines()
    # the rating model cofi.fit picks for ml-latest-small's size, with its own defaults
    assert (record.config.objective, record.config.n_features) == ("blend", 132)
    assert lines[0].startswith(f"# cofi run report: {record.dataset}: blend, 132 features, ")
    assert lines[4].startswith("The rating model beats the baselines on ")
    assert "| rows among the 50 most-rated movies |" in markdown
    assert f"**Run**: model `{record.model_id}` fitted in " in markdown
    assert markdown.index("**Run**") < markdown.index("## Parameters")
    assert "| training (as used) | rating model | ranking model |" in markdown
    assert f"| lambda_ | {record.config.lambda_:g} | " in markdown
    outputs = markdown[markdown.index("## Outputs") :]
    assert str(tmp_path) not in outputs and "- model: `runs/" in outputs
    metrics_artifact = Artifact.get("cofi-eval-metrics")
    assert metrics_artifact.description.startswith("The published list ")
    assert f"Model {record.model_id}, fitted in " in metrics_artifact.description
    curve_artifact = Artifact.get("cofi-learning-curve")
    assert curve_artifact.type == "markdown"
    assert curve_artifact.data.startswith(f"![learning curve: {record.dataset}: blend")
    assert Artifact.get("cofi-training-progress").description.startswith(
        "train-ranking-final: ials, 128 features, on "
    )

    # a warm-started run starts from the published model and, converged, stops sooner (with
    # biased MF: the default blend cannot be warm-started, which the contract test checks)
    biased = dict(source, data_dir=str(tmp_path), objective="biased")
    cold = cofi_pipeline(**biased)
    warm = cofi_pipeline(**biased, warm_start=True)
    assert warm.warm_start.startswith("warm start from") and "held-out" in warm.warm_start
    assert warm.train.final.warm_start_from == cold.model_id
    assert warm.train.ranking_final is not None and cold.ranking_model_id is not None
    assert warm.train.ranking_final.warm_start_from == cold.ranking_model_id
    assert warm.training_steps < cold.training_steps
    assert warm.evaluation["beats_baselines"] == {"rmse": True, "mae": True}
    cold_rmse = cold.evaluation["metrics"]["model"]["rmse"]
    assert abs(warm.evaluation["metrics"]["model"]["rmse"] - cold_rmse) < 0.01

    # and with no new ratings since, the warm-started models stand: no training, no drift
    again = cofi_pipeline(**biased, warm_start=True)
    assert again.warm_start.startswith("no new ratings since")
    assert again.model_id == warm.model_id and again.evaluation == warm.evaluation

    published = _digest(tmp_path / "latest" / "recommendations.parquet")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,9.0,0\n")
    (broken / "movies.csv").write_text("movieId,title,genres\n1,Toy Story (1995),Comedy\n")
    with pytest.raises(Exception, match="ratings.csv, line 2"):
        cofi_pipeline(source=str(broken), data_dir=str(tmp_path))
    assert os.path.samefile(tmp_path / "latest", again.run_dir)
    assert _digest(tmp_path / "latest" / "recommendations.parquet") == published
    assert {p.name: _digest(p) for p in csv_folder.glob("*.csv")} == before

    # a published run is its own: its record points inside its folder, it outlives the cache
    # and the dataset, and the data folder can move (issue 12)
    raw = json.loads((again.run_dir / "summary.json").read_text())
    assert (raw["movies_path"], raw["model_dir"], raw["test_path"]) == (
        "movies.parquet", "model", "test.parquet",
    )  # fmt: skip
    assert raw["train"]["holdout"]["model_dir"] == "holdout-model"
    assert not (again.run_dir / ".writing").exists()
    assert list((tmp_path / "runs").glob("*/.writing")) == []
    shutil.rmtree(tmp_path / "cache")
    shutil.rmtree(tmp_path / "datasets")
    moved = tmp_path.parent / f"{tmp_path.name}-moved"
    shutil.move(tmp_path, moved)
    from cofi.outputs.published import PublishedRun

    run = PublishedRun(moved)
    user = int(recommendations["user_id"].iloc[0])
    assert len(run.recommend(user, n=12)) == 12  # longer than the table: scored afresh
    assert run.list_evaluation(k=5)["k"] == 5  # recomputed from the run's own split and models


def test_a_bad_file_ends_the_command_with_one_line(tmp_path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,9.0,0\n")
    (broken / "movies.csv").write_text("movieId,title,genres\n1,Toy Story (1995),Comedy\n")
    command = [sys.executable, "-m", "flows.pipeline", "--source", str(broken)]
    command += ["--data-dir", str(tmp_path / "data")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("cofi-pipeline: ") and "ratings.csv, line 2" in last


def test_the_flow_the_form_and_the_options_are_one_model() -> None:
    fields = set(PipelineParameters.model_fields)
    schema = cofi_pipeline.parameters.model_dump()
    assert set(schema["properties"]) == fields
    for name, info in PipelineParameters.model_fields.items():
        described = info.description or name.replace("_", " ")
        assert schema["properties"][name]["description"] == described, name
    # bounds reach the form, so the UI refuses what the flow would
    assert schema["properties"]["n_features"]["minimum"] == 1
    # the objectives on offer are TrainConfig's
    objectives = get_args(TrainConfig.model_fields["objective"].annotation)
    assert tuple(schema["properties"]["objective"]["enum"]) == objectives
    for objective in objectives:
        assert parse_args(["--objective", objective])[0].objective == objective


def test_options_keep_their_names_and_fill_only_what_is_given() -> None:
    params, launch = parse_args(
        ["--lambda", "3", "--holdout", "0", "--n-features", "7", "--warm-start", "--refresh"]
    )
    assert (params.lambda_, params.holdout_fraction, params.n_features) == (3.0, 0.0, 7)
    assert params.warm_start and params.refresh and not params.quarantine
    assert params.model_fields_set == {
        "lambda_",
        "holdout_fraction",
        "n_features",
        "warm_start",
        "refresh",
    }
    assert launch.dask_workers is None
    # unset, the objective's own lambda and the warm start's learning rate apply
    params, _ = parse_args(["--objective", "ranking", "--warm-start"])
    assert params.lambda_ is None
    config = params.train_config(warm_start=True)
    assert config.lambda_ != TrainConfig().lambda_
    assert config.learning_rate != TrainConfig().learning_rate
    params, _ = parse_args(["--lab"])
    assert params.train_config().n_features == LAB_CONFIG.n_features
    assert params.train_config().lambda_ == LAB_CONFIG.lambda_
    params, launch = parse_args(["--dask-workers", "2"])
    assert launch.dask_workers == 2 and params.shards > 1


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--n-features", "0"], "n_features: Input should be greater than or equal to 1"),
        (["--objective", "nope"], "invalid choice: 'nope'"),
        (["--dataset", "ml-nope"], "invalid choice: 'ml-nope'"),
        (["--warm-start", "--validation-fraction", "0.1"], "use one or the other"),
        (["--holdout", "1"], "holdout_fraction: Input should be less than 1"),
        (["--ranking-iterations", "0"], "ranking_iterations: Input should be greater than"),
        (
            ["--ranking-objective", "biased", "--ranking-sequence-weight", "0.2"],
            "the ranking model (biased): sequence_weight orders preference lists",
        ),
        (
            ["--ranking-objective", "none", "--ranking-iterations", "5"],
            "ranking_iterations set(s) the ranking model, and ranking_objective none has none",
        ),
    ],
)
def test_a_bad_option_is_refused_before_anything_runs(argv, problem, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    assert exited.value.code == 2
    assert problem in capsys.readouterr().err


def test_the_flow_refuses_what_the_model_refuses(tmp_path) -> None:
    # Failed, with the one-line reason as its message, before anything is written
    state = cofi_pipeline.fn(dataset="ml-nope", data_dir=str(tmp_path))
    assert state.is_failed() and state.message.startswith(
        "bad parameters: dataset: Input should be"
    )
    state = cofi_pipeline.fn(n_feature=5, data_dir=str(tmp_path))
    assert state.message == "bad parameters: n_feature: Extra inputs are not permitted"
    state = cofi_pipeline.fn(warm_start=True, validation_fraction=0.1, data_dir=str(tmp_path))
    assert "use one or the other" in state.message
    assert not any(tmp_path.iterdir())


def test_the_form_has_no_null_field_and_describes_every_field() -> None:
    from prefect.utilities.callables import parameter_schema

    properties = parameter_schema(cofi_pipeline).model_dump()["properties"]
    for name, field in properties.items():
        # anyOf [..., null] renders as 'Property is type "None"' in the form
        assert "anyOf" not in field and field.get("type") not in (None, "null"), name
        assert field["description"], name
    # dataset is a choice; source takes any path or URL
    assert properties["dataset"]["enum"][:2] == ["ml-latest-small", "ml-100k"]
    assert properties["source"]["type"] == "string"
    # an optional value keeps its bounds
    assert (properties["lambda_"]["type"], properties["lambda_"]["minimum"]) == ("number", 0.0)
    # a field cleared in the form is not given
    params = PipelineParameters(source="", data_dir=" ", lambda_=None)
    assert (params.source, params.data_dir, params.lambda_) == (None, None, None)


def test_the_ranking_model_is_declared_once_with_its_own_defaults() -> None:
    schema = cofi_pipeline.parameters.model_dump()["properties"]
    objectives = get_args(TrainConfig.model_fields["objective"].annotation)
    assert tuple(schema["ranking_objective"]["enum"]) == (*objectives, "none")
    bounded = schema["ranking_n_features"]
    assert (bounded["type"], bounded["minimum"], bounded["maximum"]) == ("integer", 1, 4096)
    params, _ = parse_args(["--ranking-objective", "ranking", "--ranking-n-features", "16"])
    config = params.ranking_config()
    assert config is not None and (config.objective, config.n_features) == ("ranking", 16)
    # the ranking objective's own hyperparameters, not the rating model's
    from cofi.models.config import objective_defaults

    assert config.lambda_ == objective_defaults("ranking").get("lambda_", TrainConfig().lambda_)
    assert params.train_config().objective == "blend"  # by size: few ratings
    # from ML-10M's size on, the ranking objective's large-data defaults, under given settings
    large, _ = parse_args([])
    config = large.ranking_config(n_ratings=10**7)
    assert config is not None and (config.n_features, config.epochs) == (32, 8)
    given, _ = parse_args(["--epochs", "20", "--ranking-n-features", "64"])
    config = given.ranking_config(n_ratings=10**7)
    assert config is not None and (config.n_features, config.epochs) == (64, 20)
    default, _ = parse_args([])
    assert default.ranking_objective == "ials" and default.ranking_n_features is None
    ials = default.ranking_config()
    assert ials is not None and ials.n_features == objective_defaults("ials")["n_features"]
    assert parse_args(["--ranking-objective", "none"])[0].ranking_config() is None
    # the ranking model's steps and sequence term, over its objective's defaults
    ials_defaults = objective_defaults("ials")
    assert (ials.iterations, ials.sequence_weight) == (
        ials_defaults["iterations"],
        ials_defaults["sequence_weight"],
    )
    given, _ = parse_args(["--ranking-iterations", "7", "--ranking-sequence-weight", "0"])
    config = given.ranking_config()
    assert config is not None and (config.iterations, config.sequence_weight) == (7, 0.0)
    assert given.train_config().iterations == default.train_config().iterations
    # a value given counts even when it is TrainConfig's default: blend's own is not
    blend = objective_defaults("blend")
    assert blend["iterations"] != TrainConfig().iterations
    steps, _ = parse_args(["--iterations", str(TrainConfig().iterations)])
    assert steps.train_config().iterations == TrainConfig().iterations
    ials_lambda, _ = parse_args(["--objective", "ials", "--lambda", str(TrainConfig().lambda_)])
    assert ials_lambda.train_config().lambda_ == TrainConfig().lambda_ != ials_defaults["lambda_"]
