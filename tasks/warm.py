"""Warm start: find the last published model that this run may start from."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task

from cofi.errors import CofiError
from cofi.models.config import TrainConfig
from cofi.models.model import load_model
from cofi.models.warm import check_warm_start
from cofi.outputs.record import RECORD_NAME, RunRecord


@task(name="find-warm-start")
def find_warm_start(
    latest: str,
    dataset: str,
    holdout_fraction: float,
    seed: int,
    config: dict,
    ratings_digest: str | None = None,
    ranking: bool = False,
) -> dict:
    """The published run's models to warm-start from, or why there are none.

    ``ranking``: the ranking models (``ranking-model/`` and the held-out ranking model), under
    the same checks, instead of the rating models.

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
    found = {"model_dir": None, "holdout_model_dir": None, "from_run": None, "train": None}
    if not (Path(latest) / RECORD_NAME).is_file():
        reason = f"no published run at {latest}: cold start"
        logger.info(reason)
        return {**found, "reason": reason}
    try:
        record = RunRecord.read(Path(latest) / RECORD_NAME)
    except CofiError as error:
        reason = f"{error}: cold start"
        logger.warning(reason)
        return {**found, "reason": reason}
    if record.dataset != dataset:
        reason = f"the published run is of {record.dataset!r}, not {dataset!r}: cold start"
        logger.warning(reason)
        return {**found, "reason": reason}
    # The record's own folders, not `latest`: another run may publish while this one reads.
    model_dir = record.ranking_model_dir if ranking else record.model_dir
    if model_dir is None:
        reason = "the published run has no ranking model: ranking model cold"
        logger.info(reason)
        return {**found, "reason": reason}
    wanted = TrainConfig(**config)
    try:
        check_warm_start(load_model(model_dir), wanted)
    except CofiError as error:
        reason = f"{error}: cold start"
        logger.warning(reason)
        return {**found, "reason": reason}
    found.update(model_dir=str(model_dir), from_run=str(record.run_dir))
    holdout = record.ranking_holdout_model_dir if ranking else record.holdout_model_dir
    same_split = (record.holdout_fraction, record.seed) == (holdout_fraction, seed)
    if holdout and same_split and (holdout / "model.json").is_file():
        found["holdout_model_dir"] = str(holdout)
        reason = f"warm start from {found['from_run']} (final and held-out models)"
    else:
        reason = f"warm start from {found['from_run']} (final model; held-out model cold)"
    train = record.train
    published = (
        (train.ranking_holdout, train.ranking_final) if ranking else (train.holdout, train.final)
    )
    fits = [fit for fit in published if fit is not None]
    unchanged = (
        record.ratings_digest == ratings_digest
        and (record.ranking_config if ranking else record.config) == wanted
        and same_split
        and all((fit.model_dir / "model.json").is_file() for fit in fits)
    )
    if unchanged:
        holdout_fit, final_fit = published
        found["train"] = {
            "holdout": holdout_fit and holdout_fit.model_dump(mode="json"),
            "final": final_fit and final_fit.model_dump(mode="json"),
        }
        reason = f"no new ratings since {found['from_run']}: its models stand"
    logger.info(reason)
    return {**found, "reason": reason}
