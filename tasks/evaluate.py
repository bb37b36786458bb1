"""Evaluate: the model against the baselines on held-out ratings, and the published list against
the most-popular list."""

from __future__ import annotations

import json

from prefect import get_run_logger

from cofi.evaluation.comparison import format_list_report, published_list_report
from cofi.evaluation.holdout import evaluate, format_report
from cofi.models.model import load_model
from cofi.outputs.publish import atomic_path
from tasks.caching import step, step_folder
from tasks.io import read_ratings


@step(name="evaluate")
def evaluate_model(
    model_dir: str,
    train_path: str,
    test_path: str,
    data_dir: str,
    ranking_model_dir: str | None = None,
    top_n: int = 10,
    min_movie_ratings: int = 1,
    min_user_ratings: int = 0,
) -> dict:
    """Score the saved model on ``test_path``; write the report to the step's ``metrics.json``.

    The report's ``published_list`` judges the list the run would publish from these models
    (ranked by ``ranking_model_dir``'s model, else by ``model_dir``'s; top ``top_n``, the run's
    candidate and cold-start rules) beside popularity's
    (:func:`cofi.evaluation.comparison.published_list_report`).

    Returns:
        The report of :func:`cofi.evaluation.holdout.evaluate` plus ``published_list``, with
        ``path``, its file.
    """
    model = load_model(model_dir)
    train, test = read_ratings(train_path), read_ratings(test_path)
    report = evaluate(model, train, test)
    ranker = load_model(ranking_model_dir) if ranking_model_dir else model
    report["published_list"] = published_list_report(
        ranker,
        train,
        test,
        k=top_n,
        min_ratings=min_movie_ratings,
        min_user_ratings=min_user_ratings,
        rating_model=model if ranking_model_dir else None,
    )
    path = step_folder(data_dir) / "metrics.json"
    with atomic_path(path) as staging:
        staging.write_text(json.dumps(report, indent=2))
    logger = get_run_logger()
    logger.info("held-out evaluation:\n%s", format_report(report))
    logger.info("%s", format_list_report(report["published_list"]))
    return {**report, "path": str(path)}
