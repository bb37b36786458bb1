"""The chunked top k of :mod:`cofi.models.scoring` against ``tf.math.top_k``."""

from __future__ import annotations

import numpy as np
import pytest

from cofi.models.scoring import TOP_K_CHUNK, _bucket, padded_movies, top_k


@pytest.mark.parametrize(
    ("n_chunks", "k"), [(1, 1), (1, 5), (3, 10), (40, 10), (40, 64), (16, 100)]
)
def test_top_k_matches_tensorflow_with_ties_and_minus_infinity(n_chunks: int, k: int) -> None:
    import tensorflow as tf

    rng = np.random.default_rng(n_chunks * 1000 + k)
    width = n_chunks * TOP_K_CHUNK
    # few distinct values, so that ties cross chunks; masked scores and whole masked rows
    scores = rng.integers(0, 12, (7, width)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.3] = -np.inf
    scores[2] = -np.inf
    scores[3, : width // 2] = 50.0  # a top k entirely inside the first chunks
    k = min(k, width)
    values, columns = top_k(tf.constant(scores), k)
    expected_values, expected_columns = tf.math.top_k(tf.constant(scores), k)
    np.testing.assert_array_equal(values.numpy(), expected_values.numpy())
    finite = np.isfinite(expected_values.numpy())
    np.testing.assert_array_equal(columns.numpy()[finite], expected_columns.numpy()[finite])


def test_top_k_picks_the_best_scores_of_one_chunk() -> None:
    import tensorflow as tf

    scores = np.zeros((1, 4 * TOP_K_CHUNK), dtype=np.float32)
    scores[0, 2 * TOP_K_CHUNK + 3 : 2 * TOP_K_CHUNK + 8] = [5, 4, 3, 2, 1]
    values, columns = top_k(tf.constant(scores), 5)
    assert values.numpy().tolist() == [[5, 4, 3, 2, 1]]
    assert columns.numpy().tolist() == [list(range(2 * TOP_K_CHUNK + 3, 2 * TOP_K_CHUNK + 8))]


@pytest.mark.parametrize("n_movies", [1, TOP_K_CHUNK - 1, TOP_K_CHUNK, 1000])
def test_padded_movies_fill_whole_chunks_with_at_least_one_unpickable_movie(
    n_movies: int,
) -> None:
    padded_X, term = padded_movies(np.ones((n_movies, 3), np.float32), np.zeros(n_movies))
    assert padded_X.shape[0] % TOP_K_CHUNK == 0 and padded_X.shape[0] > n_movies
    assert padded_X.shape[0] - n_movies <= TOP_K_CHUNK
    assert np.all(padded_X[n_movies:] == 0) and np.all(padded_X[:n_movies] == 1)
    assert np.all(np.isneginf(term[n_movies:])) and np.all(term[:n_movies] == 0)


def test_seen_pairs_are_padded_to_powers_of_two() -> None:
    assert [_bucket(n) for n in (0, 1, 1024, 1025, 5000)] == [1024, 1024, 1024, 2048, 8192]
