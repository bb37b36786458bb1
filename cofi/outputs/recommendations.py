"""Per-user recommendation tables, written block by block to Parquet, whole or in user shards."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from cofi.data.schema import RECOMMENDATIONS_SCHEMA
from cofi.models.model import Model
from cofi.outputs.publish import atomic_path
from cofi.outputs.tables import write_titled_blocks


def shard_users(model: Model, shard: int, n_shards: int) -> np.ndarray:
    """The user ids of shard ``shard`` of ``n_shards``: contiguous, near-equal runs of the index.

    Concatenating the shards' tables in shard order gives exactly the single-process table.
    """
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard must lie in [0, {n_shards}), got {shard}")
    bounds = np.linspace(0, model.n_users, n_shards + 1).astype(np.int64)
    return model.users.ids[bounds[shard] : bounds[shard + 1]]


def write_recommendations(
    model: Model,
    movies: pd.DataFrame,
    path: Path,
    *,
    n: int = 10,
    min_ratings: int = 1,
    min_user_ratings: int = 0,
    user_ids: np.ndarray | None = None,
) -> int:
    """Write the top-``n`` table of ``user_ids`` (default: every user) to ``path`` (Parquet).

    Users are scored a block at a time; the file appears at ``path`` only once complete.

    Args:
        model: the trained model.
        movies: ``movie_id`` and ``title`` of the movies, for the ``title`` column.
        path: the Parquet file to write.
        n: recommendations per user.
        min_ratings: candidates need at least this many training ratings.
        min_user_ratings: users with fewer ratings get the popular fallback, flagged in the
            ``fallback`` column (:meth:`cofi.models.model.Model.iter_recommendations`).
        user_ids: the users to write, in order; every user of the model by default.

    Returns:
        The number of rows written.
    """
    blocks = model.iter_recommendations(
        user_ids, n=n, min_ratings=min_ratings, min_user_ratings=min_user_ratings
    )
    return write_titled_blocks(
        path,
        RECOMMENDATIONS_SCHEMA,
        ((block["user_id"].nunique(), block) for block in blocks),
        titles=movies.set_index("movie_id")["title"],
        movie_column="movie_id",
        title_column="title",
        model_id=model.model_id,
        total=model.n_users if user_ids is None else len(user_ids),
        unit="user",
    )


def combine_parts(parts: Sequence[Path], path: Path) -> int:
    """Concatenate Parquet parts, in the given order, into one file at ``path`` (atomically).

    Streams one row group at a time, so memory holds one group, not the table.

    Returns:
        The number of rows written.
    """
    rows = 0
    with atomic_path(path) as staging, pq.ParquetWriter(staging, RECOMMENDATIONS_SCHEMA) as writer:
        for part in parts:
            reader = pq.ParquetFile(part)
            for group in range(reader.num_row_groups):
                table = reader.read_row_group(group).cast(RECOMMENDATIONS_SCHEMA)
                writer.write_table(table)
                rows += table.num_rows
    return rows
