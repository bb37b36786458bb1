r"""Sequence neighbours: movies that users rated one after the other, a term of the ranking list.

Each user's training ratings, in time order (ties by movie row), give one edge per pair of
consecutive ratings. The graph ``T`` counts those edges in both directions, each count divided by
``sqrt((n_a + 1)(n_b + 1))`` (``n`` the movies' training ratings, so that the most rated movies
do not neighbour everything), and keeps each movie's ``max_neighbours`` heaviest edges. A user's
neighbour score of movie i is ``sum_{k rated by the user} T_ki``.

The ranking list orders a user's candidates by ``z(s) + weight * z(q)``: ``s`` the model's
scores, ``q`` the neighbour scores, each z-scored over the user's candidates (mean 0, standard
deviation 1), so that ``weight`` is a share and not a scale. A factor model scores what a user's
whole history says; the graph adds what the user rated in the same breath, a local signal a
low-rank model spreads thin. On validation ratings carved from the training part (two split
seeds) it raised ml-latest-small's P@10 by 0.0045 and 0.0047, and ML-100K's by 0.0000 and
0.0038 (benchmarks/choose_ranking.py).

Nothing of size users x movies is built: the graph holds at most ``2 * n_ratings`` edges before
the cut and ``n_movies * max_neighbours`` after; scoring sums, for one block of users at a time,
the graph rows of their rated movies. That costs: on 25M synthetic ratings the graph took 41 s
and 1.6 GB to build, and the lists of 20,000 of its users 29.1 s instead of 1.9 s, so
``ials`` turns the term off from 10M ratings (its large-data defaults).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from cofi.data.matrices import RatingTriples, concatenated_ranges

#: Edges kept per movie: bounds the graph, and a block's scoring cost, at ML-25M's size.
MAX_NEIGHBOURS = 200


@dataclass(frozen=True)
class SequenceGraph:
    """Movie-to-movie weights as CSR arrays over the model's movie rows.

    Attributes:
        indptr: (n_movies + 1,) int64 row pointers.
        indices: (n_edges,) int32 neighbour movie rows, increasing within a row.
        values: (n_edges,) float32 weights, positive.
    """

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray

    @property
    def n_movies(self) -> int:
        return len(self.indptr) - 1

    def matrix(self) -> sp.csr_matrix:
        return sp.csr_matrix(
            (self.values, self.indices, self.indptr), shape=(self.n_movies, self.n_movies)
        )

    def check(self, n_movies: int) -> str | None:
        """What is wrong with the arrays for a model of ``n_movies`` movies, or None."""
        indptr, indices, values = self.indptr, self.indices, self.values
        if len(indptr) != n_movies + 1 or indptr[0] != 0 or indptr[-1] != len(indices):
            return "sequence_indptr is not a CSR index over sequence_indices"
        if (np.diff(indptr) < 0).any() or len(values) != len(indices):
            return "sequence_indptr is not a CSR index over sequence_indices"
        if len(indices) and (indices.min() < 0 or indices.max() >= n_movies):
            return f"sequence_indices names movie rows outside [0, {n_movies})"
        if not np.isfinite(values).all() or (values <= 0).any():
            return "sequence_values must be finite and positive"
        return None


def build_sequence_graph(
    triples: RatingTriples, timestamps: np.ndarray, max_neighbours: int = MAX_NEIGHBOURS
) -> SequenceGraph:
    """The graph of consecutive ratings in each user's time order (see the module docstring).

    Args:
        triples: the training ratings, in matrix coordinates.
        timestamps: (n_ratings,) integers (any unit) aligned with ``triples``; only their order
            within a user matters.
        max_neighbours: edges kept per movie, the heaviest (ties: the lower movie row).
    """
    if len(timestamps) != len(triples):
        raise ValueError(f"{len(timestamps)} timestamps for {len(triples)} ratings")
    n_movies = triples.n_movies
    order = np.lexsort((triples.movie_index, np.asarray(timestamps), triples.user_index))
    movies, users = triples.movie_index[order].astype(np.int64), triples.user_index[order]
    same = users[1:] == users[:-1]
    before, after = movies[:-1][same], movies[1:][same]
    del order, movies, users, same
    # Each edge in both directions as one int64 key, row-major: unique keys are CSR order.
    keys, counts = np.unique(
        np.concatenate([before * n_movies + after, after * n_movies + before]), return_counts=True
    )
    del before, after
    rows, columns = keys // n_movies, (keys % n_movies).astype(np.int32)
    del keys
    n = np.bincount(triples.movie_index, minlength=n_movies).astype(np.float64) + 1.0
    weights = (counts / np.sqrt(n[rows] * n[columns])).astype(np.float32)
    # Rows with more than max_neighbours edges keep their heaviest: a stable sort by weight
    # within the row keeps ties in column order.
    keep = np.ones(len(rows), dtype=bool)
    heavy = np.flatnonzero(np.bincount(rows, minlength=n_movies)[rows] > max_neighbours)
    if len(heavy):
        by_weight = heavy[np.lexsort((-weights[heavy], rows[heavy]))]
        heavy_rows = rows[by_weight]
        rank = np.arange(len(by_weight)) - np.searchsorted(heavy_rows, heavy_rows)
        keep[by_weight[rank >= max_neighbours]] = False
    indptr = np.zeros(n_movies + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[keep], minlength=n_movies), out=indptr[1:])
    return SequenceGraph(indptr, columns[keep], weights[keep])


def neighbour_scores(
    graph: SequenceGraph, rows: np.ndarray, columns: np.ndarray, n_rows: int, width: int = 0
) -> np.ndarray:
    """(n_rows, width) float32: each row's ``sum_k T_k`` over its rated movies ``k``, given as
    the pairs ``(rows[e], columns[e])`` (a block of users' seen movies). ``width`` (at least
    ``n_movies``, the default) pads the columns with zeros."""
    width = max(width, graph.n_movies)
    starts, ends = graph.indptr[columns], graph.indptr[columns + 1]
    edges = concatenated_ranges(starts, ends)
    cells = np.repeat(rows.astype(np.int64) * width, ends - starts) + graph.indices[edges]
    summed = np.bincount(cells, weights=graph.values[edges], minlength=n_rows * width)
    return summed.astype(np.float32).reshape(n_rows, width)
