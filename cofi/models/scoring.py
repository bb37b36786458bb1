"""Top-N scoring of a :class:`~cofi.models.model.Model`: blocks of users against every movie.

Nothing of size n_users x n_movies is held: a block of users is scored at a time (an
XLA-compiled TensorFlow matmul and an exact chunked top k, :func:`top_k`), with the movies each
user rated masked out.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cofi.data.matrices import concatenated_ranges
from cofi.models.sequence import SequenceGraph, neighbour_scores

if TYPE_CHECKING:
    from cofi.models.model import Model

#: Scoring works on blocks of users sized so one block of scores stays near this many bytes.
SCORE_BLOCK_BYTES = 128 << 20


def iter_recommendations(
    model: Model,
    user_ids=None,
    n: int = 10,
    *,
    min_ratings: int = 1,
    min_user_ratings: int = 0,
    block_users: int | None = None,
) -> Iterator[pd.DataFrame]:
    """Top-``n`` unseen movies for users, one DataFrame per block of users.

    Scores ``W_block X^T + b + movie_offset + movie_bias`` for a block of users at a time, so
    memory holds at most ``block_users x n_movies`` scores. A model with a sequence graph
    (:mod:`cofi.models.sequence`) orders by ``z(score) + sequence_weight * z(neighbours)``
    instead, each z-scored over the user's candidates, and reports that blend as the
    ``predicted_rating`` (a preference score: only ranking objectives take the term). The cold
    start's rows keep the model's own scores. Movies a user rated in training
    and movies with fewer than ``min_ratings`` training ratings are never returned (a movie
    rated once, five stars, would otherwise top every list). A user with fewer than ``n``
    candidates gets fewer rows.

    Cold start: users with fewer than ``min_user_ratings`` training ratings, and unknown user
    ids when ``min_user_ratings >= 1``, get :func:`popular_movies` instead (minus any they
    rated), flagged ``fallback=True``. With the default 0 every known user is scored by the
    model and unknown ids are skipped.

    Yields:
        DataFrames with ``user_id``, ``rank`` (1..n), ``movie_id``, ``predicted_rating``,
        ``fallback``.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if user_ids is None:
        ids = model.users.ids
        positions = np.arange(model.n_users, dtype=np.int64)
    else:
        ids = np.asarray(user_ids).reshape(-1).astype(np.int64)
        _, first = np.unique(ids, return_index=True)
        ids = ids[np.sort(first)]
        positions = model.users.position_of(ids)
        if min_user_ratings < 1:
            ids, positions = ids[positions >= 0], positions[positions >= 0]
    if block_users is None:
        block_users = max(1, SCORE_BLOCK_BYTES // (4 * max(model.n_movies, 1)))

    k = min(n, model.n_movies)
    # Movies that may not be recommended get -inf once, in the per-movie term.
    candidate = model.movie_count >= max(1, min_ratings)
    movie_term = np.where(candidate, model.movie_offset + model.movie_bias, -np.inf)
    X = model.X.astype(np.float32, copy=False)
    sequence = model.sequence if model.config.sequence_weight > 0 else None
    score_block = _block_scorer(
        X, movie_term.astype(np.float32), k, model.config.sequence_weight if sequence else None
    )
    counts = np.diff(model.seen_indptr)
    popular = None
    for start in range(0, len(positions), block_users):
        block_ids = ids[start : start + block_users]
        block = positions[start : start + block_users]
        cold = (block < 0) | (counts[np.maximum(block, 0)] < min_user_ratings)
        if not cold.any():
            yield _scored_block(model, score_block, block, k, sequence)
            continue
        tables = []
        if (~cold).any():
            tables.append(_scored_block(model, score_block, block[~cold], k, sequence))
        if popular is None:
            popular = popular_movies(model, n + max(min_user_ratings, 1), min_ratings)
        tables.append(_fallback_block(model, block_ids[cold], block[cold], popular, n))
        order = pd.Series(np.arange(len(block_ids)), index=block_ids)
        table = pd.concat(tables, ignore_index=True)
        table = table.iloc[
            np.lexsort((table["rank"].to_numpy(), order[table["user_id"]].to_numpy()))
        ]
        yield table.reset_index(drop=True)


def _scored_block(
    model: Model, score_block, block: np.ndarray, k: int, sequence: SequenceGraph | None = None
) -> pd.DataFrame:
    """The model's top ``k`` for users at ``block`` positions (with the sequence term, if any)."""
    starts, ends = model.seen_indptr[block], model.seen_indptr[block + 1]
    rows = np.repeat(np.arange(len(block), dtype=np.int32), ends - starts)
    columns = model.seen_movies[concatenated_ranges(starts, ends)].astype(np.int32)
    extra = ()
    if sequence is not None:
        extra = (
            neighbour_scores(sequence, rows, columns, len(block), padded_width(model.n_movies)),
        )
    top_scores, top = score_block(
        model.W[block].astype(np.float32, copy=False),
        model.b[0, block].astype(np.float32, copy=False),
        np.stack([rows, columns], axis=1),
        *extra,
    )
    top_scores, top = top_scores.numpy(), top.numpy()
    valid = np.isfinite(top_scores)
    user_column = np.repeat(model.users.ids[block], k).reshape(len(block), k)
    rank = np.tile(np.arange(1, k + 1, dtype=np.int16), (len(block), 1))
    return pd.DataFrame(
        {
            "user_id": user_column[valid].astype(np.int32),
            "rank": rank[valid],
            "movie_id": model.movies.ids[top[valid]].astype(np.int32),
            "predicted_rating": model._on_scale(top_scores[valid]).astype(np.float32),
            "fallback": np.zeros(int(valid.sum()), dtype=bool),
        }
    )


def popular_movies(model: Model, n: int = 10, min_ratings: int = 1) -> np.ndarray:
    """The cold-start list: movie positions of popular, well-rated movies, best first.

    Candidates are the most-rated tenth of the movies with at least ``min_ratings``
    ratings (at least ``n`` of them). They are ordered by what the model predicts for a user
    it knows nothing about, ``movie_offset + movie_bias``: the regularized movie effect
    (for ``objective="ranking"``, which has none, by rating count), ties by rating count.
    """
    rated = np.flatnonzero(model.movie_count >= max(1, min_ratings))
    by_count = rated[np.argsort(-model.movie_count[rated], kind="stable")]
    pool = by_count[: max(n, -(-len(rated) // 10))]
    score = (model.movie_offset + model.movie_bias)[pool]
    return pool[np.lexsort((-model.movie_count[pool], -score))][:n]


def _fallback_block(
    model: Model, user_ids: np.ndarray, positions: np.ndarray, popular: np.ndarray, n: int
) -> pd.DataFrame:
    """The popular list for cold users, minus the movies each one rated.

    ``predicted_rating`` is what the model predicts for a user it knows nothing about, the
    order the list is in; the user's own few ratings do not move it.
    """
    seen = np.zeros((len(positions), len(popular)), dtype=bool)
    column_of = np.full(model.n_movies, -1, dtype=np.int64)
    column_of[popular] = np.arange(len(popular))
    for row, position in enumerate(positions):
        if position >= 0:
            rated = column_of[
                model.seen_movies[model.seen_indptr[position] : model.seen_indptr[position + 1]]
            ]
            seen[row, rated[rated >= 0]] = True
    # Unseen candidates first, each group in the popular order: the first n are the picks.
    picks = np.argsort(seen, axis=1, kind="stable")[:, :n]
    valid = ~np.take_along_axis(seen, picks, axis=1)
    movie_rows = popular[picks]
    users = np.repeat(user_ids, picks.shape[1]).reshape(picks.shape)
    rank = np.tile(np.arange(1, picks.shape[1] + 1, dtype=np.int16), (len(positions), 1))
    return pd.DataFrame(
        {
            "user_id": users[valid].astype(np.int32),
            "rank": rank[valid],
            "movie_id": model.movies.ids[movie_rows[valid]].astype(np.int32),
            "predicted_rating": model.predict_positions(
                np.full(int(valid.sum()), -1), movie_rows[valid]
            ),
            "fallback": np.ones(int(valid.sum()), dtype=bool),
        }
    )


def _block_scorer(
    X: np.ndarray, movie_term: np.ndarray, k: int, sequence_weight: float | None = None
):
    """A function scoring a block of users against every movie and keeping the top k.

    With a ``sequence_weight`` the function also takes the block's neighbour scores
    (``block x padded_width(n_movies)``, zeros in the padding) and ranks by ``z(scores) + sequence_weight * z(neighbours)``
    (:func:`blend_with_neighbours`).

    ``W_block X^T + b_block + movie_term``, seen (row, column) pairs set to -inf, then
    :func:`top_k`, in one XLA-compiled function (:func:`_compiled_scorer`). The movies are
    padded to whole chunks (:func:`padded_movies`); the seen pairs to a power of two, the extra
    ones pointing at a padding column, so that XLA compiles a few shapes only (and once per
    process: a later call with the same shapes reuses the compiled code) and sets the seen
    scores in place. All 162,541 users of an ML-25M-shaped model took 21 s instead of 48 s with
    ``tf.math.top_k`` over every score (benchmarks/scoring.py).
    """
    import tensorflow as tf

    n_movies = X.shape[0]
    X, movie_term = padded_movies(X, movie_term)
    blended = sequence_weight is not None
    weight = np.float32(sequence_weight or 0.0)
    compiled = _compiled_scorer(X.shape[0], X.shape[1], k, blended)
    X_tensor, term_tensor = tf.constant(X), tf.constant(movie_term)

    def score(W_block, b_block, seen, *neighbours):
        padded = np.empty((_bucket(len(seen)), 2), dtype=np.int32)
        padded[: len(seen)] = seen
        padded[len(seen) :] = (0, n_movies)  # a padding column, -inf already
        extra = (*neighbours, weight) if blended else ()  # neighbours: padded_width columns
        return compiled(X_tensor, term_tensor, W_block, b_block, padded, *extra)

    return score


@functools.lru_cache(maxsize=32)
def _compiled_scorer(n_rows: int, n_features: int, k: int, blended: bool = False):
    """The compiled scorer of :func:`_block_scorer` for padded movies of this shape: traced
    once, the users and seen pairs of any number (XLA compiles each shape it meets once)."""
    import tensorflow as tf

    signature = [
        tf.TensorSpec([n_rows, n_features], tf.float32),
        tf.TensorSpec([n_rows], tf.float32),
        tf.TensorSpec([None, n_features], tf.float32),
        tf.TensorSpec([None], tf.float32),
        tf.TensorSpec([None, 2], tf.int32),
    ]

    def masked_scores(X, movie_term, W_block, b_block, seen):
        scores = (
            tf.linalg.matmul(W_block, X, transpose_b=True) + b_block[:, None] + movie_term[None, :]
        )
        return tf.tensor_scatter_nd_update(scores, seen, tf.fill(tf.shape(seen)[:1], -np.inf))

    if not blended:

        @tf.function(jit_compile=True, autograph=False, input_signature=signature)
        def compiled(X, movie_term, W_block, b_block, seen):
            return top_k(masked_scores(X, movie_term, W_block, b_block, seen), k)

        return compiled

    @tf.function(
        jit_compile=True,
        autograph=False,
        input_signature=[
            *signature,
            tf.TensorSpec([None, n_rows], tf.float32),
            tf.TensorSpec([], tf.float32),
        ],
    )
    def compiled_blend(X, movie_term, W_block, b_block, seen, neighbours, weight):
        scores = masked_scores(X, movie_term, W_block, b_block, seen)
        return top_k(blend_with_neighbours(scores, neighbours, weight), k)

    return compiled_blend


def blend_with_neighbours(scores, neighbours, weight):
    """``z(scores) + weight * z(neighbours)`` where ``scores`` is finite, -inf elsewhere.

    Both are z-scored per row over the finite ``scores`` (a user's candidates): minus their
    mean, over their standard deviation (a constant row gives zeros).
    """
    import tensorflow as tf

    candidate = tf.math.is_finite(scores)
    count = tf.maximum(tf.reduce_sum(tf.cast(candidate, scores.dtype), axis=1, keepdims=True), 1.0)

    def standardized(values):
        values = tf.where(candidate, values, 0.0)
        mean = tf.reduce_sum(values, axis=1, keepdims=True) / count
        centred = tf.where(candidate, values - mean, 0.0)
        std = tf.sqrt(tf.reduce_sum(tf.square(centred), axis=1, keepdims=True) / count)
        return centred / tf.maximum(std, 1e-12)

    blended = standardized(scores) + weight * standardized(neighbours)
    return tf.where(candidate, blended, -np.inf)


#: :func:`top_k` cuts each row of scores into chunks of this many movies.
TOP_K_CHUNK = 64


def padded_width(n_movies: int) -> int:
    """The number of movies :func:`padded_movies` pads ``n_movies`` to."""
    return n_movies + (-(n_movies + 1) % TOP_K_CHUNK) + 1


def padded_movies(X: np.ndarray, movie_term: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``X`` (n_movies, n_features) with zero rows and ``movie_term`` with -inf appended, up to
    whole :data:`TOP_K_CHUNK` chunks and at least one padding movie: scores against the padded
    ``X`` plus the padded term are rows :func:`top_k` takes, whose padding is never picked."""
    n_movies, n_features = X.shape
    padding = padded_width(n_movies) - n_movies
    X = np.concatenate([X, np.zeros((padding, n_features), dtype=X.dtype)])
    movie_term = np.concatenate([movie_term, np.full(padding, -np.inf, dtype=movie_term.dtype)])
    return X, movie_term


def top_k(scores, k: int):
    """``tf.math.top_k(scores, k)``, exactly (values, and ties broken by the lower column), in
    two passes over the columns' chunks instead of a heap over every score.

    The width of ``scores`` must be a multiple of :data:`TOP_K_CHUNK`. The k chunks with the
    highest maxima hold every top-k score: a chunk holding one has its maximum among the top k,
    and k top scores lie in at most k chunks. Those chunks, in column order, are then searched
    for the k best. On 2 cores it ran 4 to 5 times faster than ``tf.math.top_k`` on a block of
    537 x 62,464 scores, inside one XLA-compiled function.
    """
    import tensorflow as tf

    rows, width = tf.shape(scores)[0], int(scores.shape[1])
    n_chunks = width // TOP_K_CHUNK
    chunks = tf.reshape(scores, [rows, n_chunks, TOP_K_CHUNK])
    _, best = tf.math.top_k(tf.reduce_max(chunks, axis=2), min(k, n_chunks))
    best = tf.sort(best, axis=1)  # column order, so that ties go to the lower column
    candidates = tf.reshape(tf.gather(chunks, best, batch_dims=1), [rows, -1])
    values, at = tf.math.top_k(candidates, k)
    chunk = tf.gather(best, at // TOP_K_CHUNK, batch_dims=1)
    return values, chunk * TOP_K_CHUNK + at % TOP_K_CHUNK


def _bucket(count: int) -> int:
    """The power of two at or above ``count`` (at least 1024): the padded number of seen pairs."""
    return max(1024, 1 << max(count - 1, 0).bit_length())
