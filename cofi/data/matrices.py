"""Index maps, the lab's dense Y/R matrices, their sparse (triples) form, and mean normalization.

Orientation is the lab's throughout: rows are movies, columns are users.
``Y: (n_movies, n_users)`` holds ratings, ``R: (n_movies, n_users)`` is 1 where a rating exists.
The sparse form holds only the observed ratings as parallel arrays
``movie_index: (n_ratings,)``, ``user_index: (n_ratings,)``, ``rating: (n_ratings,)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cofi.data.schema import require_columns
from cofi.errors import CofiError

#: Above this many cells (n_movies * n_users) the dense form is not built unless asked for.
DENSE_CELL_LIMIT = 20_000_000


#: Ids from 0 up to this are mapped through tables (a mask, a lookup) of that length, not by
#: sorting and binary search: at 22.5M ratings 0.1 s instead of 0.8 s (distinct ids) and 2 s
#: (positions). MovieLens ids are small integers.
TABLE_IDS = 1 << 24


def _distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values (int64) of an integer array."""
    if values.size and 0 <= values.min() and values.max() < TABLE_IDS:
        present = np.zeros(int(values.max()) + 1, dtype=bool)
        present[values] = True
        return np.flatnonzero(present).astype(np.int64)
    return np.unique(values.astype(np.int64))


@dataclass(frozen=True)
class IndexMap:
    """A stable, sorted map between external ids and matrix positions.

    ``ids[position]`` is the external id; ``position_of(ids)`` inverts it. Sorting makes the map
    depend only on the set of ids, so it is the same across runs, splits and machines.
    """

    ids: np.ndarray  # (n,) int32, strictly increasing

    @classmethod
    def from_ids(cls, ids: np.ndarray | pd.Series) -> IndexMap:
        """The map of the distinct ``ids``; they must be integers that fit in int32."""
        values = np.asarray(ids)
        if values.size and not np.issubdtype(values.dtype, np.integer):
            examples = values.reshape(-1)[:3].tolist()
            raise CofiError(f"ids must be integers, got dtype {values.dtype} (e.g. {examples})")
        unique = _distinct(values.reshape(-1))
        if unique.size and (
            unique[0] < np.iinfo(np.int32).min or unique[-1] > np.iinfo(np.int32).max
        ):
            raise CofiError(
                f"ids must fit in int32; found {unique[0] if unique[0] < 0 else unique[-1]}"
            )
        return cls(unique.astype(np.int32))

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def position_of(self, ids: np.ndarray | pd.Series | list[int]) -> np.ndarray:
        """Positions of ``ids`` (int64 array); -1 where an id is not in the map.

        An id too large for int64 is not in the map either (its ids fit in int32).
        """
        try:
            query = np.asarray(ids, dtype=np.int64)
        except OverflowError:
            values = np.asarray(ids, dtype=object)
            low, high = np.iinfo(np.int64).min, np.iinfo(np.int64).max
            fits = np.vectorize(lambda value: low <= int(value) <= high, otypes=[bool])(values)
            positions = np.full(values.shape, -1, dtype=np.int64)
            positions[fits] = self.position_of(values[fits].astype(np.int64))
            return positions
        if len(self) == 0:
            return np.full(query.shape, -1, dtype=np.int64)
        if 0 <= self.ids[0] and self.ids[-1] < TABLE_IDS and query.size > len(self):
            # a table of every id up to the largest: one gather instead of a binary search
            table = np.full(int(self.ids[-1]) + 1, -1, dtype=np.int64)
            table[self.ids] = np.arange(len(self))
            inside = (query >= 0) & (query <= self.ids[-1])
            return np.where(inside, table[np.where(inside, query, 0)], -1)
        position = np.searchsorted(self.ids, query)
        position = np.minimum(position, len(self) - 1)
        found = self.ids[position] == query
        return np.where(found, position, -1).astype(np.int64)


@dataclass(frozen=True)
class RatingTriples:
    """Observed ratings in matrix coordinates: the sparse form of Y and R.

    Attributes:
        movie_index: (n_ratings,) int32 row of each rating.
        user_index: (n_ratings,) int32 column of each rating.
        rating: (n_ratings,) float32 rating value.
        n_movies: number of rows of the matrix the triples index into.
        n_users: number of columns.
    """

    movie_index: np.ndarray
    user_index: np.ndarray
    rating: np.ndarray
    n_movies: int
    n_users: int

    def __post_init__(self) -> None:
        n = self.rating.shape[0]
        for name in ("movie_index", "user_index", "rating"):
            array = getattr(self, name)
            if array.ndim != 1 or array.shape[0] != n:
                raise ValueError(f"{name} must have shape ({n},), got {array.shape}")
        if n and (self.movie_index.min() < 0 or self.movie_index.max() >= self.n_movies):
            raise ValueError(f"movie_index must lie in [0, {self.n_movies})")
        if n and (self.user_index.min() < 0 or self.user_index.max() >= self.n_users):
            raise ValueError(f"user_index must lie in [0, {self.n_users})")

    def __len__(self) -> int:
        return int(self.rating.shape[0])

    def to_dense(self, dtype: np.dtype | type = np.float32) -> tuple[np.ndarray, np.ndarray]:
        """The lab's ``Y, R``, each ``(n_movies, n_users)``. Small data only."""
        cells = self.n_movies * self.n_users
        if cells > DENSE_CELL_LIMIT * 10:
            raise CofiError(
                f"dense Y/R would hold {cells:,} cells ({self.n_movies:,} movies x "
                f"{self.n_users:,} users); use the sparse form for data of this size"
            )
        Y = np.zeros((self.n_movies, self.n_users), dtype=dtype)
        R = np.zeros((self.n_movies, self.n_users), dtype=dtype)
        Y[self.movie_index, self.user_index] = self.rating
        R[self.movie_index, self.user_index] = 1
        return Y, R


