"""Evaluate: the model against the global-mean and movie-mean baselines on held-out ratings."""

from __future__ import annotations

import json
from pathlib import Path

from prefect import get_run_logger, task

from cofi.evaluation.holdout import evaluate, format_report
from cofi.models.model import load_model
from cofi.outputs.publish import atomic_path
from tasks.io import read_ratings


@task(name="evaluate")
def evaluate_model(model_dir: str, train_path: str, test_path: str, report_path: str) -> dict:
    """Score the saved model on ``test_path``; write the report as JSON; return it."""
    report = evaluate(load_model(model_dir), read_ratings(train_path), read_ratings(test_path))
    with atomic_path(Path(report_path)) as staging:
        staging.write_text(json.dumps(report, indent=2))
    get_run_logger().info("held-out evaluation:\n%s", format_report(report))
    return report
