"""Warm start: find the last published model that this run may start from."""

from __future__ import annotations

import json
from pathlib import Path

from prefect import get_run_logger, task

from cofi.errors import CofiError
from cofi.models.config import TrainConfig
from cofi.models.model import load_model
from cofi.models.warm import check_warm_start


@task(name="find-warm-start")
def find_warm_start(
    latest: str,
    dataset: str,
    holdout_fraction: float,
    seed: int,
    config: dict,
    ratings_digest: str | None = None,
) -> dict:
    """The published run's models to warm-start from, or why there are none.

    The final model starts from the published final model when that run was on the same dataset
    with the same objective and ``n_features``. The held-out model starts from the published
    held-out model only when the hold-out split was the same too (same fraction and seed; the
    split is stable as ratings arrive), so it has never seen this run's test ratings.

    When the published run was itself trained with this very ``config`` on the same ratings
    (``ratings_digest``, the SHA-256 of ratings.parquet) and split, nothing new has arrived:
    ``train`` then holds its train summaries, to be reused rather than trained again, which
    would only drift.

    Returns:
        ``model_dir`` and ``holdout_model_dir`` (None where not usable), ``train`` (the
        published train summaries when nothing changed, else None) and ``reason``.
    """
    logger = get_run_logger()
    summary_path = Path(latest) / "summary.json"
    found = {"model_dir": None, "holdout_model_dir": None, "from_run": None, "train": None}
    if not summary_path.is_file():
        reason = f"no published run at {latest}: cold start"
        logger.info(reason)
        return {**found, "reason": reason}
    summary = json.loads(summary_path.read_text())
    if summary.get("dataset") != dataset:
        reason = f"the published run is of {summary.get('dataset')!r}, not {dataset!r}: cold start"
        logger.warning(reason)
        return {**found, "reason": reason}
    model_dir = Path(summary_path.parent / "model")
    try:
        check_warm_start(load_model(model_dir), TrainConfig(**config))
    except CofiError as error:
        reason = f"{error}: cold start"
        logger.warning(reason)
        return {**found, "reason": reason}
    found.update(model_dir=str(model_dir), from_run=str(summary_path.parent.resolve()))
    holdout = summary.get("holdout_model_dir")
    same_split = (summary.get("holdout_fraction"), summary.get("seed")) == (holdout_fraction, seed)
    if holdout and same_split and Path(holdout, "model.json").is_file():
        found["holdout_model_dir"] = holdout
        reason = f"warm start from {found['from_run']} (final and held-out models)"
    else:
        reason = f"warm start from {found['from_run']} (final model; held-out model cold)"
    trained = summary.get("train") or {}
    unchanged = (
        ratings_digest is not None
        and summary.get("ratings_digest") == ratings_digest
        and summary.get("config") == config
        and same_split
        and all(
            part is None or Path(part["model_dir"], "model.json").is_file()
            for part in (trained.get("holdout"), trained.get("final"))
        )
        and trained.get("final") is not None
    )
    if unchanged:
        found["train"] = trained
        reason = f"no new ratings since {found['from_run']}: its models stand"
    logger.info(reason)
    return {**found, "reason": reason}
