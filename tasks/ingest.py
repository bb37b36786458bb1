"""Ingest: a GroupLens source -> validated, typed Parquet with a manifest."""

from __future__ import annotations

import re
from pathlib import Path

from prefect import get_run_logger, task

from cofi.data.download import resolve_source
from cofi.data.ingest import ingest
from cofi.data.schema import KNOWN_DATASETS
from cofi.errors import DISK_ERRNOS, CofiError


def dataset_key(dataset: str | None, source: str | None) -> str:
    """A folder name for an ingested dataset: the dataset name, or one made from the source."""
    if not source:
        return dataset or "dataset"
    stem = Path(source.rstrip("/")).name.removesuffix(".zip")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem) or "dataset"


def not_a_user_error(task, task_run, state) -> bool:
    """Retry a download that failed, not a file or parameter the user got wrong, nor a full or
    read-only disk."""
    error = state.result(raise_on_failure=False)
    if isinstance(error, CofiError):
        return False
    return not (isinstance(error, OSError) and error.errno in DISK_ERRNOS)


@task(name="ingest", retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=not_a_user_error)
def ingest_movielens(
    dataset: str | None,
    source: str | None,
    data_dir: str,
    quarantine: bool = False,
    refresh: bool = False,
    sha256: str | None = None,
    allow_http: bool = False,
) -> dict:
    """Resolve the source (local folder, zip, URL or dataset name), validate it and write Parquet.

    An earlier ingest of the same source bytes with the same options is reused unless
    ``refresh``. A downloaded source must match ``sha256`` when given (see
    :func:`cofi.data.download.resolve_source`); ``allow_http`` accepts a plain http URL.

    Returns:
        A summary with the Parquet and manifest paths and the row counts.
    """
    logger = get_run_logger()
    root = Path(data_dir)
    location = resolve_source(
        dataset=dataset,
        source=source,
        cache_dir=root / "movielens",
        expected_sha256=sha256,
        allow_http=allow_http,
    )
    logger.info("reading %s", location)
    scale = KNOWN_DATASETS[dataset].scale if dataset in KNOWN_DATASETS and not source else None
    result = ingest(
        location,
        root / "datasets" / dataset_key(dataset, source),
        scale=scale,
        quarantine=quarantine,
        reuse=not refresh,
    )
    logger.info(
        "%s ratings from %s users on %s movies (%s quarantined) -> %s",
        f"{result.n_ratings:,}",
        f"{result.n_users:,}",
        f"{result.n_movies:,}",
        result.n_quarantined,
        result.out_dir,
    )
    return {
        "dataset_dir": str(result.out_dir),
        "ratings_path": str(result.ratings_path),
        "movies_path": str(result.movies_path),
        "manifest_path": str(result.manifest_path),
        "n_ratings": result.n_ratings,
        "n_users": result.n_users,
        "n_movies": result.n_movies,
        "n_quarantined": result.n_quarantined,
        "source_sha256": result.source_sha256,
        "reused": result.reused,
    }
