"""Small Parquet helpers shared by the tasks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from cofi.outputs.publish import atomic_path

RATING_COLUMNS = ["user_id", "movie_id", "rating"]


def read_ratings(path: str | Path, *, timestamps: bool = False) -> pd.DataFrame:
    """The ratings at ``path``; with ``timestamps``, their ``timestamp`` too where it has one."""
    columns = list(RATING_COLUMNS)
    if timestamps and "timestamp" in pq.read_schema(path).names:
        columns.append("timestamp")
    return pd.read_parquet(path, columns=columns)


def write_parquet(frame: pd.DataFrame, path: str | Path) -> str:
    """Write ``frame`` to ``path`` atomically and return the path as a string."""
    with atomic_path(Path(path)) as staging:
        frame.to_parquet(staging, index=False)
    return str(path)
