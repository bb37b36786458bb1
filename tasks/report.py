"""Report: the run's verdict, metrics table, markdown report and learning curve as Prefect
artifacts (and report.md, learning-curve.png in the run folder)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pandas as pd
from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from cofi.evaluation.metrics import popularity_recommendations
from cofi.models.model import load_model
from cofi.outputs.record import RunRecord, TrainSummary
from cofi.outputs.report import (
    cost_as_rmse,
    list_concentration,
    list_verdict,
    metrics_rows,
    plot_run,
    rating_verdict,
    report_markdown,
)

METRICS_KEY = "cofi-eval-metrics"
REPORT_KEY = "cofi-report"
CURVE_KEY = "cofi-learning-curve"


@task(name="report", task_run_name="report")
def write_report(run_dir: str, parameters: dict) -> dict:
    """Write report.md and learning-curve.png into ``run_dir`` and show them as artifacts.

    Args:
        run_dir: a run folder holding its :class:`cofi.outputs.record.RunRecord`.
        parameters: the run's own parameters (the models' configurations come from the record).
    """
    run = Path(run_dir)
    record = RunRecord.read(run)
    evaluation = record.evaluation
    published_list = record.published_list and record.published_list.model_dump()
    picks = pd.read_parquet(
        record.recommendations, columns=["user_id", "movie_id", "rank", "title", "predicted_rating"]
    )
    concentration = _concentration(record, picks)
    title = (
        f"{record.dataset}: {record.config.objective}, {record.config.n_features} features, "
        f"{record.n_ratings:,} ratings"
    )
    summary = {
        "model_id": record.model_id,
        "fit_seconds": record.fit_seconds,
        "steps": record.training_steps or 0,
        "ranking_model_id": record.ranking_model_id,
        "fallback_users": record.fallback_users,
        "warm_start": record.warm_start,
    }
    if evaluation:
        verdict = [list_verdict(published_list)] if published_list else []
        create_table_artifact(
            metrics_rows(evaluation, published_list, concentration),
            key=METRICS_KEY,
            description=" ".join([*verdict, rating_verdict(evaluation)])
            + f" Model {record.model_id}, fitted in {record.fit_seconds:.1f} s; "
            f"{record.fallback_users or 0:,} user(s) got the popular fallback. Rows: held-out "
            "RMSE/MAE of the rating model and the baselines, then the published list's ranking "
            "metrics and concentration beside popularity's, and their relative change.",
        )
    curve = plot_run(
        _curves(record), run / "learning-curve.png", evaluation=evaluation, title=title
    )
    sample_user = int(picks["user_id"].min()) if len(picks) else None
    sample = picks[picks["user_id"] == sample_user] if sample_user is not None else None
    root = record.latest.parent
    outputs = {
        "recommendations": record.recommendations,
        "model": record.model_dir,
        "ranking model": record.ranking_model_dir,
        "learning curve": curve,
        "similar movies": record.similar,
        "run folder": run,
    }
    configs = {"rating model": record.config.model_dump()}
    if record.ranking_config is not None:
        configs["ranking model"] = record.ranking_config.model_dump()
    markdown = report_markdown(
        counts={
            "n_ratings": record.n_ratings,
            "n_users": record.n_users,
            "n_movies": record.n_movies,
        },
        parameters=parameters,
        evaluation=evaluation,
        sample_user=sample_user,
        sample_picks=sample,
        paths={label: _relative(path, root) for label, path in outputs.items() if path},
        published_list=published_list,
        predicts_ratings=load_model(record.model_dir).predicts_ratings,
        title=title,
        run=summary,
        concentration=concentration,
        configs=configs,
    )
    (run / "report.md").write_text(markdown)
    create_markdown_artifact(markdown, key=REPORT_KEY, description=f"cofi run report: {title}")
    # An image inside markdown: the artifact page shows the picture, not its data URL as text.
    encoded = base64.b64encode(curve.read_bytes()).decode()
    create_markdown_artifact(
        f"![learning curve: {title}](data:image/png;base64,{encoded})",
        key=CURVE_KEY,
        description=f"learning curve: {title}",
    )
    return {"report": str(run / "report.md"), "learning_curve": str(curve)}


def _curves(record: RunRecord) -> dict[str, list[tuple[int, float]]]:
    """The rating model's fits as errors per rating: training cost, and validation checks."""
    curves = {}
    fits: list[tuple[str, TrainSummary | None]] = [
        ("held-out model", record.train.holdout),
        ("final model", record.train.final),
    ]
    for label, fit in fits:
        if fit is None:
            continue
        model = load_model(fit.model_dir)
        curves[f"{label}: training cost as RMSE (penalty included)"] = cost_as_rmse(
            [tuple(pair) for pair in model.loss_history], fit.n_ratings
        )
        if model.validation_history:
            # The held-out fit records its test ratings' RMSE per check; a fit that stopped
            # early, its validation ratings'.
            name = "validation RMSE" if model.config.validation_fraction > 0 else "held-out RMSE"
            curves[f"{label}: {name}"] = [
                (int(step), float(error)) for step, error in model.validation_history
            ]
    return curves


def _concentration(record: RunRecord, picks: pd.DataFrame) -> dict:
    """The published lists' concentration beside popularity's lists for the same users."""
    ratings = pd.read_parquet(record.ratings_path, columns=["user_id", "movie_id"])
    titles = pd.read_parquet(record.movies_path, columns=["movie_id", "title"])
    by_id = titles.set_index("movie_id")["title"]
    users = picks["user_id"].unique()
    k = int(picks["rank"].max()) if len(picks) else 1
    popular = popularity_recommendations(ratings, users, k, min_ratings=record.min_movie_ratings)
    return {
        "list": list_concentration(picks, ratings, titles=by_id),
        "popularity": list_concentration(popular, ratings, titles=by_id),
    }


def _relative(path: Path, root: Path) -> str:
    """``path`` as seen from the data folder ``root`` (absolute when outside it)."""
    try:
        return os.path.relpath(path, root) if Path(path).is_relative_to(root) else str(path)
    except ValueError:
        return str(path)
