"""Train: fit the collaborative-filtering model on a ratings Parquet file and save it."""

from __future__ import annotations

import time

import pandas as pd
from prefect import get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.context import TaskRunContext

import cofi
from cofi.data.schema import RatingScale
from cofi.models.config import TrainConfig
from tasks.caching import step, step_folder
from tasks.io import read_ratings


@step(name="train", timeout_seconds=6 * 3600)
def train_model(
    ratings_path: str,
    movie_index_path: str,
    scale: dict,
    config: dict,
    data_dir: str,
    warm_start_dir: str | None = None,
    monitor_path: str | None = None,
) -> dict:
    """Fit on ``ratings_path`` with hyperparameters ``config``; save the model in the step's folder.

    Args:
        ratings_path: Parquet with ``user_id``, ``movie_id``, ``rating``.
        movie_index_path: Parquet with every ``movie_id`` the model's index should hold.
        scale: the rating scale (``minimum``, ``maximum``, ``step``).
        config: :class:`cofi.models.config.TrainConfig` fields.
        data_dir: the data folder, whose step folder ``model/`` the model is saved in.
        warm_start_dir: a previous model to start from (see :func:`cofi.fit`'s ``warm_start``).
        monitor_path: held-out ratings whose RMSE the fit records at every check (the learning
            curve's held-out line; training is the same without it).

    Returns:
        A summary: the fields of :class:`cofi.outputs.record.TrainSummary`.
    """
    logger = get_run_logger()
    train_config = TrainConfig(**config)
    # Timestamps order the ranking lists' sequence graph; a model without one does not read them.
    ratings = read_ratings(ratings_path, timestamps=train_config.sequence_weight > 0)
    movie_ids = pd.read_parquet(movie_index_path)["movie_id"].to_numpy()
    # Which fit this is (train-holdout, train-final, ...): the name the flow gave the task run.
    context = TaskRunContext.get()
    fit = context.task_run.name if context else "train"
    what = (
        f"{fit}: {train_config.objective}, {train_config.n_features} features, "
        f"on {len(ratings):,} ratings" + (" (warm start)" if warm_start_dir else "")
    )
    progress_id = create_progress_artifact(0.0, key="cofi-training-progress", description=what)

    def progress(iteration: int, iterations: int, cost: float) -> None:
        logger.info("step %d/%d: cost %.4f", iteration, iterations, cost)
        update_progress_artifact(progress_id, 100.0 * iteration / iterations)

    warm = cofi.load_model(warm_start_dir) if warm_start_dir else None
    if warm is not None:
        logger.info("warm start from model %s (%s)", warm.model_id, warm_start_dir)
    started = time.perf_counter()
    model = cofi.fit(
        ratings,
        train_config,
        scale=RatingScale(**scale),
        movie_ids=movie_ids,
        callback=progress,
        warm_start=warm,
        monitor=read_ratings(monitor_path) if monitor_path else None,
    )
    seconds = time.perf_counter() - started
    steps = model.loss_history[-1][0] if model.loss_history else 0
    update_progress_artifact(
        progress_id, 100.0, description=f"{what}: {steps} steps in {seconds:.1f} s"
    )
    model_dir = str(step_folder(data_dir) / "model")
    model.save(model_dir)
    logger.info(
        "model %s fitted on %s ratings in %.1f s", model.model_id, f"{len(ratings):,}", seconds
    )
    return {
        "model_dir": model_dir,
        "model_id": model.model_id,
        "fit_seconds": round(seconds, 3),
        "final_cost": model.loss_history[-1][1] if model.loss_history else None,
        "n_ratings": len(ratings),
        "steps": steps,
        "warm_start_from": warm.model_id if warm is not None else None,
    }
