r"""Baselines that are not cost functions: EASE (Steck 2019), in closed form.

EASE ("Embarrassingly Shallow Autoencoders for Sparse Data") learns a movie x movie weight
matrix ``B`` with a zero diagonal that reconstructs each user's binary row of rated movies
``x_u: (n_movies,)`` from the other movies:

.. math::

    \min_B \lVert X - X B \rVert_F^2 + \lambda \lVert B \rVert_F^2
    \quad \text{s.t.} \ \operatorname{diag}(B) = 0,
    \qquad P = (X^T X + \lambda I)^{-1}, \quad B_{ij} = -P_{ij} / P_{jj} \ (i \ne j)

A user's scores are ``x_u B``. The inverse is dense, ``n_movies^2`` float64 numbers, a few copies
of them at once, so catalogs above :data:`MAX_EASE_MOVIES` are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cofi.data.checks import check_ratings
from cofi.data.matrices import IndexMap
from cofi.errors import CofiError

#: Largest catalog EASE is fitted for: the Gramian, its inverse and ``B`` are then 3.2 GB each.
MAX_EASE_MOVIES = 20_000
#: lambda chosen on validation ratings carved from the training part of ML-100K and
#: ml-latest-small (benchmarks/choose_ranking.py).
DEFAULT_EASE_LAMBDA = 500.0
#: Users whose rows are scored (and accumulated into the Gramian) at once.
BLOCK_USERS = 2048


@dataclass(frozen=True)
class EASEModel:
    """A fitted EASE model.

    Attributes:
        movies: the movie index (positions of ``weights``' rows and columns).
        users: the users of the training ratings.
        weights: (n_movies, n_movies) ``B``, zero diagonal.
        seen_indptr: (n_users + 1,) CSR row pointers of the movies each user rated.
        seen_movies: (n_ratings,) movie positions, grouped by user.
        lambda_: the L2 weight it was fitted with.
    """

    movies: IndexMap
    users: IndexMap
    weights: np.ndarray
    seen_indptr: np.ndarray
    seen_movies: np.ndarray
    lambda_: float

    def _rows(self, positions: np.ndarray) -> np.ndarray:
        """(len(positions), n_movies) binary rows of rated movies."""
        starts, ends = self.seen_indptr[positions], self.seen_indptr[positions + 1]
        lengths = ends - starts
        within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        rows = np.zeros((len(positions), len(self.movies)), dtype=np.float64)
        rows[
            np.repeat(np.arange(len(positions)), lengths),
            self.seen_movies[np.repeat(starts, lengths) + within],
        ] = 1.0
        return rows

    def recommend(self, user_ids=None, n: int = 10) -> pd.DataFrame:
        """Top-``n`` movies each user has not rated, by ``x_u B`` (ties to the lower movie id).

        Args:
            user_ids: users to recommend for (default: every training user); ids not in
                training are skipped.
            n: list length; a user with fewer unrated movies gets a shorter list.

        Returns:
            ``user_id``, ``rank`` (1..n), ``movie_id``, ``score``, in the order of
            ``user_ids``, then by rank: the columns of ``Model.recommend`` but ``score`` (EASE
            scores are not ratings) for ``predicted_rating`` and ``fallback``.
        """
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        if user_ids is None:
            ids = self.users.ids.astype(np.int64)
        else:
            ids = np.asarray(user_ids).reshape(-1).astype(np.int64)
            _, first = np.unique(ids, return_index=True)
            ids = ids[np.sort(first)]
        positions = self.users.position_of(ids)
        ids, positions = ids[positions >= 0], positions[positions >= 0]
        k = min(n, len(self.movies))
        tables = []
        for start in range(0, len(positions), BLOCK_USERS):
            block = positions[start : start + BLOCK_USERS]
            rows = self._rows(block)
            scores = rows @ self.weights
            scores[rows > 0] = -np.inf
            # A stable sort of the negated scores keeps equal scores in movie-id order.
            top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            top_scores = np.take_along_axis(scores, top, axis=1)
            valid = np.isfinite(top_scores)
            tables.append(
                pd.DataFrame(
                    {
                        "user_id": np.repeat(ids[start : start + BLOCK_USERS], k)
                        .reshape(len(block), k)[valid]
                        .astype(np.int32),
                        "rank": np.tile(np.arange(1, k + 1, dtype=np.int16), (len(block), 1))[
                            valid
                        ],
                        "movie_id": self.movies.ids[top[valid]].astype(np.int32),
                        "score": top_scores[valid].astype(np.float32),
                    }
                )
            )
        if not tables:
            return pd.DataFrame(
                {
                    "user_id": np.array([], np.int32),
                    "rank": np.array([], np.int16),
                    "movie_id": np.array([], np.int32),
                    "score": np.array([], np.float32),
                }
            )
        return pd.concat(tables, ignore_index=True)


def fit_ease(
    ratings: pd.DataFrame,
    lambda_: float = DEFAULT_EASE_LAMBDA,
    *,
    max_movies: int = MAX_EASE_MOVIES,
) -> EASEModel:
    """EASE's closed form on which movies each user rated (the rating values are not used).

    Args:
        ratings: ``user_id``, ``movie_id``, ``rating``; one row per (user, movie).
        lambda_: the L2 weight, > 0.
        max_movies: refuse catalogs with more movies than this.

    Returns:
        The fitted :class:`EASEModel`.

    Raises:
        CofiError: bad ratings, ``lambda_ <= 0``, or more than ``max_movies`` movies.
    """
    check_ratings(ratings, "to fit EASE on")
    if not lambda_ > 0:
        raise CofiError(f"EASE's lambda_ must be positive, got {lambda_}")
    movies = IndexMap.from_ids(ratings["movie_id"].to_numpy())
    if len(movies) > max_movies:
        gigabytes = len(movies) ** 2 * 8 / 1e9
        raise CofiError(
            f"EASE inverts a dense movies x movies matrix: {len(movies):,} movies would need "
            f"{gigabytes:,.1f} GB per copy; it is fitted for at most {max_movies:,} movies"
        )
    users = IndexMap.from_ids(ratings["user_id"].to_numpy())
    user_index = users.position_of(ratings["user_id"].to_numpy())
    movie_index = movies.position_of(ratings["movie_id"].to_numpy())
    order = np.argsort(user_index, kind="stable")
    indptr = np.zeros(len(users) + 1, dtype=np.int64)
    np.cumsum(np.bincount(user_index, minlength=len(users)), out=indptr[1:])
    seen = movie_index[order].astype(np.int32)
    model = EASEModel(movies, users, np.empty((0, 0)), indptr, seen, float(lambda_))
    gram = np.zeros((len(movies), len(movies)), dtype=np.float64)
    for start in range(0, len(users), BLOCK_USERS):
        rows = model._rows(np.arange(start, min(start + BLOCK_USERS, len(users))))
        gram += rows.T @ rows
    gram[np.diag_indices_from(gram)] += lambda_
    weights = np.linalg.inv(gram)
    del gram
    weights /= -np.diag(weights)[None, :]
    np.fill_diagonal(weights, 0.0)
    return EASEModel(movies, users, weights, indptr, seen, float(lambda_))
