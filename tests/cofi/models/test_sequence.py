"""The sequence-neighbour graph and its term in the top-N order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cofi
from cofi.data.matrices import IndexMap, RatingTriples
from cofi.errors import CofiError
from cofi.models.config import TrainConfig
from cofi.models.fitting import fit_triples
from cofi.models.scoring import blend_with_neighbours
from cofi.models.sequence import build_sequence_graph, neighbour_scores


def _triples(movie, user, n_movies, n_users) -> RatingTriples:
    movie, user = np.asarray(movie, np.int32), np.asarray(user, np.int32)
    return RatingTriples(movie, user, np.ones(len(movie), np.float32), n_movies, n_users)


def test_the_graph_of_consecutive_ratings_by_hand() -> None:
    # User 0 rates movies 0, 1, 2 at times 1, 2, 3; user 1 rates 2 at time 5 and 1 at time 4.
    # Edges: 0-1 once, 1-2 twice. Ratings per movie n = (1, 2, 2), so n + 1 = (2, 3, 3):
    # T_01 = 1 / sqrt(2 * 3), T_12 = 2 / sqrt(3 * 3).
    triples = _triples([0, 1, 2, 2, 1], [0, 0, 0, 1, 1], 3, 2)
    graph = build_sequence_graph(triples, np.array([1, 2, 3, 5, 4]))
    expected = np.zeros((3, 3))
    expected[0, 1] = expected[1, 0] = 1 / np.sqrt(6)
    expected[1, 2] = expected[2, 1] = 2 / 3
    np.testing.assert_allclose(graph.matrix().toarray(), expected, rtol=1e-6)
    assert graph.check(3) is None


def test_time_orders_the_edges_not_the_rows() -> None:
    rng = np.random.default_rng(0)
    movie = rng.integers(0, 30, 400)
    user = rng.integers(0, 20, 400)
    keep = ~pd.DataFrame({"m": movie, "u": user}).duplicated().to_numpy()
    movie, user = movie[keep], user[keep]
    times = rng.permutation(len(movie))
    graph = build_sequence_graph(_triples(movie, user, 30, 20), times)
    shuffled = rng.permutation(len(movie))
    again = build_sequence_graph(_triples(movie[shuffled], user[shuffled], 30, 20), times[shuffled])
    np.testing.assert_array_equal(graph.matrix().toarray(), again.matrix().toarray())
    other_times = build_sequence_graph(_triples(movie, user, 30, 20), -times)
    # Reversed time gives the same consecutive pairs, hence the same symmetric graph ...
    np.testing.assert_array_equal(graph.matrix().toarray(), other_times.matrix().toarray())
    shifted = build_sequence_graph(_triples(movie, user, 30, 20), rng.permutation(len(movie)))
    # ... and another order gives other pairs.
    assert not np.array_equal(graph.matrix().toarray(), shifted.matrix().toarray())


def test_each_movie_keeps_its_heaviest_neighbours() -> None:
    # Movie 0 follows movie 1 for three users, movie 2 for two, movie 3 for one; 1, 2, 3 are
    # rated three times each.
    movie, user, time = [], [], []
    for u, before in enumerate([1, 1, 1, 2, 2, 3]):
        movie += [before, 0]
        user += [u, u]
        time += [0, 1]
    for u, m in enumerate([2, 3, 3], start=6):  # more ratings of 2 and 3, so n = 3 for each
        movie.append(m)
        user.append(u)
        time.append(0)
    triples = _triples(movie, user, 4, 9)
    full = build_sequence_graph(triples, np.array(time)).matrix().toarray()
    cut = build_sequence_graph(triples, np.array(time), max_neighbours=2).matrix().toarray()
    # n + 1 = (7, 4, 4, 4): T_0 = (0, 3, 2, 1) / sqrt(7 * 4).
    np.testing.assert_allclose(full[0], np.array([0, 3, 2, 1]) / np.sqrt(28), rtol=1e-6)
    np.testing.assert_array_equal(cut[0], [0, full[0, 1], full[0, 2], 0])  # 3 dropped
    np.testing.assert_array_equal(cut[1:], full[1:])  # rows with fewer neighbours are whole


def test_neighbour_scores_sum_the_rows_of_a_users_movies() -> None:
    triples = _triples([0, 1, 2, 2, 1], [0, 0, 0, 1, 1], 3, 2)
    graph = build_sequence_graph(triples, np.array([1, 2, 3, 5, 4]))
    T = graph.matrix().toarray()
    scores = neighbour_scores(graph, np.array([0, 0, 1]), np.array([0, 2, 1]), 2)
    np.testing.assert_allclose(scores, np.stack([T[0] + T[2], T[1]]), rtol=1e-6)


def test_blend_z_scores_each_row_over_its_candidates() -> None:
    scores = np.array([[1.0, 2.0, -np.inf, 3.0], [5.0, 5.0, 5.0, -np.inf]], np.float32)
    neighbours = np.array([[0.0, 1.0, 9.0, 0.5], [0.0, 2.0, 4.0, 7.0]], np.float32)
    blended = blend_with_neighbours(scores, neighbours, 0.5).numpy()
    expected = np.full_like(scores, -np.inf)
    for row in range(2):
        ok = np.isfinite(scores[row])
        s, q = scores[row, ok], neighbours[row, ok]
        zs = (s - s.mean()) / s.std() if s.std() > 0 else np.zeros_like(s)
        expected[row, ok] = zs + 0.5 * (q - q.mean()) / q.std()
    np.testing.assert_allclose(blended, expected, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    movie, user = np.nonzero(rng.random((60, 40)) < 0.25)
    return pd.DataFrame(
        {
            "user_id": user + 1,
            "movie_id": movie * 2 + 5,
            "rating": rng.integers(1, 6, len(movie)).astype(float),
            "timestamp": pd.to_datetime(rng.integers(0, 10**8, len(movie)), unit="s", utc=True),
        }
    )


@pytest.fixture(scope="module")
def model(ratings) -> cofi.Model:
    return cofi.fit(ratings, objective="ials", n_features=4, iterations=30, seed=0)


def _reference_lists(model: cofi.Model, n: int) -> dict[int, list[int]]:
    """Top n by ``z(W X^T) + weight * z(R T)`` over each user's unseen movies, in NumPy."""
    assert model.sequence is not None
    T = model.sequence.matrix().toarray()
    lists = {}
    for position, user in enumerate(model.users.ids):
        seen = model.seen_movies[model.seen_indptr[position] : model.seen_indptr[position + 1]]
        s = (model.X @ model.W[position]).astype(np.float64)
        q = T[seen].sum(axis=0)
        ok = np.ones(model.n_movies, bool)
        ok[seen] = False
        z = np.full(model.n_movies, -np.inf)
        z[ok] = (s[ok] - s[ok].mean()) / s[ok].std() + model.config.sequence_weight * (
            q[ok] - q[ok].mean()
        ) / q[ok].std()
        lists[int(user)] = model.movies.ids[np.argsort(-z, kind="stable")[:n]].tolist()
    return lists


