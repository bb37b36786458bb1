"""Report: the run's metrics table, markdown report and learning curve as Prefect artifacts."""

from __future__ import annotations

import base64
from pathlib import Path

import pandas as pd
from prefect import task
from prefect.artifacts import create_image_artifact, create_markdown_artifact, create_table_artifact

from cofi.models.model import load_model
from cofi.outputs.record import RunRecord
from cofi.outputs.report import metrics_rows, plot_run, report_markdown

METRICS_KEY = "cofi-eval-metrics"
REPORT_KEY = "cofi-report"
CURVE_KEY = "cofi-learning-curve"


@task(name="report")
def write_report(run_dir: str, parameters: dict) -> dict:
    """Write report.md and learning-curve.png into ``run_dir`` and show them as artifacts.

    Args:
        run_dir: a run folder holding its :class:`cofi.outputs.record.RunRecord`.
        parameters: the flow's parameters, listed in the report.
    """
    run = Path(run_dir)
    record = RunRecord.read(run)
    evaluation = record.evaluation
    published_list = record.published_list and record.published_list.model_dump()
    if evaluation:
        create_table_artifact(
            metrics_rows(evaluation, published_list),
            key=METRICS_KEY,
            description="Held-out RMSE and MAE of the model and the baselines; ranking metrics "
            "of the published list and of popularity",
        )
    final = load_model(record.model_dir)
    curves = {"final model": [tuple(pair) for pair in final.loss_history]}
    if record.train.holdout:
        held_out = load_model(record.train.holdout.model_dir)
        curves["held-out model"] = [tuple(pair) for pair in held_out.loss_history]
    curve = plot_run(
        curves, run / "learning-curve.png", evaluation=evaluation, title=f"model {final.model_id}"
    )
    picks = pd.read_parquet(
        record.recommendations, columns=["user_id", "rank", "title", "predicted_rating"]
    )
    sample_user = int(picks["user_id"].min()) if len(picks) else None
    sample = picks[picks["user_id"] == sample_user] if sample_user is not None else None
    paths = {
        "recommendations": str(record.recommendations),
        "model": str(record.model_dir),
        **({"ranking model": str(record.ranking_model_dir)} if record.ranking_model_dir else {}),
        "learning curve and metrics": str(curve),
        **({"similar movies": str(record.similar)} if record.similar else {}),
        "run folder": run_dir,
    }
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
        paths=paths,
        published_list=published_list,
        predicts_ratings=final.predicts_ratings,
    )
    (run / "report.md").write_text(markdown)
    create_markdown_artifact(markdown, key=REPORT_KEY, description="cofi run report")
    # The UI shows an image artifact from a URL; a data URL keeps the picture with the run.
    encoded = base64.b64encode(curve.read_bytes()).decode()
    create_image_artifact(
        f"data:image/png;base64,{encoded}", key=CURVE_KEY, description="learning curve"
    )
    return {"report": str(run / "report.md"), "learning_curve": str(curve)}