def build_triples(
    ratings: pd.DataFrame, movies: IndexMap | None = None, users: IndexMap | None = None
) -> tuple[RatingTriples, IndexMap, IndexMap]:
    """Map a ratings table (``user_id``, ``movie_id``, ``rating``) onto matrix coordinates.

    Args:
        ratings: one row per rating; other columns are ignored.
        movies: the movie index; by default the sorted movie ids of ``ratings``.
        users: the user index; by default the sorted user ids of ``ratings``.

    Returns:
        ``(triples, movies, users)``.

    Raises:
        CofiError: a column is missing, or a rating names a user or movie outside the given maps.
    """
    require_columns(ratings, ("user_id", "movie_id", "rating"), "ratings table")
    movies = movies if movies is not None else IndexMap.from_ids(ratings["movie_id"])
    users = users if users is not None else IndexMap.from_ids(ratings["user_id"])
    movie_index = movies.position_of(ratings["movie_id"])
    user_index = users.position_of(ratings["user_id"])
    for name, index, column in (
        ("movie", movie_index, "movie_id"),
        ("user", user_index, "user_id"),
    ):
        if (index < 0).any():
            unknown = ratings[column].to_numpy()[index < 0]
            raise CofiError(
                f"{len(unknown)} rating(s) name a {name} id not in the index, "
                f"e.g. {unknown[:5].tolist()}"
            )
    triples = RatingTriples(
        movie_index.astype(np.int32),
        user_index.astype(np.int32),
        ratings["rating"].to_numpy(np.float32),
        len(movies),
        len(users),
    )
    return triples, movies, users


def normalize_ratings(Y: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Subtract each movie's mean rating over its rated entries, as in the lab.

    Args:
        Y: (n_movies, n_users) ratings; entries where ``R == 0`` are ignored.
        R: (n_movies, n_users) 1 where user j rated movie i, else 0.

    Returns:
        ``(Ynorm, Ymean)``: ``Ymean`` is (n_movies, 1) with the per-movie mean over rated entries
        (0 for a movie with no ratings) and ``Ynorm = Y - Ymean * R``.
    """
    Y = np.asarray(Y)
    R = np.asarray(R)
    if Y.ndim != 2 or Y.shape != R.shape:
        raise ValueError(
            f"Y and R must both be (n_movies, n_users); got Y {Y.shape} and R {R.shape}"
        )
    counts = R.sum(axis=1, keepdims=True)
    totals = (Y * R).sum(axis=1, keepdims=True)
    Ymean = np.divide(
        totals,
        counts,
        out=np.zeros_like(totals, dtype=np.result_type(Y, np.float32)),
        where=counts > 0,
    )
    Ymean = Ymean.astype(np.result_type(Y.dtype, np.float32))
    Ynorm = Y - Ymean * R
    return Ynorm, Ymean


def normalize_triples(triples: RatingTriples) -> tuple[RatingTriples, np.ndarray]:
    """The sparse form of :func:`normalize_ratings`.

    Returns:
        ``(normalized, movie_mean)``: ``movie_mean`` is (n_movies,) float32, 0 for unrated movies;
        ``normalized.rating = rating - movie_mean[movie_index]``.
    """
    counts = np.bincount(triples.movie_index, minlength=triples.n_movies)
    totals = np.bincount(
        triples.movie_index, weights=triples.rating.astype(np.float64), minlength=triples.n_movies
    )
    movie_mean = np.divide(totals, counts, out=np.zeros(triples.n_movies), where=counts > 0)
    normalized = RatingTriples(
        triples.movie_index,
        triples.user_index,
        (triples.rating - movie_mean[triples.movie_index]).astype(np.float32),
        triples.n_movies,
        triples.n_users,
    )
    return normalized, movie_mean.astype(np.float32)


def matrix_summary(triples: RatingTriples) -> dict:
    """Shape and density of the rating matrices, and what the dense form would cost."""
    cells = triples.n_movies * triples.n_users
    return {
        "n_movies": triples.n_movies,
        "n_users": triples.n_users,
        "n_ratings": len(triples),
        "density": len(triples) / cells if cells else 0.0,
        "dense_bytes": 4 * cells,
        "rated_movies": int(
            np.count_nonzero(np.bincount(triples.movie_index, minlength=triples.n_movies))
        ),
    }


def concatenated_ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, e) for s, e in zip(starts, ends)])`` without a Python loop."""
    lengths = ends - starts
    total = int(lengths.sum())
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return offsets + np.arange(total)
