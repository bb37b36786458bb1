"""Report: the run's metrics table, markdown report and learning curve as Prefect artifacts."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pandas as pd
from prefect import task
from prefect.artifacts import create_image_artifact, create_markdown_artifact, create_table_artifact

from cofi.outputs.report import metrics_rows, plot_run, report_markdown

METRICS_KEY = "cofi-eval-metrics"
REPORT_KEY = "cofi-report"
CURVE_KEY = "cofi-learning-curve"


@task(name="report")
def write_report(
    run_dir: str,
    counts: dict,
    parameters: dict,
    evaluation: dict | None,
    model_dir: str,
    recommendations_path: str,
    training: dict | None = None,
    similar_path: str | None = None,
) -> dict:
    """Write report.md and learning-curve.png into ``run_dir`` and show them as artifacts.

    ``training``: the train tasks' summaries (``holdout``, ``final``), whose models' learning
    curves are drawn beside the held-out metrics.
    """
    run = Path(run_dir)
    if evaluation:
        create_table_artifact(
            metrics_rows(evaluation),
            key=METRICS_KEY,
            description="Held-out RMSE and MAE of the model and the baselines",
        )
    model_meta = json.loads((Path(model_dir) / "model.json").read_text())
    curves = {"final model": [tuple(pair) for pair in model_meta["loss_history"]]}
    holdout = (training or {}).get("holdout")
    if holdout:
        meta = json.loads((Path(holdout["model_dir"]) / "model.json").read_text())
        curves["held-out model"] = [tuple(pair) for pair in meta["loss_history"]]
    curve = plot_run(
        curves,
        run / "learning-curve.png",
        evaluation=evaluation,
        title=f"model {model_meta['model_id']}",
    )
    picks = pd.read_parquet(
        recommendations_path, columns=["user_id", "rank", "title", "predicted_rating"]
    )
    sample_user = int(picks["user_id"].min()) if len(picks) else None
    sample = picks[picks["user_id"] == sample_user] if sample_user is not None else None
    paths = {
        "recommendations": recommendations_path,
        "model": model_dir,
        "learning curve and metrics": str(curve),
        **({"similar movies": similar_path} if similar_path else {}),
        "run folder": run_dir,
    }
    markdown = report_markdown(
        counts=counts,
        parameters=parameters,
        evaluation=evaluation,
        sample_user=sample_user,
        sample_picks=sample,
        paths=paths,
    )
    (run / "report.md").write_text(markdown)
    create_markdown_artifact(markdown, key=REPORT_KEY, description="cofi run report")
    # The UI shows an image artifact from a URL; a data URL keeps the picture with the run.
    encoded = base64.b64encode(curve.read_bytes()).decode()
    create_image_artifact(
        f"data:image/png;base64,{encoded}", key=CURVE_KEY, description="learning curve"
    )
    return {"report": str(run / "report.md"), "learning_curve": str(curve)}
