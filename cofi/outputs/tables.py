"""Output tables written to Parquet a block at a time, the file appearing only once complete."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cofi.outputs.publish import atomic_path


def write_titled_blocks(
    path: Path,
    schema: pa.Schema,
    blocks: Iterable[tuple[int, pd.DataFrame]],
    *,
    titles: pd.Series,
    movie_column: str,
    title_column: str,
    model_id: str,
    total: int,
    unit: str,
) -> int:
    """Write ``blocks`` to the Parquet file ``path`` with ``schema``, showing a progress bar.

    Each block gets ``title_column``, the title of its ``movie_column`` movie (null for a movie
    not in ``titles``), as its fourth column, and a ``model_id`` column.

    Args:
        path: the Parquet file to write; it appears only once every block is written.
        schema: the file's schema; each block must fit it once titled.
        blocks: ``(work done, block)`` pairs; the work done moves the progress bar on.
        titles: movie id -> title.
        movie_column: the block's column of movie ids to title.
        title_column: the name of the title column added.
        model_id: the id of the model that scored the blocks.
        total: the work the blocks hold in all, for the progress bar.
        unit: what the progress bar counts (``"user"``, ``"movie"``).

    Returns:
        The number of rows written.
    """
    from tqdm.auto import tqdm

    rows = 0
    with (
        atomic_path(path) as staging,
        pq.ParquetWriter(staging, schema) as writer,
        tqdm(total=total, desc=f"{unit}s", unit=unit, leave=False, disable=None) as bar,
    ):
        for done, block in blocks:
            bar.update(done)
            block.insert(3, title_column, block[movie_column].map(titles))
            block["model_id"] = model_id
            writer.write_table(pa.Table.from_pandas(block, schema=schema, preserve_index=False))
            rows += len(block)
    return rows