def test_ials_lists_are_ordered_by_the_blend(model) -> None:
    assert model.config.sequence_weight == 0.2  # ials's default
    assert model.sequence is not None
    table = model.recommend(n=5)
    expected = _reference_lists(model, 5)
    got = table.groupby("user_id")["movie_id"].apply(list).to_dict()
    assert got == expected
    assert not table["fallback"].any()


def test_without_timestamps_or_with_weight_0_the_list_is_the_models_own(ratings, model) -> None:
    plain = cofi.fit(
        ratings.drop(columns="timestamp"), objective="ials", n_features=4, iterations=30, seed=0
    )
    assert plain.sequence is None
    np.testing.assert_array_equal(plain.X, model.X)  # training does not use the timestamps
    off = cofi.fit(
        ratings, objective="ials", n_features=4, iterations=30, seed=0, sequence_weight=0.0
    )
    assert off.sequence is None
    pd.testing.assert_frame_equal(plain.recommend(n=5), off.recommend(n=5))
    assert not model.recommend(n=5)["movie_id"].equals(plain.recommend(n=5)["movie_id"])


def test_the_graph_is_saved_checked_and_loaded(model, tmp_path) -> None:
    saved = model.save(tmp_path / "model")
    loaded = cofi.load_model(saved)
    assert loaded.model_id == model.model_id
    np.testing.assert_array_equal(loaded.sequence.values, model.sequence.values)
    pd.testing.assert_frame_equal(loaded.recommend(n=5), model.recommend(n=5))

    with np.load(saved / "arrays.npz") as stored:
        data = {name: stored[name] for name in stored.files}
    np.savez(saved / "arrays.npz", **{**data, "sequence_values": data["sequence_values"] * 2})
    with pytest.raises(CofiError, match="changed or damaged"):
        cofi.load_model(saved)
    np.savez(saved / "arrays.npz", **{**data, "sequence_indices": data["sequence_indices"] + 999})
    with pytest.raises(CofiError, match="sequence_indices names movie rows outside"):
        cofi.load_model(saved)
    del data["sequence_values"]
    np.savez(saved / "arrays.npz", **data)
    with pytest.raises(CofiError, match=r"lacks array\(s\) \['sequence_values'\]"):
        cofi.load_model(saved)


