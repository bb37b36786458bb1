"""Per-user recommendation tables, written block by block to Parquet."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cofi.model import Model
from cofi.publish import atomic_path
from cofi.schema import RECOMMENDATIONS_SCHEMA


def write_recommendations(
    model: Model, movies: pd.DataFrame, path: Path, *, n: int = 10, min_ratings: int = 1
) -> int:
    """Write every user's top-``n`` table to ``path`` (Parquet), one block of users at a time.

    The file appears at ``path`` only once complete.

    Args:
        model: the trained model.
        movies: ``movie_id`` and ``title`` of the movies, for the ``title`` column.
        path: the Parquet file to write.
        n: recommendations per user.
        min_ratings: candidates need at least this many training ratings.

    Returns:
        The number of rows written.
    """
    titles = movies.set_index("movie_id")["title"]
    rows = 0
    with atomic_path(path) as staging, pq.ParquetWriter(staging, RECOMMENDATIONS_SCHEMA) as writer:
        for block in model.iter_recommendations(n=n, min_ratings=min_ratings):
            block.insert(3, "title", block["movie_id"].map(titles))
            block["model_id"] = model.model_id
            writer.write_table(
                pa.Table.from_pandas(block, schema=RECOMMENDATIONS_SCHEMA, preserve_index=False)
            )
            rows += len(block)
    return rows
