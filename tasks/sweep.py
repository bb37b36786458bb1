"""Sweep: split the training ratings for validation, score one configuration, write the results."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from cofi.errors import CofiError
from cofi.evaluation.sweep import (
    SCORE_COLUMNS,
    best_config,
    full_config,
    results_frame,
    score_config,
    split_for_validation,
)
from cofi.outputs.publish import atomic_path
from tasks.io import read_ratings, write_parquet


@task(name="prepare-sweep-data")
def prepare_sweep_data(
    ratings_path: str, out_dir: str, validation_fraction: float, seed: int
) -> dict:
    """Split the training ratings (seeded) into ``fit.parquet`` and ``validation.parquet``.

    Args:
        ratings_path: the *training* ratings; the sweep never reads the test ratings.
        out_dir: where the two files go.
        validation_fraction: share of the training ratings to validate on, in (0, 1).
        seed: the sweep's seed.

    Returns:
        ``fit_path``, ``validation_path`` and their row counts.
    """
    fit, validation = split_for_validation(  # timestamps kept: they order the sequence term
        read_ratings(ratings_path, timestamps=True), validation_fraction, seed=seed
    )
    out = Path(out_dir)
    get_run_logger().info(
        "sweep data: %s ratings to fit, %s to validate",
        f"{len(fit):,}",
        f"{len(validation):,}",
    )
    return {
        "fit_path": write_parquet(fit, out / "fit.parquet"),
        "validation_path": write_parquet(validation, out / "validation.parquet"),
        "n_fit": len(fit),
        "n_validation": len(validation),
    }


@task(name="score-trial", task_run_name="score-trial-{trial}")
def score_trial(
    fit_path: str,
    validation_path: str,
    config: dict,
    trial: int,
    k: int = 10,
    min_ratings: int = 1,
) -> dict:
    """Fit one configuration and score it on the validation ratings.

    A configuration whose training fails (a diverging learning rate, say) is a result of the
    sweep, not a reason to stop it: its scores are NaN and ``error`` says why.

    Args:
        fit_path: Parquet of the ratings to fit on.
        validation_path: Parquet of the ratings to score on.
        config: TrainConfig fields.
        trial: the trial's number, kept in its result.
        k: length of the recommendation lists judged.
        min_ratings: training ratings a movie needs to be recommended.

    Returns:
        ``trial``, the configuration's fields, the scores of :func:`cofi.evaluation.sweep.score_config`
        and ``error`` (None when training succeeded).
    """
    logger = get_run_logger()
    try:
        scores = score_config(
            read_ratings(fit_path, timestamps=True),  # for a sequence term, if any
            read_ratings(validation_path),
            config,
            k=k,
            min_ratings=min_ratings,
        )
        error = None
    except CofiError as failure:
        logger.warning("trial %d %s failed: %s", trial, config, failure)
        scores = dict.fromkeys(SCORE_COLUMNS, math.nan)
        error = str(failure)
    logger.info("trial %d %s: %s", trial, config, scores)
    return {"trial": trial, **config, **scores, "error": error}


@task(name="write-sweep-results")
def write_sweep_results(
    results: list[dict], out_dir: str, metric: str, n_fit: int | None = None
) -> dict:
    """Write the results table and the best configuration; publish both as Prefect artifacts.

    Writes ``sweep_results.parquet`` (one row per trial), ``best_config.parquet`` (the best
    trial's row) and ``best_config.json`` (the best trial with every TrainConfig field as
    ``cofi.fit`` fills it in for ``n_fit`` ratings, the trials' fit part), each atomically.

    Returns:
        The three paths and the best trial (see :func:`cofi.evaluation.sweep.best_config`; NaN scores
        become None, so the summary is JSON).
    """
    frame = results_frame(results)
    best = best_config(frame, metric)
    out = Path(out_dir)
    results_path = write_parquet(frame, out / "sweep_results.parquet")
    best_path = write_parquet(
        frame.loc[frame["trial"] == best["trial"]], out / "best_config.parquet"
    )
    document = {
        "metric": metric,
        "trial": best["trial"],
        "config": full_config(best["config"], n_fit).model_dump(),
        "metrics": _json_row(best["metrics"]),
    }
    json_path = out / "best_config.json"
    with atomic_path(json_path) as staging:
        staging.write_text(json.dumps(document, indent=2, allow_nan=False))
    create_table_artifact(
        table=[_json_row(row) for row in frame.to_dict(orient="records")],
        key="cofi-sweep-results",
        description=f"cofi sweep: {len(frame)} trials, scored on validation ratings",
    )
    create_markdown_artifact(
        markdown=_best_markdown(document),
        key="cofi-sweep-best",
        description=f"the best configuration by {metric}",
    )
    get_run_logger().info("best by %s: trial %d %s", metric, best["trial"], best["config"])
    return {
        "results_path": results_path,
        "best_config_path": best_path,
        "best_config_json": str(json_path),
        "best": {**best, "metrics": document["metrics"]},
    }


def _json_row(row: dict) -> dict:
    # The Prefect API stores artifacts as JSON, which has no NaN.
    return {
        name: None if isinstance(value, float) and not math.isfinite(value) else value
        for name, value in row.items()
    }


def _best_markdown(document: dict) -> str:
    lines = [
        f"# Best configuration by {document['metric']} (trial {document['trial']})",
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {name} | {_cell(value)} |" for name, value in document["metrics"].items()),
        "",
        "| TrainConfig field | value |",
        "|---|---|",
        *(f"| {name} | {_cell(value)} |" for name, value in document["config"].items()),
    ]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