def test_blocks_and_an_empty_graph_do_not_change_the_lists(model) -> None:
    whole = model.recommend(n=5)
    blocks = pd.concat(list(model.iter_recommendations(n=5, block_users=7)), ignore_index=True)
    pd.testing.assert_frame_equal(blocks, whole)
    # No consecutive pairs (every user rated once): no edges, and the list is the model's own.
    lone = build_sequence_graph(_triples([0, 1, 2], [0, 1, 2], 3, 3), np.array([5, 6, 7]))
    assert len(lone.values) == 0 and lone.check(3) is None


def test_only_ranking_objectives_take_the_term(ratings) -> None:
    with pytest.raises(CofiError, match="objective 'biased' predicts ratings"):
        cofi.fit(ratings, objective="biased", iterations=2, sequence_weight=0.2)
    # a config made by hand, not through make_config, is refused by the fit itself
    config = TrainConfig(objective="biased", iterations=2, sequence_weight=0.2)
    triples = _triples([0, 1, 1], [0, 0, 1], 2, 2)
    maps = IndexMap.from_ids(np.arange(2)), IndexMap.from_ids(np.arange(2))
    with pytest.raises(CofiError, match="objective 'biased' predicts ratings"):
        fit_triples(triples, *maps, config, scale=cofi.RatingScale(1.0, 5.0, 1.0))


@pytest.mark.parametrize(
    "timestamps, message",
    [
        (lambda t: t.where(t.index != 7), r"1 row\(s\) have no timestamp, the first at row 7"),
        (lambda t: t.astype(str), "timestamp must be datetime64 or integer seconds"),
    ],
)
def test_bad_timestamps_are_named(ratings, timestamps, message) -> None:
    bad = ratings.assign(timestamp=timestamps(ratings["timestamp"]))
    with pytest.raises(CofiError, match=message):
        cofi.fit(bad, objective="ials", n_features=2, iterations=2)


def test_whole_float_seconds_order_like_integers(ratings, model) -> None:
    seconds = ratings["timestamp"].astype("int64") // 10**9
    as_float = cofi.fit(
        ratings.assign(timestamp=seconds.astype(float)),
        objective="ials", n_features=4, iterations=30, seed=0,
    )  # fmt: skip
    np.testing.assert_array_equal(as_float.sequence.values, model.sequence.values)


def test_a_folded_in_user_is_listed_with_the_graph(model, ratings) -> None:
    new = pd.DataFrame({"user_id": [999] * 4, "movie_id": [5, 7, 9, 11], "rating": 4.0})
    folded = model.fold_in(new)
    assert folded.sequence is model.sequence
    got = folded.recommend([999], n=5)["movie_id"].tolist()
    assert got == _reference_lists(folded, 5)[999]
