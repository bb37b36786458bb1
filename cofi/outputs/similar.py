"""Similar movies: each movie's nearest movies in the learned feature space, scored in blocks.

Two metrics compare rows ``x_i`` of ``X: (n_movies, n_features)``:

- ``"cosine"``: ``x_i . x_k / (||x_i|| ||x_k||)``, highest first; a zero row has similarity 0
  to every movie.
- ``"distance"``: the squared Euclidean distance ``||x_i - x_k||^2`` of the collaborative-filtering
  lab, smallest first, computed as ``||x_i||^2 + ||x_k||^2 - 2 x_i . x_k`` (clipped at 0).

Query movies are scored a block at a time against every candidate, so memory holds at most
``block_movies x n_movies`` scores, never ``n_movies x n_movies``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from cofi.data.schema import SIMILAR_SCHEMA
from cofi.errors import CofiError
from cofi.models.model import Model
from cofi.models.scoring import SCORE_BLOCK_BYTES, padded_movies, top_k
from cofi.outputs.tables import write_titled_blocks

Metric = Literal["cosine", "distance"]
METRICS: tuple[str, ...] = ("cosine", "distance")


_COLUMNS = {
    "movie_id": np.int32,
    "rank": np.int16,
    "similar_movie_id": np.int32,
    "score": np.float32,
}


def iter_similar(
    model: Model,
    movie_ids=None,
    n: int = 10,
    *,
    metric: Metric = "cosine",
    min_ratings: int = 1,
    block_movies: int | None = None,
) -> Iterator[pd.DataFrame]:
    """The top-``n`` most similar other movies of each query movie, one DataFrame per block.

    A movie is never its own neighbour. Candidates are the movies with at least
    ``max(1, min_ratings)`` training ratings (features of unrated movies were never fitted).
    Equal scores are ordered by the lower movie row, i.e. the lower movie id, so the result
    is reproducible. A query movie with fewer than ``n`` other candidates gets fewer rows.

    Args:
        model: the trained model.
        movie_ids: (n_queries,) external ids of the query movies, in output order. Default: every
            movie with at least ``max(1, min_ratings)`` training ratings, by increasing id.
            Given ids are queried whatever their rating count.
        n: neighbours per query movie, at least 1.
        metric: ``"cosine"`` (score: cosine similarity, highest first) or ``"distance"``
            (score: squared Euclidean distance, smallest first).
        min_ratings: candidates (and default queries) need at least this many training ratings.
        block_movies: query movies per block; by default sized so one block of scores stays
            near :data:`cofi.models.scoring.SCORE_BLOCK_BYTES`.

    Yields:
        DataFrames with ``movie_id`` (int32), ``rank`` (int16, 1..n), ``similar_movie_id``
        (int32), ``score`` (float32), ordered by query then rank.

    Raises:
        ValueError: ``n`` or ``block_movies`` is below 1, or ``metric`` is unknown.
        CofiError: some of ``movie_ids`` are not in the model (the message names them).
    """
    # Checked here, not in the generator, so a bad call fails at once rather than on first use.
    positions, block_movies = _check(model, movie_ids, n, metric, min_ratings, block_movies)
    return (frame for _, frame in _blocks(model, positions, n, metric, min_ratings, block_movies))


def similar_movies(
    model: Model,
    movie_ids=None,
    n: int = 10,
    *,
    metric: Metric = "cosine",
    min_ratings: int = 1,
) -> pd.DataFrame:
    """All of :func:`iter_similar`'s blocks in one DataFrame (same arguments and columns).

    Returns:
        ``movie_id``, ``rank``, ``similar_movie_id``, ``score``, ordered by query then rank;
        an empty frame with those columns and dtypes when there is nothing to return.
    """
    blocks = list(iter_similar(model, movie_ids, n, metric=metric, min_ratings=min_ratings))
    if not blocks:
        return pd.DataFrame({name: np.array([], dtype) for name, dtype in _COLUMNS.items()})
    return pd.concat(blocks, ignore_index=True)


def write_similar(
    model: Model,
    movies: pd.DataFrame,
    path: Path,
    *,
    n: int = 10,
    metric: Metric = "cosine",
    min_ratings: int = 1,
) -> int:
    """Write every candidate movie's top-``n`` similar movies to ``path`` (Parquet).

    Query movies are the default ones of :func:`iter_similar`. Blocks are written as they are
    scored; the file appears at ``path`` only once complete, with :data:`SIMILAR_SCHEMA`.

    Args:
        model: the trained model.
        movies: ``movie_id`` and ``title`` of the movies, for the ``similar_title`` column
            (null for a movie not listed).
        path: the Parquet file to write.
        n: neighbours per movie.
        metric: ``"cosine"`` or ``"distance"``.
        min_ratings: candidates and queries need at least this many training ratings.

    Returns:
        The number of rows written.
    """
    positions, block_movies = _check(model, None, n, metric, min_ratings, None)
    return write_titled_blocks(
        path,
        SIMILAR_SCHEMA,
        _blocks(model, positions, n, metric, min_ratings, block_movies),
        titles=movies.set_index("movie_id")["title"],
        movie_column="similar_movie_id",
        title_column="similar_title",
        model_id=model.model_id,
        total=len(positions),
        unit="movie",
    )


def _check(
    model: Model, movie_ids, n: int, metric: str, min_ratings: int, block_movies: int | None
) -> tuple[np.ndarray, int]:
    """Validate the arguments; return the query positions and the block size."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {list(METRICS)}, got {metric!r}")
    if block_movies is not None and block_movies < 1:
        raise ValueError(f"block_movies must be at least 1, got {block_movies}")
    if movie_ids is None:
        positions = np.flatnonzero(model.movie_count >= max(1, min_ratings))
    else:
        query = np.asarray(movie_ids).reshape(-1)
        # Repeats are answered once, at their first place, as in Model.recommend.
        _, first = np.unique(query, return_index=True)
        query = query[np.sort(first)]
        positions = model.movies.position_of(query)
        unknown = query[positions < 0]
        if unknown.size:
            shown = ", ".join(str(movie_id) for movie_id in unknown[:10])
            more = f" and {unknown.size - 10} more" if unknown.size > 10 else ""
            raise CofiError(f"movie id(s) not in the model: {shown}{more}")
    if block_movies is None:
        block_movies = max(1, SCORE_BLOCK_BYTES // (4 * max(model.n_movies, 1)))
    return positions.astype(np.int64), block_movies


def _blocks(
    model: Model,
    positions: np.ndarray,
    n: int,
    metric: str,
    min_ratings: int,
    block_movies: int,
) -> Iterator[tuple[int, pd.DataFrame]]:
    """Yield ``(queries in the block, its frame)`` for validated arguments."""
    candidate = model.movie_count >= max(1, min_ratings)
    k = min(n, int(candidate.sum()))
    if k == 0 or len(positions) == 0:
        return

    X = model.X.astype(np.float32, copy=False)
    if metric == "cosine":
        norm = np.linalg.norm(X, axis=1, keepdims=True)
        # Dividing a zero row by 1 keeps it zero, so its similarity to everything is 0.
        X = X / np.where(norm > 0, norm, 1).astype(np.float32)
    # Non-candidates get -inf once, in a per-movie term added to every block's scores.
    candidate_term = np.where(candidate, 0.0, -np.inf).astype(np.float32)
    score_block = _block_scorer(X, candidate_term, k, metric)
    for start in range(0, len(positions), block_movies):
        block = positions[start : start + block_movies]
        top_scores, top = score_block(X[block], block.astype(np.int32))
        top_scores, top = top_scores.numpy(), top.numpy()
        valid = np.isfinite(top_scores)
        # The scorer maximizes the negated distance; 0 - s, not -s, keeps a zero distance +0.
        scores = top_scores if metric == "cosine" else 0.0 - top_scores
        query_column = np.repeat(model.movies.ids[block], k).reshape(len(block), k)
        rank = np.tile(np.arange(1, k + 1, dtype=np.int16), (len(block), 1))
        yield (
            len(block),
            pd.DataFrame(
                {
                    "movie_id": query_column[valid].astype(np.int32),
                    "rank": rank[valid],
                    "similar_movie_id": model.movies.ids[top[valid]].astype(np.int32),
                    "score": scores[valid].astype(np.float32),
                }
            ),
        )


def _block_scorer(X: np.ndarray, candidate_term: np.ndarray, k: int, metric: str):
    """A compiled function scoring a block of query movies against every movie, keeping the top k.

    Args:
        X: (n_movies, n_features) float32 features (rows unit-length for cosine).
        candidate_term: (n_movies,) 0 for candidates, -inf otherwise.
        k: neighbours kept per query.
        metric: ``"cosine"`` or ``"distance"``.

    Returns:
        ``score(X_block: (n_block, n_features), rows: (n_block,))`` giving ``(values, indices)``,
        each (n_block, k): cosine similarity or the negated squared distance, and movie rows.
        A query's own row is -inf; ties go to the lower movie row. XLA-compiled, with the
        chunked :func:`cofi.models.scoring.top_k` over the padded movies.
    """
    import tensorflow as tf

    padded, candidate_term = padded_movies(X, candidate_term)
    compiled = _compiled_scorer(padded.shape[0], padded.shape[1], k, metric)
    X_tensor, term_tensor = tf.constant(padded), tf.constant(candidate_term)
    squared_norm = tf.reduce_sum(X_tensor * X_tensor, axis=1)

    def score(X_block, rows):
        return compiled(X_tensor, squared_norm, term_tensor, X_block, rows)

    return score


@functools.lru_cache(maxsize=32)
def _compiled_scorer(n_rows: int, n_features: int, k: int, metric: str):
    """The compiled scorer of :func:`_block_scorer` for padded movies of this shape: traced
    once, query blocks of any size (XLA compiles each shape it meets once)."""
    import tensorflow as tf

    @tf.function(
        jit_compile=True,
        autograph=False,
        input_signature=[
            tf.TensorSpec([n_rows, n_features], tf.float32),
            tf.TensorSpec([n_rows], tf.float32),
            tf.TensorSpec([n_rows], tf.float32),
            tf.TensorSpec([None, n_features], tf.float32),
            tf.TensorSpec([None], tf.int32),
        ],
    )
    def score(X, squared_norm, candidate_term, X_block, rows):
        dot = tf.linalg.matmul(X_block, X, transpose_b=True)
        if metric == "cosine":
            scores = dot
        else:
            block_norm = tf.reduce_sum(X_block * X_block, axis=1)
            # Rounding can make a tiny distance negative; a distance is never below 0.
            distance = tf.maximum(block_norm[:, None] + squared_norm[None, :] - 2.0 * dot, 0.0)
            scores = -distance
        scores = scores + candidate_term[None, :]
        own = tf.stack([tf.range(tf.shape(rows)[0]), rows], axis=1)
        scores = tf.tensor_scatter_nd_update(scores, own, tf.fill(tf.shape(rows), -np.inf))
        return top_k(scores, k)

    return score
