"""Evaluate: the model against the global-mean and movie-mean baselines on held-out ratings."""

from __future__ import annotations

import json

from prefect import get_run_logger

from cofi.evaluation.holdout import evaluate, format_report
from cofi.models.model import load_model
from cofi.outputs.publish import atomic_path
from tasks.caching import step, step_folder
from tasks.io import read_ratings


@step(name="evaluate")
def evaluate_model(model_dir: str, train_path: str, test_path: str, data_dir: str) -> dict:
    """Score the saved model on ``test_path``; write the report to the step's ``metrics.json``.

    Returns:
        The report of :func:`cofi.evaluation.holdout.evaluate`, with ``path``, its file.
    """
    report = evaluate(load_model(model_dir), read_ratings(train_path), read_ratings(test_path))
    path = step_folder(data_dir) / "metrics.json"
    with atomic_path(path) as staging:
        staging.write_text(json.dumps(report, indent=2))
    get_run_logger().info("held-out evaluation:\n%s", format_report(report))
    return {**report, "path": str(path)}
