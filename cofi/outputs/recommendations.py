"""Per-user recommendation tables, written block by block to Parquet, whole or in user shards."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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


def published_blocks(
    model: Model,
    user_ids: np.ndarray | None = None,
    *,
    n: int = 10,
    min_ratings: int = 1,
    min_user_ratings: int = 0,
    rating_model: Model | None = None,
) -> Iterator[pd.DataFrame]:
    """The published top-``n`` lists, a block of users at a time, ranked by ``model``.

    ``score`` is ``model``'s score, the order of each list; ``predicted_rating`` is
    ``rating_model``'s prediction for the pair (on the scale when it predicts ratings), or
    ``model``'s own without a ``rating_model``. Cold-start users (see
    :meth:`cofi.models.model.Model.iter_recommendations`) get ``rating_model``'s popular list
    with its unknown-user predictions, as a single model gives them, and ``model``'s
    unknown-user score.

    Yields:
        DataFrames with ``user_id``, ``rank``, ``movie_id``, ``predicted_rating``, ``score``,
        ``fallback``.
    """
    blocks = model.iter_recommendations(
        user_ids, n=n, min_ratings=min_ratings, min_user_ratings=min_user_ratings
    )
    for block in blocks:
        if rating_model is None:
            yield _with_score(block, block["predicted_rating"].to_numpy())
            continue
        cold = block["fallback"].to_numpy()
        if cold.any():
            # The cold users' popular list and its ratings are the rating model's, as before.
            users = pd.unique(block["user_id"].to_numpy())
            order = pd.Series(np.arange(len(users)), index=users)
            fallback = rating_model.recommend(
                pd.unique(block["user_id"].to_numpy()[cold]),
                n=n,
                min_ratings=min_ratings,
                min_user_ratings=min_user_ratings,
            )
            unknown = np.full(len(fallback), -1, dtype=np.int64)
            score = model.predict_positions(
                unknown, model.movies.position_of(fallback["movie_id"].to_numpy())
            )
            scored = block.loc[~cold]
            scored = _with_score(
                scored,
                scored["predicted_rating"].to_numpy(),
                rating_model.predict(scored["user_id"].to_numpy(), scored["movie_id"].to_numpy()),
            )
            table = pd.concat([scored, _with_score(fallback, score)], ignore_index=True)
            table = table.iloc[
                np.lexsort((table["rank"].to_numpy(), order[table["user_id"]].to_numpy()))
            ]
            yield table.reset_index(drop=True)
        else:
            yield _with_score(
                block,
                block["predicted_rating"].to_numpy(),
                rating_model.predict(block["user_id"].to_numpy(), block["movie_id"].to_numpy()),
            )


def _with_score(
    block: pd.DataFrame, score: np.ndarray, predicted_rating: np.ndarray | None = None
) -> pd.DataFrame:
    """``block`` with its ``score`` column (after ``predicted_rating``) and, when given, new
    ``predicted_rating``."""
    block = block.copy()
    if predicted_rating is not None:
        block["predicted_rating"] = np.asarray(predicted_rating, np.float32)
    after = list(block.columns).index("predicted_rating") + 1
    block.insert(after, "score", np.asarray(score, np.float32))
    return block


def published_recommendations(
    model: Model,
    user_ids: np.ndarray | None = None,
    *,
    n: int = 10,
    min_ratings: int = 1,
    min_user_ratings: int = 0,
    rating_model: Model | None = None,
) -> pd.DataFrame:
    """:func:`published_blocks` as one DataFrame: the lists the pipeline publishes."""
    blocks = list(
        published_blocks(
            model,
            user_ids,
            n=n,
            min_ratings=min_ratings,
            min_user_ratings=min_user_ratings,
            rating_model=rating_model,
        )
    )
    if not blocks:
        empty = model.recommend([], n=n)
        return _with_score(empty, empty["predicted_rating"].to_numpy())
    return pd.concat(blocks, ignore_index=True)


def write_recommendations(
    model: Model,
    movies: pd.DataFrame,
    path: Path,
    *,
    n: int = 10,
    min_ratings: int = 1,
    min_user_ratings: int = 0,
    user_ids: np.ndarray | None = None,
    rating_model: Model | None = None,
) -> int:
    """Write the top-``n`` table of ``user_ids`` (default: every user) to ``path`` (Parquet).

    Users are scored a block at a time; the file appears at ``path`` only once complete.

    Args:
        model: the trained model that ranks (its scores are the ``score`` column).
        movies: ``movie_id`` and ``title`` of the movies, for the ``title`` column.
        path: the Parquet file to write.
        n: recommendations per user.
        min_ratings: candidates need at least this many training ratings.
        min_user_ratings: users with fewer ratings get the popular fallback, flagged in the
            ``fallback`` column (:meth:`cofi.models.model.Model.iter_recommendations`).
        user_ids: the users to write, in order; every user of the model by default.
        rating_model: the model whose predictions fill ``predicted_rating`` (default ``model``);
            see :func:`published_blocks`.

    Returns:
        The number of rows written.
    """
    blocks = published_blocks(
        model,
        user_ids,
        n=n,
        min_ratings=min_ratings,
        min_user_ratings=min_user_ratings,
        rating_model=rating_model,
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
